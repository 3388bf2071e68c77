/*
 * imgout-util.c - helpers shared by the tests of the image writer (test-imgout*.c,
 * test-outfile.c): test images, writing a file in growing chunks, reading it back with
 * cfitsio (checksums verified), directory counts and the disk-full hook.
 */
#include "imgout-util.h"

#include <dirent.h>
#include <errno.h>
#include <fitsio.h>
#include <float.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "test.h"

int imgt_hook_calls, imgt_hook_fail_at;

/* imgt_pattern returns pixel i of the test image: negative, tiny, huge, signed zero,
 * subnormal and ordinary values. */
static float imgt_pattern(size_t i)
{
    switch (i % 7) {
    case 0:
        return -1234.5f + (float)i;
    case 1:
        return 1e-30f * (float)(i + 1);
    case 2:
        return 3.0e38f;
    case 3:
        return -0.0f;
    case 4:
        return 1e-42f; /* subnormal */
    case 5:
        return -FLT_MAX;
    default:
        return (float)i * 0.001f;
    }
}

float *imgt_make_image(int w, int h)
{
    float *p = malloc((size_t)w * (size_t)h * sizeof *p);

    ASSERT_NOT_NULL(p);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++)
        p[i] = imgt_pattern(i);
    return p;
}

void imgt_opts_small(ac_imgout_opts_t *o)
{
    ac_imgout_opts_default(o);
    o->buf_bytes = 8192;
}

void imgt_base_header(ac_hdr_t *h)
{
    ac_hdr_init(h);
    ASSERT_OK(ac_hdr_add_str(h, "OBJECT", "M31", "target"));
    ASSERT_OK(ac_hdr_append_raw(h, "BZERO   =                32768"));
    ASSERT_OK(ac_hdr_add_double(h, "EXPTIME", 300, NULL));
    ASSERT_OK(ac_hdr_append_raw(h, "BSCALE  =                    1"));
    ASSERT_OK(ac_hdr_add_history(h, "bias subtracted"));
    ASSERT_OK(ac_hdr_append_raw(h, "NAXIS1  =                    5"));
    ASSERT_OK(ac_hdr_add_bool(h, "CALIBRAT", true, NULL));
}

/* imgt_write_file writes img (w x h) in chunks of 1, 2, 3, ... rows and commits. */
int imgt_write_file(const char *path, int w, int h, const float *img, const ac_hdr_t *hdr,
                    int extra_n, const ac_hdr_t *extra, const ac_imgout_opts_t *o,
                    size_t *bytes, ac_err_t *e)
{
    ac_imgout_t *wr = NULL;
    int rc, row = 0, chunk = 1;

    if ((rc = ac_imgout_open(path, w, h, hdr, extra_n, o, &wr, e)) != 0)
        return rc;
    while (row < h) {
        int n = chunk < h - row ? chunk : h - row;
        if ((rc = ac_imgout_write_rows(wr, img + (size_t)row * (size_t)w, n, e)) != 0) {
            ac_imgout_abort(wr);
            return rc;
        }
        row += n;
        chunk++;
    }
    return ac_imgout_commit(wr, extra, bytes, e);
}

/* imgt_read_back reads the image in HDU hdu with cfitsio and checks its size and checksums. */
float *imgt_read_back(const char *path, int hdu, int w, int h)
{
    fitsfile *f = NULL;
    int st = 0, dataok = 0, hduok = 0, naxis = 0;
    long naxes[2] = {0, 0}, fp[2] = {1, 1};
    float *p = malloc((size_t)w * (size_t)h * sizeof *p);

    ASSERT_NOT_NULL(p);
    fits_open_diskfile(&f, path, READONLY, &st);
    ASSERT_EQ(st, 0);
    fits_movabs_hdu(f, hdu, NULL, &st);
    fits_get_img_dim(f, &naxis, &st);
    fits_get_img_size(f, 2, naxes, &st);
    ASSERT_EQ(st, 0);
    ASSERT_EQ(naxis, 2);
    ASSERT_EQ(naxes[0], w);
    ASSERT_EQ(naxes[1], h);
    fits_read_pix(f, TFLOAT, fp, (LONGLONG)w * h, NULL, p, NULL, &st);
    ASSERT_EQ(st, 0);
    fits_verify_chksum(f, &dataok, &hduok, &st);
    ASSERT_EQ(st, 0);
    ASSERT_EQ(dataok, 1);
    ASSERT_EQ(hduok, 1);
    fits_close_file(f, &st);
    return p;
}

void imgt_assert_same_bits(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof *a) != 0)
            AC_TEST_FAIL("pixel %zu: %.9g != %.9g", i, (double)a[i], (double)b[i]);
}

void imgt_assert_reads_back(const char *path, const float *img, int w, int h)
{
    float *back = imgt_read_back(path, 1, w, h);

    imgt_assert_same_bits(back, img, (size_t)w * (size_t)h);
    free(back);
}

/* read_cards returns the header cards of HDU hdu, keywords only (trimmed), one per slot. */
int imgt_read_keys(const char *path, int hdu, char keys[][9], int max)
{
    fitsfile *f = NULL;
    int st = 0, n = 0;
    char card[FLEN_CARD];

    fits_open_diskfile(&f, path, READONLY, &st);
    fits_movabs_hdu(f, hdu, NULL, &st);
    fits_get_hdrspace(f, &n, NULL, &st);
    ASSERT_EQ(st, 0);
    ASSERT(n <= max);
    for (int i = 0; i < n; i++) {
        fits_read_record(f, i + 1, card, &st);
        int k = 0;
        while (k < 8 && card[k] != ' ' && card[k] != '\0' && card[k] != '=') {
            keys[i][k] = card[k];
            k++;
        }
        keys[i][k] = '\0';
    }
    ASSERT_EQ(st, 0);
    fits_close_file(f, &st);
    return n;
}

/* count_if counts the entries of dir (but . and ..) whose name passes keep. */
static int count_if(const char *dir, bool (*keep)(const char *name))
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    ASSERT_NOT_NULL(d);
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 && keep(de->d_name);
    closedir(d);
    return n;
}

static bool any_name(const char *name)
{
    (void)name;
    return true;
}

int imgt_count_tmp(const char *dir)
{
    return count_if(dir, ac_fsutil_is_tmpname);
}

int imgt_count_entries(const char *dir)
{
    return count_if(dir, any_name);
}

off_t imgt_file_size(const char *path)
{
    struct stat st;

    ASSERT_OK(stat(path, &st));
    return st.st_size;
}

uint64_t imgt_fits_len(uint64_t header_cards, uint64_t w, uint64_t h)
{
    uint64_t hb = (header_cards * 80 + 2879) / 2880 * 2880;
    return hb + (w * h * 4 + 2879) / 2880 * 2880;
}

ssize_t imgt_disk_full(int fd, const void *buf, size_t n, off_t off)
{
    if (++imgt_hook_calls >= imgt_hook_fail_at) {
        errno = ENOSPC;
        return -1;
    }
    return pwrite(fd, buf, n, off);
}
