/*
 * test-imgout.c - the float32 FITS writer: data read back exactly through cfitsio,
 * checksums verified by cfitsio and fitsverify, header order, atomic naming, error paths
 * (through the pwrite hook), the buffered fallback and the compressed path; the sequential
 * mode (byte-identical files, SHA-256 checked by sha256sum, the DATASUM check); cards
 * updated before commit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fitsio.h>
#include <float.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "imgout-util.h"
#include "imgout.h"
#include "test.h"
#include "tools.h"

TEST(imgout_roundtrip_exact_with_header)
{
    const int w = 37, h = 23;
    ac_imgout_opts_t o;
    ac_hdr_t hdr, extra;
    ac_err_t e = {0};
    char keys[64][9];
    size_t bytes = 0;
    float *img = imgt_make_image(w, h);
    int n;

    imgt_opts_small(&o);
    imgt_base_header(&hdr);
    ac_hdr_init(&extra);
    ASSERT_OK(ac_hdr_add_double(&extra, "QNOISE", 12.5, "noise"));
    ASSERT_OK(ac_hdr_add_double(&extra, "QSCORE", 0.9, NULL));
    /* 4 announced, 2 given: the unused slots stay blank. */
    ASSERT_OK(imgt_write_file("out.fits", w, h, img, &hdr, 4, &extra, &o, &bytes, &e));
    /* 6 structural + 4 kept caller cards + 4 extra + DATASUM, CHECKSUM, END = 17 cards. */
    ASSERT_EQ(bytes, imgt_fits_len(17, w, h));
    ASSERT_EQ(imgt_file_size("out.fits"), (off_t)imgt_fits_len(17, w, h));
    imgt_assert_reads_back("out.fits", img, w, h);
    ac_tools_fitsverify_clean("out.fits");
    n = imgt_read_keys("out.fits", 1, keys, 64);
    {
        const char *want[] = {"SIMPLE", "BITPIX", "NAXIS",   "NAXIS1",  "NAXIS2",
                              "EXTEND", "OBJECT", "EXPTIME", "HISTORY", "CALIBRAT",
                              "QNOISE", "QSCORE", "DATASUM", "CHECKSUM"};
        ASSERT_EQ(n, 14);
        for (int i = 0; i < n; i++)
            ASSERT_STR_EQ(keys[i], want[i]);
    }
    ASSERT_EQ(imgt_count_tmp("."), 0);
    free(img);
    ac_hdr_free(&hdr);
    ac_hdr_free(&extra);
}

TEST(imgout_many_buffer_boundaries)
{
    /* 301 x 157 x 4 = 189028 bytes of data: 23 buffers of 8192, with rows straddling
     * buffer edges and written in growing chunks. */
    const int w = 301, h = 157;
    ac_imgout_opts_t o;
    ac_err_t e = {0};
    float *img = imgt_make_image(w, h);

    imgt_opts_small(&o);
    o.durable = false;
    ASSERT_OK(imgt_write_file("big.fits", w, h, img, NULL, 0, NULL, &o, NULL, &e));
    ASSERT_EQ(imgt_file_size("big.fits"), (off_t)imgt_fits_len(9, w, h));
    imgt_assert_reads_back("big.fits", img, w, h);
    ac_tools_fitsverify_clean("big.fits");
    free(img);
}

TEST(imgout_datasum_hand_computed)
{
    /* 1.0f = 0x3F800000, -2.0f = 0xC0000000, -4.0f = 0xC0800000: the high halves add up
     * to 0x3F80 + 0xC000 + 0xC080 = 0x1C000, the low halves to 0; the carry out of the
     * high sum wraps into the low one (ones' complement): hi = 0xC000, lo = 0x0001.
     * DATASUM = 0xC0000001 = 3221225473. */
    float px[3] = {1.0f, -2.0f, -4.0f};
    ac_err_t e = {0};
    fitsfile *f = NULL;
    char v[FLEN_VALUE];
    int st = 0;

    ASSERT_OK(imgt_write_file("s.fits", 3, 1, px, NULL, 0, NULL, NULL, NULL, &e));
    fits_open_diskfile(&f, "s.fits", READONLY, &st);
    fits_read_keyword(f, "DATASUM", v, NULL, &st);
    ASSERT_EQ(st, 0);
    ASSERT_STR_EQ(v, "'3221225473'");
    fits_close_file(f, &st);
    free(imgt_read_back("s.fits", 1, 3, 1));
}

TEST(imgout_final_name_absent_until_commit)
{
    const int w = 37, h = 23;
    ac_imgout_t *wr = NULL;
    ac_err_t e = {0};
    struct stat st;
    float *img = imgt_make_image(w, h);

    ASSERT_OK(ac_imgout_open("a.fits", w, h, NULL, 0, NULL, &wr, &e));
    ASSERT_EQ(imgt_count_tmp("."), 1);
    ASSERT_OK(ac_imgout_write_rows(wr, img, h, &e));
    ASSERT(stat("a.fits", &st) != 0 && errno == ENOENT);
    ASSERT_OK(ac_imgout_commit(wr, NULL, NULL, &e));
    ASSERT_OK(stat("a.fits", &st));
    ASSERT_EQ(imgt_count_tmp("."), 0);
    ASSERT_EQ(imgt_count_entries("."), 1);
    free(img);
}

TEST(imgout_abort_leaves_nothing)
{
    ac_imgout_opts_t o;
    ac_imgout_t *wr = NULL;
    float *img = imgt_make_image(300, 40);

    imgt_opts_small(&o);
    ASSERT_OK(ac_imgout_open("a.fits", 300, 40, NULL, 2, &o, &wr, NULL));
    ASSERT_OK(ac_imgout_write_rows(wr, img, 30, NULL)); /* several buffers on disk */
    ac_imgout_abort(wr);
    ac_imgout_abort(NULL);
    ASSERT_EQ(imgt_count_entries("."), 0);
    free(img);
}

TEST(imgout_missing_directory_is_named)
{
    ac_imgout_t *wr = NULL;
    ac_err_t e = {0};

    ASSERT_EQ(ac_imgout_open("nodir/sub/a.fits", 4, 4, NULL, 0, NULL, &wr, &e), -ENOENT);
    ASSERT_NULL(wr);
    ASSERT_CONTAINS(e.msg, "nodir/sub/a.fits");
    ASSERT_CONTAINS(e.msg, "No such file or directory");
    ASSERT_EQ(imgt_count_entries("."), 0);
}

TEST(imgout_directory_gone_at_commit)
{
    float px[4] = {1, 2, 3, 4};
    ac_imgout_t *wr = NULL;
    ac_err_t e = {0};

    ASSERT_OK(mkdir("out", 0755));
    ASSERT_OK(ac_imgout_open("out/a.fits", 2, 2, NULL, 0, NULL, &wr, &e));
    ASSERT_OK(ac_imgout_write_rows(wr, px, 2, &e));
    ASSERT_OK(rename("out", "moved"));
    ASSERT_EQ(ac_imgout_commit(wr, NULL, NULL, &e), -ENOENT);
    ASSERT_CONTAINS(e.msg, "out/a.fits");
}

TEST(imgout_buffered_when_direct_off)
{
    const int w = 61, h = 45;
    ac_imgout_opts_t o;
    ac_imgout_t *wr = NULL;
    ac_err_t e = {0};
    float *img = imgt_make_image(w, h);

    imgt_opts_small(&o);
    o.direct = false;
    ASSERT_OK(ac_imgout_open("b.fits", w, h, NULL, 0, &o, &wr, &e));
    ASSERT(!ac_imgout_is_direct(wr));
    ASSERT_OK(ac_imgout_write_rows(wr, img, h, &e));
    ASSERT_OK(ac_imgout_commit(wr, NULL, NULL, &e));
    imgt_assert_reads_back("b.fits", img, w, h);
    ac_tools_fitsverify_clean("b.fits");
    free(img);
}

TEST(imgout_tmpfs)
{
    /* tmpfs refused O_DIRECT before Linux 6.6; either way the file must come out right. */
    const int w = 37, h = 23;
    ac_imgout_opts_t o;
    ac_err_t e = {0};
    char dir[] = "/dev/shm/imgout-test-XXXXXX", path[64];
    float *img = imgt_make_image(w, h);

    if (access("/dev/shm", W_OK) != 0 || mkdtemp(dir) == NULL) {
        fprintf(stderr, "SKIP: no writable /dev/shm\n");
        free(img);
        return;
    }
    snprintf(path, sizeof path, "%s/t.fits", dir);
    imgt_opts_small(&o);
    ASSERT_OK(imgt_write_file(path, w, h, img, NULL, 0, NULL, &o, NULL, &e));
    imgt_assert_reads_back(path, img, w, h);
    ASSERT_EQ(imgt_count_entries(dir), 1);
    unlink(path);
    rmdir(dir);
    free(img);
}

/* Hooks for the fault tests (imgt_disk_full is shared). */
static ssize_t refuse_direct(int fd, const void *buf, size_t n, off_t off)
{
    if (fcntl(fd, F_GETFL) & O_DIRECT) {
        imgt_hook_calls++;
        errno = EINVAL;
        return -1;
    }
    return pwrite(fd, buf, n, off);
}

static ssize_t short_writes(int fd, const void *buf, size_t n, off_t off)
{
    imgt_hook_calls++;
    return pwrite(fd, buf, n > 1000 ? 1000 : n, off);
}

TEST(imgout_falls_back_when_direct_write_refused)
{
    const int w = 301, h = 57;
    ac_imgout_opts_t o;
    ac_imgout_t *wr = NULL;
    ac_err_t e = {0};
    float *img = imgt_make_image(w, h);

    imgt_opts_small(&o);
    ac_imgout_set_pwrite_hook(refuse_direct);
    ASSERT_OK(ac_imgout_open("f.fits", w, h, NULL, 0, &o, &wr, &e));
    ASSERT_OK(ac_imgout_write_rows(wr, img, h, &e));
    ASSERT(!ac_imgout_is_direct(wr)); /* first: it waits for the piece in flight */
    ASSERT_EQ(imgt_hook_calls, 1);    /* refused once, then buffered for good */
    ASSERT_OK(ac_imgout_commit(wr, NULL, NULL, &e));
    ac_imgout_set_pwrite_hook(NULL);
    imgt_assert_reads_back("f.fits", img, w, h);
    ASSERT_EQ(imgt_file_size("f.fits"), (off_t)imgt_fits_len(9, w, h));
    free(img);
}

TEST(imgout_short_writes)
{
    const int w = 101, h = 77;
    ac_imgout_opts_t o;
    ac_err_t e = {0};
    float *img = imgt_make_image(w, h);

    imgt_opts_small(&o);
    ac_imgout_set_pwrite_hook(short_writes);
    ASSERT_OK(imgt_write_file("s.fits", w, h, img, NULL, 0, NULL, &o, NULL, &e));
    ac_imgout_set_pwrite_hook(NULL);
    ASSERT(imgt_hook_calls > (w * h * 4) / 1000);
    imgt_assert_reads_back("s.fits", img, w, h);
    free(img);
}

TEST(imgout_disk_full_while_streaming)
{
    const int w = 300, h = 60;
    ac_imgout_opts_t o;
    ac_err_t e = {0};
    float *img = imgt_make_image(w, h);

    imgt_opts_small(&o);
    imgt_hook_fail_at = 3;
    ac_imgout_set_pwrite_hook(imgt_disk_full);
    ASSERT_EQ(imgt_write_file("x/full.fits", w, h, img, NULL, 0, NULL, &o, NULL, &e), -ENOENT);
    ASSERT_OK(mkdir("x", 0755));
    memset(&e, 0, sizeof e);
    ASSERT_EQ(imgt_write_file("x/full.fits", w, h, img, NULL, 0, NULL, &o, NULL, &e), -ENOSPC);
    ASSERT_CONTAINS(e.msg, "writing x/full.fits: no space left on device");
    ASSERT_EQ(imgt_count_entries("x"), 0);
    free(img);
}

TEST(imgout_disk_full_at_commit)
{
    ac_imgout_opts_t o;
    ac_err_t e = {0};
    float *img = imgt_make_image(37, 23);

    imgt_opts_small(&o);
    imgt_hook_fail_at = 1; /* the first write is the tail at commit */
    ac_imgout_set_pwrite_hook(imgt_disk_full);
    ASSERT_EQ(imgt_write_file("full.fits", 37, 23, img, NULL, 0, NULL, &o, NULL, &e), -ENOSPC);
    ASSERT_CONTAINS(e.msg, "full.fits");
    ASSERT_CONTAINS(e.msg, "no space left on device");
    ASSERT_EQ(imgt_count_entries("."), 0);
    free(img);
}

TEST(imgout_write_after_error_and_misuse)
{
    ac_imgout_opts_t o;
    ac_imgout_t *wr = NULL;
    ac_hdr_t extra;
    ac_err_t e = {0};
    float *img = imgt_make_image(37, 23);

    imgt_opts_small(&o);
    /* Rows beyond the height. */
    ASSERT_OK(ac_imgout_open("m.fits", 37, 23, NULL, 1, &o, &wr, &e));
    ASSERT_EQ(ac_imgout_write_rows(wr, img, 24, &e), -EINVAL);
    ASSERT_CONTAINS(e.msg, "m.fits");
    /* Commit with rows missing fails and cleans up. */
    ASSERT_OK(ac_imgout_write_rows(wr, img, 22, NULL));
    ASSERT_EQ(ac_imgout_commit(wr, NULL, NULL, NULL), -EINVAL);
    ASSERT_EQ(imgt_count_entries("."), 0);
    /* More extra cards than announced. */
    ac_hdr_init(&extra);
    ASSERT_OK(ac_hdr_add_int(&extra, "A", 1, NULL));
    ASSERT_OK(ac_hdr_add_int(&extra, "B", 2, NULL));
    ASSERT_OK(ac_imgout_open("m.fits", 37, 23, NULL, 1, &o, &wr, NULL));
    ASSERT_OK(ac_imgout_write_rows(wr, img, 23, NULL));
    memset(&e, 0, sizeof e);
    ASSERT_EQ(ac_imgout_commit(wr, &extra, NULL, &e), -EINVAL);
    ASSERT_CONTAINS(e.msg, "2 extra header cards, 1 announced");
    ASSERT_EQ(imgt_count_entries("."), 0);
    /* Bad sizes and buffer sizes are refused at open. */
    o.buf_bytes = 5000;
    ASSERT_EQ(ac_imgout_open("m.fits", 37, 23, NULL, 0, &o, &wr, NULL), -EINVAL);
    ASSERT_EQ(ac_imgout_open("m.fits", 0, 23, NULL, 0, NULL, &wr, NULL), -EINVAL);
    ASSERT_NULL(wr);
    ASSERT_EQ(imgt_count_entries("."), 0);
    ac_hdr_free(&extra);
    free(img);
}

TEST(imgout_header_larger_than_data)
{
    /* 120 caller cards make a 4-block header (11520 bytes, head block 12288) and a 3x2
     * image needs one data block: the file (14400 bytes) is shorter than the head block
     * plus data would be, so the truncation must cut it to the exact length. */
    ac_hdr_t hdr;
    ac_err_t e = {0};
    float px[6] = {1, -1, 0.5f, 1e10f, -1e-10f, 7};

    ac_hdr_init(&hdr);
    for (int i = 0; i < 120; i++) {
        char key[9];
        snprintf(key, sizeof key, "K%d", i);
        ASSERT_OK(ac_hdr_add_int(&hdr, key, i, "filler"));
    }
    ASSERT_OK(imgt_write_file("h.fits", 3, 2, px, &hdr, 5, NULL, NULL, NULL, &e));
    ASSERT_EQ(imgt_file_size("h.fits"), (off_t)imgt_fits_len(6 + 120 + 5 + 3, 3, 2));
    imgt_assert_reads_back("h.fits", px, 3, 2);
    ac_tools_fitsverify_clean("h.fits");
    ac_hdr_free(&hdr);
}

TEST(imgout_not_durable_still_complete)
{
    ac_imgout_opts_t o;
    ac_err_t e = {0};
    float *img = imgt_make_image(64, 48);

    ac_imgout_opts_default(&o);
    ASSERT(o.durable);
    o.durable = false;
    ASSERT_OK(imgt_write_file("n.fits", 64, 48, img, NULL, 0, NULL, &o, NULL, &e));
    imgt_assert_reads_back("n.fits", img, 64, 48);
    free(img);
}

TEST(imgout_buffer_bytes)
{
    ac_imgout_opts_t o;

    ac_imgout_opts_default(&o);
    ASSERT_EQ(o.buf_bytes, 8u << 20);
    ASSERT_EQ(ac_imgout_buffer_bytes(&o), (8u << 20) + (64u << 10));
    ASSERT_EQ(ac_imgout_buffer_bytes(NULL), (8u << 20) + (64u << 10));
    o.buf_bytes = 8192;
    ASSERT_EQ(ac_imgout_buffer_bytes(&o), 8192 + (64u << 10));
    o.compress = true;
    ASSERT(ac_imgout_buffer_bytes(&o) <= (1u << 20));
}

TEST(imgout_compressed_roundtrip)
{
    const int w = 64, h = 48;
    ac_imgout_opts_t o;
    ac_hdr_t hdr, extra;
    ac_err_t e = {0};
    char keys[128][9], v[FLEN_VALUE];
    fitsfile *f = NULL;
    float *img = malloc(w * h * sizeof *img), *back;
    double maxerr = 0;
    int n, st = 0, seen_object = 0, seen_q = 0;
    size_t bytes = 0;
    uint32_t s = 12345;

    /* A sky of 1000 + a gradient + uniform noise of +-50 (sigma 28.9): RICE quantises with
     * steps of about sigma / 16 = 1.8, so every pixel must come back within 2 steps. */
    for (int i = 0; i < w * h; i++) {
        s = s * 1103515245u + 12345u;
        img[i] = 1000.0f + (float)(i % w) + ((float)((s >> 8) % 10001) / 100.0f - 50.0f);
    }
    ac_imgout_opts_default(&o);
    o.compress = true;
    imgt_base_header(&hdr);
    ac_hdr_init(&extra);
    ASSERT_OK(ac_hdr_add_double(&extra, "QNOISE", 28.9, NULL));
    ASSERT_OK(imgt_write_file("c.fits", w, h, img, &hdr, 2, &extra, &o, &bytes, &e));
    ASSERT_EQ(bytes, (size_t)imgt_file_size("c.fits"));
    ASSERT(bytes < imgt_fits_len(17, w, h));
    back = imgt_read_back("c.fits", 2, w, h);
    for (int i = 0; i < w * h; i++)
        if (fabs((double)back[i] - img[i]) > maxerr)
            maxerr = fabs((double)back[i] - img[i]);
    fprintf(stderr, "max error %g\n", maxerr);
    ASSERT(maxerr > 0);   /* it was quantised */
    ASSERT(maxerr < 3.6); /* within two steps */
    ac_tools_fitsverify_clean("c.fits");
    fits_open_diskfile(&f, "c.fits", READONLY, &st);
    fits_movabs_hdu(f, 2, NULL, &st);
    fits_read_keyword(f, "ZCMPTYPE", v, NULL, &st);
    ASSERT_EQ(st, 0);
    ASSERT_STR_EQ(v, "'RICE_1  '");
    fits_read_keyword(f, "ZQUANTIZ", v, NULL, &st);
    ASSERT_EQ(st, 0);
    ASSERT_STR_EQ(v, "'SUBTRACTIVE_DITHER_1'");
    fits_close_file(f, &st);
    n = imgt_read_keys("c.fits", 2, keys, 128);
    for (int i = 0; i < n; i++) {
        ASSERT(strcmp(keys[i], "BZERO") != 0 && strcmp(keys[i], "BSCALE") != 0);
        seen_object += strcmp(keys[i], "OBJECT") == 0;
        seen_q += strcmp(keys[i], "QNOISE") == 0;
    }
    ASSERT_EQ(seen_object, 1);
    ASSERT_EQ(seen_q, 1);
    ASSERT_EQ(imgt_count_tmp("."), 0);
    free(back);
    free(img);
    ac_hdr_free(&hdr);
    ac_hdr_free(&extra);
}

TEST(imgout_compressed_nan_stays_local)
{
    /* A NaN handed raw to cfitsio's quantiser spoils its whole row tile; the writer must
     * store it as a null so that only that pixel reads back as NaN. */
    const int w = 64, h = 8;
    ac_imgout_opts_t o;
    ac_err_t e = {0};
    fitsfile *f = NULL;
    float img[64 * 8], back[64 * 8], nanv = NAN;
    long fp[2] = {1, 1};
    int st = 0, anynul = 0;

    for (int i = 0; i < w * h; i++)
        img[i] = 1000.0f + (float)(i * 37 % 101);
    img[70] = NAN;
    img[71] = INFINITY;
    ac_imgout_opts_default(&o);
    o.compress = true;
    ASSERT_OK(imgt_write_file("n.fits", w, h, img, NULL, 0, NULL, &o, NULL, &e));
    ASSERT(isfinite(img[72]) && isnan(img[70])); /* the caller's rows are untouched */
    fits_open_diskfile(&f, "n.fits", READONLY, &st);
    fits_movabs_hdu(f, 2, NULL, &st);
    fits_read_pix(f, TFLOAT, fp, w * h, &nanv, back, &anynul, &st);
    ASSERT_EQ(st, 0);
    fits_close_file(f, &st);
    ASSERT_EQ(anynul, 1);
    for (int i = 0; i < w * h; i++) {
        if (i == 70 || i == 71)
            ASSERT(isnan(back[i]));
        else
            ASSERT_NEAR(back[i], img[i], 20.0); /* noise ~29: steps of ~2 */
    }
    ac_tools_fitsverify_clean("n.fits");
}

TEST(imgout_plain_nan_bit_exact)
{
    float px[4] = {NAN, INFINITY, -INFINITY, 1.5f};

    ASSERT_OK(imgt_write_file("p.fits", 2, 2, px, NULL, 0, NULL, NULL, NULL, NULL));
    imgt_assert_reads_back("p.fits", px, 2, 2);
}

/* ---- Sequential mode (ac_imgout_open_final) and hashing at commit. ---- */

/* slurp reads the whole file at path (owned by the caller) and its size into *n. */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *p;

    ASSERT_NOT_NULL(f);
    *n = (size_t)imgt_file_size(path);
    p = malloc(*n + 1);
    ASSERT_NOT_NULL(p);
    ASSERT_EQ(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

/* write_final writes img in sequential mode with hdr and the DATASUM computed piecewise
 * (pieces of 1, 2, 3... pixels, so every split point of the kernel is used), then commits
 * with the hash. announce_delta is added to the announced sum (fault test). */
static int write_final(const char *path, int w, int h, const float *img, const ac_hdr_t *hdr,
                       uint32_t announce_delta, const ac_imgout_opts_t *o, char sha[65],
                       ac_err_t *e)
{
    ac_imgout_sum_t sum = {0};
    ac_imgout_t *wr = NULL;
    size_t i = 0, piece = 1, npx = (size_t)w * (size_t)h;
    int rc, row = 0, chunk = 1;

    while (i < npx) {
        size_t k = piece < npx - i ? piece++ : npx - i;
        ac_imgout_datasum_update(&sum, img + i, k);
        i += k;
    }
    rc = ac_imgout_open_final(path, w, h, hdr, ac_imgout_datasum_value(&sum) + announce_delta,
                              o, &wr, e);
    if (rc != 0)
        return rc;
    for (; row < h; row += chunk, chunk++) {
        rc = ac_imgout_write_rows(wr, img + (size_t)row * w, chunk < h - row ? chunk : h - row,
                                  e);
        if (rc != 0) {
            ac_imgout_abort(wr);
            return rc;
        }
    }
    return ac_imgout_commit_hashed(wr, NULL, NULL, sha, 65, e);
}

TEST(imgout_datasum_kernel_hand_computed)
{
    /* The values of imgout_datasum_hand_computed: DATASUM = 0xC0000001, fed in pieces. */
    float px[3] = {1.0f, -2.0f, -4.0f};
    ac_imgout_sum_t s = {0};

    ASSERT_EQ(ac_imgout_datasum_value(&s), 0);
    ac_imgout_datasum_update(&s, px, 1);
    ASSERT_EQ(ac_imgout_datasum_value(&s), 0x3F800000u);
    ac_imgout_datasum_update(&s, px + 1, 2);
    ASSERT_EQ(ac_imgout_datasum_value(&s), 3221225473u);
}

TEST(imgout_final_identical_to_classic)
{
    /* Configurations: small buffers with rows across buffer edges, buffered writes, a
     * header (120 cards, 4 blocks) larger than a 4096-byte buffer, the default 8 MiB
     * buffer, and a tiny image whose header is most of the file. */
    static const struct {
        int w, h, buf, direct, filler;
    } cfg[] = {{301, 157, 8192, 1, 0},
               {61, 45, 8192, 0, 0},
               {37, 23, 4096, 1, 120},
               {64, 48, 0, 1, 0},
               {3, 2, 4096, 1, 40}};

    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        int w = cfg[c].w, h = cfg[c].h;
        float *img = imgt_make_image(w, h);
        ac_imgout_opts_t o;
        ac_hdr_t hdr, extra, full;
        ac_err_t e = {0};
        char sha[65], ours[65];
        const char *tool;
        unsigned char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;

        ac_imgout_opts_default(&o);
        o.buf_bytes = (size_t)cfg[c].buf;
        o.direct = cfg[c].direct != 0;
        imgt_base_header(&hdr);
        for (int i = 0; i < cfg[c].filler; i++) {
            char key[9];
            snprintf(key, sizeof key, "K%d", i);
            ASSERT_OK(ac_hdr_add_int(&hdr, key, i, "filler"));
        }
        ac_hdr_init(&extra);
        ASSERT_OK(ac_hdr_add_double(&extra, "QNOISE", 12.5, "noise"));
        ASSERT_OK(ac_hdr_add_double(&extra, "QSCORE", 0.9, NULL));
        ac_hdr_init(&full);
        for (size_t i = 0; i < hdr.n; i++)
            ASSERT_OK(ac_hdr_append_raw(&full, hdr.cards[i]));
        for (size_t i = 0; i < extra.n; i++)
            ASSERT_OK(ac_hdr_append_raw(&full, extra.cards[i]));
        /* The DATASUM and CHECKSUM comments carry the time in seconds: retry when a second
         * boundary fell between the two files. */
        for (int attempt = 0; attempt < 3; attempt++) {
            time_t t0 = time(NULL);
            free(a);
            free(b);
            ASSERT_OK(
                imgt_write_file("classic.fits", w, h, img, &hdr, 2, &extra, &o, NULL, &e));
            ASSERT_OK(write_final("seq.fits", w, h, img, &full, 0, &o, sha, &e));
            a = slurp("classic.fits", &na);
            b = slurp("seq.fits", &nb);
            if (time(NULL) == t0)
                break;
        }
        fprintf(stderr, "config %zu: %zu bytes\n", c, nb);
        ASSERT_EQ(na, nb);
        ASSERT(memcmp(a, b, na) == 0);
        ASSERT_OK(ac_digest_file("seq.fits", AC_DIGEST_SHA256, ours, sizeof ours, &e));
        tool = ac_tools_hash("sha256sum", "seq.fits");
        ASSERT_STR_EQ(sha, tool);
        ASSERT_STR_EQ(ours, tool);
        free(imgt_read_back("seq.fits", 1, w, h));
        ac_tools_fitsverify_clean("seq.fits");
        ASSERT_EQ(imgt_count_tmp("."), 0);
        free(a);
        free(b);
        free(img);
        ac_hdr_free(&hdr);
        ac_hdr_free(&extra);
        ac_hdr_free(&full);
    }
}

TEST(imgout_final_wrong_datasum_fails_and_leaves_nothing)
{
    const int w = 301, h = 57;
    ac_imgout_opts_t o;
    ac_imgout_t *wr = NULL;
    ac_hdr_t extra;
    ac_err_t e = {0};
    char sha[65] = "x";
    float *img = imgt_make_image(w, h);

    imgt_opts_small(&o);
    ASSERT_EQ(write_final("bad.fits", w, h, img, NULL, 1, &o, sha, &e), -EIO);
    ASSERT_CONTAINS(e.msg, "bad.fits: internal error");
    ASSERT_CONTAINS(e.msg, "DATASUM");
    ASSERT_EQ(imgt_count_entries("."), 0);
    /* The same through the compressed path, where the rows are summed before cfitsio. */
    o.compress = true;
    memset(&e, 0, sizeof e);
    ASSERT_EQ(write_final("bad.fits", w, h, img, NULL, 1, &o, sha, &e), -EIO);
    ASSERT_CONTAINS(e.msg, "internal error");
    ASSERT_EQ(imgt_count_entries("."), 0);
    /* The header is final: no cards may be added at commit. */
    ac_hdr_init(&extra);
    ASSERT_OK(ac_hdr_add_int(&extra, "A", 1, NULL));
    o.compress = false;
    ASSERT_OK(ac_imgout_open_final("x.fits", 2, 1, NULL, 0, &o, &wr, &e));
    ASSERT_OK(ac_imgout_write_rows(wr, (const float[]){0.0f, 0.0f}, 1, &e));
    memset(&e, 0, sizeof e);
    ASSERT_EQ(ac_imgout_commit_hashed(wr, &extra, NULL, sha, sizeof sha, &e), -EINVAL);
    ASSERT_CONTAINS(e.msg, "1 extra header cards, 0 announced");
    ASSERT_EQ(imgt_count_entries("."), 0);
    ac_hdr_free(&extra);
    free(img);
}

TEST(imgout_final_disk_full_leaves_nothing)
{
    const int w = 300, h = 60;
    ac_imgout_opts_t o;
    ac_err_t e = {0};
    char sha[65];
    float *img = imgt_make_image(w, h);

    imgt_opts_small(&o);
    imgt_hook_fail_at = 4;
    ac_imgout_set_pwrite_hook(imgt_disk_full);
    ASSERT_EQ(write_final("full.fits", w, h, img, NULL, 0, &o, sha, &e), -ENOSPC);
    ac_imgout_set_pwrite_hook(NULL);
    ASSERT_CONTAINS(e.msg, "full.fits: no space left on device");
    ASSERT_EQ(imgt_count_entries("."), 0);
    free(img);
}

TEST(imgout_commit_hashed_reads_back_classic_and_compressed)
{
    const int w = 64, h = 48;
    ac_imgout_opts_t o;
    ac_imgout_t *wr = NULL;
    ac_err_t e = {0};
    char sha[65];
    float *img = imgt_make_image(w, h);

    for (int compress = 0; compress <= 1; compress++) {
        const char *path = compress ? "c.fits" : "p.fits";
        imgt_opts_small(&o);
        o.compress = compress != 0;
        /* Classic mode: the header is written last, so the file is read back. */
        ASSERT_OK(ac_imgout_open(path, w, h, NULL, 0, &o, &wr, &e));
        ASSERT_OK(ac_imgout_write_rows(wr, img, h, &e));
        ASSERT_OK(ac_imgout_commit_hashed(wr, NULL, NULL, sha, sizeof sha, &e));
        ASSERT_STR_EQ(sha, ac_tools_hash("sha256sum", path));
        unlink(path);
        /* Sequential mode. */
        ASSERT_OK(write_final(path, w, h, img, NULL, 0, &o, sha, &e));
        ASSERT_STR_EQ(sha, ac_tools_hash("sha256sum", path));
        ac_tools_fitsverify_clean(path);
    }
    free(img);
}

TEST(imgout_update_cards_before_commit_classic_only)
{
    static const char md5[] = "0123456789abcdef0123456789abcdef";
    ac_imgout_opts_t o;
    ac_imgout_t *wr = NULL;
    ac_err_t e = {0};
    ac_hdr_t hdr, upd;
    const float px[2] = {1.0f, 2.0f};
    char v[FLEN_VALUE];

    ac_hdr_init(&hdr);
    ac_hdr_init(&upd);
    ASSERT_OK(ac_hdr_add_str(&hdr, "DARKMD5", "", "MD5 of the master dark file"));
    ASSERT_OK(ac_hdr_add_str(&upd, "DARKMD5", md5, "MD5 of the master dark file"));
    for (int compress = 0; compress <= 1; compress++) {
        const char *path = compress ? "u.fits.fz" : "u.fits";
        fitsfile *f = NULL;
        int st = 0;

        imgt_opts_small(&o);
        o.compress = compress != 0;
        ASSERT_OK(ac_imgout_open(path, 2, 1, &hdr, 0, &o, &wr, &e));
        ASSERT_OK(ac_imgout_write_rows(wr, px, 1, &e));
        ASSERT_OK(ac_imgout_update_cards(wr, &upd, &e));
        ASSERT_OK(ac_imgout_commit(wr, NULL, NULL, &e));
        fits_open_image(&f, path, READONLY, &st);
        fits_read_key(f, TSTRING, "DARKMD5", v, NULL, &st);
        fits_close_file(f, &st);
        ASSERT_EQ(st, 0);
        ASSERT_STR_EQ(v, md5);
        ac_tools_fitsverify_clean(path);
    }
    /* Only keywords given at open (the header's size is fixed then). */
    imgt_opts_small(&o);
    ASSERT_OK(ac_hdr_add_str(&upd, "FLATMD5", md5, NULL));
    ASSERT_OK(ac_imgout_open("n.fits", 2, 1, &hdr, 0, &o, &wr, &e));
    ASSERT_EQ(ac_imgout_update_cards(wr, &upd, &e), -ENOENT);
    ASSERT_CONTAINS(e.msg, "n.fits: a card to update was not in the header");
    ac_imgout_abort(wr);
    /* Sequential mode: the header is written at open. */
    memset(&e, 0, sizeof e);
    ASSERT_OK(ac_imgout_open_final("s.fits", 2, 1, &hdr, 0, &o, &wr, &e));
    ASSERT_EQ(ac_imgout_update_cards(wr, &upd, &e), -EINVAL);
    ASSERT_CONTAINS(e.msg, "s.fits: the header is written already");
    ac_imgout_abort(wr);
    ASSERT_EQ(imgt_count_tmp("."), 0);
    ac_hdr_free(&hdr);
    ac_hdr_free(&upd);
}
