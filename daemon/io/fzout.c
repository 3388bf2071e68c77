/*
 * fzout.c - the tile-compressed float image writer (see fzout.h).
 *
 * cfitsio cannot create a file through a descriptor, and opening a name would let whoever
 * can write to the output folder choose what that name is (a planted symbolic link was
 * followed this way). So: the primary HDU (SIMPLE, BITPIX 16, NAXIS 0, EXTEND and the two
 * standard COMMENT cards, as cfitsio writes for a compressed image) is written here with
 * pwrite, and cfitsio opens "/proc/self/fd/<fd>" READWRITE, which the kernel resolves to
 * the descriptor's own inode, then appends the compressed HDU (fits_create_img with
 * RICE_1 set). It is CPU-bound, so its buffering does not matter. Non-finite pixels go to
 * cfitsio as its null flag: a raw NaN would turn the whole tile (row) into NaN when read
 * back.
 *
 * Thread: a writer is used by one thread at a time; cfitsio is built reentrant.
 */
#include "fzout.h"

#include <errno.h>
#include <fitsio.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FITS_BLOCK 2880
/* cfitsio's FLOATNULLVALUE: marks null pixels for the quantiser. */
#define FITS_FLOAT_NULL -9.11912E-36F

struct ac_fzout {
    fitsfile *ff;
    char path[PATH_MAX]; /* the final path, for messages */
    int width;
    long long written; /* pixels so far */
    float *scratch;    /* copy of rows with non-finite pixels replaced */
    size_t scratch_n;
};

size_t ac_fzout_buffer_bytes(void)
{
    /* cfitsio compresses one row tile at a time; its buffers are small. */
    return 1u << 20;
}

/* fits_fail records a cfitsio status as AC_EFITS with the operation and final path. */
static int fits_fail(const ac_fzout_t *z, int status, const char *what, ac_err_t *e)
{
    char text[FLEN_STATUS];

    fits_get_errstatus(status, text);
    return ac_err_set(e, AC_EFITS, "%s %s: %s (cfitsio status %d)", what, z->path, text,
                      status);
}

/* write_primary stores the null primary HDU at the start of fd. 0 or -errno. */
static int write_primary(int fd)
{
    static const char *const cards[] = {
        "SIMPLE  =                    T / file does conform to FITS standard",
        "BITPIX  =                   16 / number of bits per data pixel",
        "NAXIS   =                    0 / number of data axes",
        "EXTEND  =                    T / FITS dataset may contain extensions",
        "COMMENT   FITS (Flexible Image Transport System) format is defined in 'Astronomy",
        "COMMENT   and Astrophysics', volume 376, page 359; bibcode: 2001A&A...376..359H",
        "END",
    };
    char block[FITS_BLOCK];
    size_t i;

    memset(block, ' ', sizeof block);
    for (i = 0; i < sizeof cards / sizeof cards[0]; i++)
        memcpy(block + i * 80, cards[i], strlen(cards[i]));
    for (size_t done = 0; done < sizeof block;) {
        ssize_t k = pwrite(fd, block + done, sizeof block - done, (off_t)done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? -errno : -EIO;
        done += (size_t)k;
    }
    return 0;
}

int ac_fzout_open(int fd, const char *path, int w, int h, const ac_hdr_t *cards,
                  float quantize_level, ac_fzout_t **out, ac_err_t *e)
{
    long naxes[2] = {w, h};
    char name[64];
    ac_fzout_t *z;
    int st = 0, rc;

    *out = NULL;
    if ((z = calloc(1, sizeof *z)) == NULL)
        return ac_err_set(e, -ENOMEM, "writing %s: out of memory", path);
    snprintf(z->path, sizeof z->path, "%s", path);
    z->width = w;
    if ((rc = write_primary(fd)) != 0) {
        ac_err_set(e, rc, "writing the header of %s: %s", path, strerror(-rc));
        goto fail;
    }
    snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
    if (access(name, F_OK) != 0) {
        rc = ac_err_set(e, -errno,
                        "writing %s: cannot reach the open temporary file as %s (compressed "
                        "output needs /proc): %s",
                        path, name, strerror(errno));
        goto fail;
    }
    /* The disk-file variant does not parse brackets or parentheses in the name. */
    fits_open_diskfile(&z->ff, name, READWRITE, &st);
    if (st != 0) {
        z->ff = NULL;
        rc = fits_fail(z, st, "opening the temporary file of", e);
        goto fail;
    }
    fits_set_compression_type(z->ff, RICE_1, &st);
    fits_set_quantize_level(z->ff, quantize_level, &st);
    fits_set_quantize_method(z->ff, SUBTRACTIVE_DITHER_1, &st);
    fits_create_img(z->ff, FLOAT_IMG, 2, naxes, &st);
    for (size_t i = 0; st == 0 && cards != NULL && i < cards->n; i++)
        fits_write_record(z->ff, cards->cards[i], &st);
    if (st != 0) {
        rc = fits_fail(z, st, "writing the header of", e);
        goto fail;
    }
    *out = z;
    return 0;
fail:
    ac_fzout_abort(z);
    return rc;
}

int ac_fzout_write(ac_fzout_t *z, const float *px, size_t n, ac_err_t *e)
{
    static const float null_flag = FITS_FLOAT_NULL;
    long fpixel[2] = {(long)(z->written % z->width) + 1, (long)(z->written / z->width) + 1};
    const float *src = px;
    size_t i = 0;
    int st = 0;

    while (i < n && isfinite(px[i]))
        i++;
    if (i < n) {
        if (z->scratch_n < n) {
            float *p = realloc(z->scratch, n * sizeof *p);
            if (p == NULL)
                return ac_err_set(e, -ENOMEM, "writing %s: out of memory", z->path);
            z->scratch = p;
            z->scratch_n = n;
        }
        memcpy(z->scratch, px, n * sizeof *px);
        for (; i < n; i++)
            if (!isfinite(z->scratch[i]))
                z->scratch[i] = null_flag;
        src = z->scratch;
    }
    if (n > 0 && fits_write_pixnull(z->ff, TFLOAT, fpixel, (LONGLONG)n, (void *)src,
                                    (void *)&null_flag, &st) != 0)
        return fits_fail(z, st, "writing", e);
    z->written += (long long)n;
    return 0;
}

int ac_fzout_update(ac_fzout_t *z, const ac_hdr_t *cards, ac_err_t *e)
{
    char key[9];
    int st = 0;

    for (size_t i = 0; st == 0 && i < cards->n; i++) {
        ac_hdr_card_key(cards, i, key);
        fits_update_card(z->ff, key, cards->cards[i], &st);
    }
    return st != 0 ? fits_fail(z, st, "updating the header of", e) : 0;
}

int ac_fzout_finish(ac_fzout_t *z, const ac_hdr_t *extra, ac_err_t *e)
{
    int st = 0, rc = 0;

    for (size_t i = 0; st == 0 && extra != NULL && i < extra->n; i++)
        fits_write_record(z->ff, extra->cards[i], &st);
    fits_write_chksum(z->ff, &st);
    /* The (empty) primary HDU gets its checksums too. */
    fits_movabs_hdu(z->ff, 1, NULL, &st);
    fits_write_chksum(z->ff, &st);
    if (st != 0) {
        rc = fits_fail(z, st, "writing", e);
        goto out;
    }
    fits_close_file(z->ff, &st);
    z->ff = NULL;
    if (st != 0)
        rc = fits_fail(z, st, "closing", e);
out:
    ac_fzout_abort(z);
    return rc;
}

void ac_fzout_abort(ac_fzout_t *z)
{
    int st = 0;

    if (z == NULL)
        return;
    if (z->ff != NULL)
        fits_close_file(z->ff, &st);
    free(z->scratch);
    free(z);
}
