/*
 * test-bgwrite.c - the writer's second thread (bgwrite.h): pieces written in the order
 * given, on the helper thread, while the caller fills its other buffer; the first error
 * kept and every later piece dropped; the inline mode giving the same results; and the
 * image writer really writing its pieces on a thread of its own.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bgwrite.h"
#include "imgout-util.h"
#include "imgout.h"
#include "test.h"

#define PIECE 4096
#define NPIECES 9

/* A log of the pieces the write function saw; read by the test after a sync. */
typedef struct {
    unsigned char file[PIECE * NPIECES];
    uint64_t offs[NPIECES + 1];
    int calls, fail_at; /* fail_at: the call (1-based) that fails, 0: none */
    pthread_t caller;
    int other_thread; /* calls made off the caller's thread */
} sink_t;

static int sink_write(void *ud, const unsigned char *p, size_t n, uint64_t off)
{
    sink_t *s = ud;

    s->calls++;
    if (s->fail_at != 0 && s->calls == s->fail_at)
        return -ENOSPC;
    if (s->calls <= NPIECES)
        s->offs[s->calls - 1] = off;
    if (!pthread_equal(pthread_self(), s->caller))
        s->other_thread++;
    if (off + n <= sizeof s->file)
        memcpy(s->file + off, p, n);
    usleep(1000); /* the device: slower than filling the next piece */
    return 0;
}

/* run_pieces writes NPIECES pieces through two buffers, each piece filled with its index
 * while the other may still be written, as a double-buffering caller does. */
static int run_pieces(sink_t *s, bool threaded)
{
    unsigned char bufs[2][PIECE];
    ac_bgwrite_t *b;
    int rc = 0;

    s->caller = pthread_self();
    b = ac_bgwrite_new(sink_write, s, threaded);
    ASSERT_NOT_NULL(b);
    for (int i = 0; i < NPIECES && rc == 0; i++) {
        unsigned char *buf = bufs[i % 2];
        memset(buf, 'a' + i, PIECE);
        rc = ac_bgwrite_put(b, buf, PIECE, (uint64_t)i * PIECE);
    }
    if (rc == 0)
        rc = ac_bgwrite_sync(b);
    ac_bgwrite_free(b);
    return rc;
}

static void check_file(const sink_t *s)
{
    for (int i = 0; i < NPIECES; i++) {
        ASSERT_EQ(s->offs[i], (uint64_t)i * PIECE);
        for (int k = 0; k < PIECE; k += 511)
            ASSERT_EQ(s->file[i * PIECE + k], (unsigned char)('a' + i));
    }
}

TEST(bgwrite_pieces_in_order_on_the_helper_thread)
{
    static sink_t s;

    memset(&s, 0, sizeof s);
    ASSERT_OK(run_pieces(&s, true));
    ASSERT_EQ(s.calls, NPIECES);
    ASSERT_EQ(s.other_thread, NPIECES);
    check_file(&s); /* no piece overwritten while it was being written */
}

TEST(bgwrite_inline_gives_the_same_file)
{
    static sink_t s;

    memset(&s, 0, sizeof s);
    ASSERT_OK(run_pieces(&s, false));
    ASSERT_EQ(s.calls, NPIECES);
    ASSERT_EQ(s.other_thread, 0);
    check_file(&s);
}

TEST(bgwrite_first_error_kept_and_later_pieces_dropped)
{
    static sink_t s;

    for (int threaded = 0; threaded < 2; threaded++) {
        memset(&s, 0, sizeof s);
        s.fail_at = 3;
        ASSERT_EQ(run_pieces(&s, threaded != 0), -ENOSPC);
        /* Piece 3 failed; piece 4 may have been handed over before the failure was
         * known (it is then dropped by the put of piece 5 or the sync), never written. */
        ASSERT_EQ(s.calls, 3);
    }
}

static int hook_calls, hook_off_thread;
static pthread_t hook_caller;

static ssize_t count_threads(int fd, const void *buf, size_t n, off_t off)
{
    hook_calls++;
    if (!pthread_equal(pthread_self(), hook_caller))
        hook_off_thread++;
    return pwrite(fd, buf, n, off);
}

TEST(bgwrite_image_writer_writes_on_its_own_thread)
{
    const int w = 301, h = 157; /* 189 KB: many pieces of 4096 bytes */
    ac_imgout_opts_t o;
    ac_imgout_t *wr = NULL;
    ac_err_t e = {0};
    char sha[65];
    float *img = imgt_make_image(w, h);

    imgt_opts_small(&o); /* two buffers of 4096 bytes */
    hook_calls = hook_off_thread = 0;
    hook_caller = pthread_self();
    ac_imgout_set_pwrite_hook(count_threads);
    ASSERT_OK(ac_imgout_open("t.fits", w, h, NULL, 0, &o, &wr, &e));
    for (int y = 0; y < h; y += 10)
        ASSERT_OK(
            ac_imgout_write_rows(wr, img + (size_t)y * (size_t)w, h - y < 10 ? h - y : 10, &e));
    ASSERT_OK(ac_imgout_commit_hashed(wr, NULL, NULL, sha, sizeof sha, &e));
    ac_imgout_set_pwrite_hook(NULL);
    /* Every data piece but the last on the helper; the header block on the caller's. */
    ASSERT(hook_calls > 40);
    ASSERT(hook_off_thread >= hook_calls - 2);
    imgt_assert_reads_back("t.fits", img, w, h);
    free(img);
}
