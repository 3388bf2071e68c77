/*
 * imgio.c - reading FITS images through cfitsio (adapter; see imgio.h).
 *
 * Opening finds the first HDU with image data (a tile-compressed image in a binary table
 * counts: cfitsio presents it as an image), checks the format and the file length, and
 * reads the header as 80-character cards (for compressed images the equivalent
 * uncompressed header). Reading converts strips of rows to float ADU:
 *  - uncompressed integer data is read in its stored type with cfitsio's scaling off, and
 *    BSCALE/BZERO (and BLANK -> NaN) are applied in one loop here;
 *  - 16-bit data with BZERO = 32768, BSCALE = 1 and no BLANK is read as TUSHORT with
 *    cfitsio's scaling on (one large read, exact), then widened to float;
 *  - float data is read as stored (NaN kept); -32 goes straight into the caller's strip;
 *  - tile-compressed data (other than the TUSHORT case) is read as TDOUBLE with cfitsio's
 *    scaling on, which is exact for every integer type and for dequantised floats, with
 *    undefined pixels (BLANK / ZBLANK) as NaN.
 *
 * Ownership: ac_imgin_t owns its fitsfile, header copy and raw scratch buffer.
 * Thread: one reader per thread; cfitsio is built reentrant. Errors come from
 * fits_get_errstatus only, never from cfitsio's global message stack.
 */
#include "imgio.h"

#include <errno.h>
#include <fcntl.h>
#include <fitsio.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "util.h"

/* Rows per strip when ac_imgio_load_image reads a whole image. */
#define LOAD_STRIP_ROWS 256

struct ac_imgin {
    fitsfile *f;
    char path[4096];
    ac_hdr_t hdr;
    ac_meta_t meta;
    int bitpix; /* stored BITPIX (ZBITPIX for compressed images) */
    long w, h;
    bool compressed;
    int dtype;          /* cfitsio type used by fits_read_pix */
    bool apply_scaling; /* BSCALE/BZERO applied by our loop */
    double bzero, bscale;
    bool has_blank; /* integer BLANK present */
    long long blank;
    void *raw; /* scratch for one strip in dtype, grown on demand */
    size_t raw_cap;
};

/* fits_fail translates a cfitsio status into AC_EFITS with the file and the operation. */
static int fits_fail(ac_err_t *e, int status, const char *path, const char *what)
{
    char txt[FLEN_STATUS];

    fits_get_errstatus(status, txt);
    return ac_err_set(e, AC_EFITS, "%s: %s: cfitsio error %d (%s)", path, what, status, txt);
}

/* sniff checks the first bytes of the file: a plain FITS file starts with "SIMPLE  =";
 * gzip, bzip2 and Unix-compress files are left to cfitsio (which unpacks them), and the
 * length check is skipped for them (*plain = false). Everything else is not FITS. */
static int sniff(const char *path, bool *plain, long long *size, ac_err_t *e)
{
    unsigned char buf[10] = {0};
    struct stat st;
    ssize_t n;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        return ac_err_set(e, rc, "%s: cannot open: %s", path, strerror(-rc));
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        ac_err_set(e, rc, "%s: cannot stat: %s", path, strerror(-rc));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = ac_err_set(e, AC_EFITS, "%s: not a FITS file (not a regular file)", path);
        goto out;
    }
    *size = (long long)st.st_size;
    do {
        n = pread(fd, buf, sizeof buf, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        rc = -errno;
        ac_err_set(e, rc, "%s: cannot read: %s", path, strerror(-rc));
        goto out;
    }
    *plain = false;
    if (n >= 9 && memcmp(buf, "SIMPLE  =", 9) == 0) {
        *plain = true;
    } else if (n >= 2 && ((buf[0] == 0x1f && (buf[1] == 0x8b || buf[1] == 0x9d)) ||
                          (n >= 3 && memcmp(buf, "BZh", 3) == 0))) {
        *plain = false;
    } else {
        rc = ac_err_set(e, AC_EFITS, "%s: not a FITS file (%s)", path,
                        n == 0 ? "the file is empty" : "it does not start with SIMPLE =");
    }
out:
    close(fd);
    return rc;
}

/* key_ll reads an integer keyword of the current HDU's own header, dflt when absent. */
static long long key_ll(fitsfile *f, const char *key, long long dflt)
{
    LONGLONG v = 0;
    int status = 0;

    if (fits_read_key(f, TLONGLONG, key, &v, NULL, &status) != 0)
        return dflt;
    return (long long)v;
}

/* check_length refuses an HDU whose data runs past the end of the file. The size comes
 * from the HDU's own header (for a compressed image, its binary table with the heap):
 * |BITPIX|/8 * GCOUNT * (PCOUNT + NAXIS1 * ... * NAXISn), rounded up to whole 2880-byte
 * blocks as FITS requires: cfitsio reads whole blocks and fails on a file that lacks
 * even the padding of its last block, so such a file is refused here with the sizes. */
static int check_length(ac_imgin_t *in, long long file_size, ac_err_t *e)
{
    LONGLONG datastart = 0;
    long long naxis, elems = 1, bytes, need;
    int status = 0;
    char key[16];

    if (fits_get_hduaddrll(in->f, NULL, &datastart, NULL, &status) != 0)
        return fits_fail(e, status, in->path, "locating the data unit");
    naxis = key_ll(in->f, "NAXIS", 0);
    for (long long i = 1; i <= naxis && i <= 999; i++) {
        snprintf(key, sizeof key, "NAXIS%lld", i);
        long long n = key_ll(in->f, key, 0);
        if (n < 0 || __builtin_mul_overflow(elems, n, &elems))
            return ac_err_set(e, AC_EFORMAT, "%s: %s = %lld is not a valid axis length",
                              in->path, key, n);
    }
    if (naxis == 0)
        elems = 0;
    if (__builtin_add_overflow(elems, key_ll(in->f, "PCOUNT", 0), &elems) ||
        __builtin_mul_overflow(elems, key_ll(in->f, "GCOUNT", 1), &elems) ||
        __builtin_mul_overflow(elems, llabs(key_ll(in->f, "BITPIX", 8)) / 8, &bytes) ||
        __builtin_add_overflow(bytes, 2879LL, &bytes) ||
        __builtin_add_overflow(bytes / 2880 * 2880, (long long)datastart, &need))
        return ac_err_set(e, AC_EFORMAT, "%s: data size overflows", in->path);
    if (need > file_size)
        return ac_err_set(e, AC_EFITS, "%s: truncated: data needs %lld bytes, file has %lld",
                          in->path, need, file_size);
    return 0;
}

/* find_image moves to the first HDU holding image data and checks its shape and type.
 * HDUs are visited one by one (not counted first), so a plain image file never has more
 * than its primary header read. */
static int find_image(ac_imgin_t *in, ac_err_t *e)
{
    int status = 0, hdutype, bitpix = 0, naxis = 0, tables = 0, i;
    LONGLONG naxes[9];

    for (i = 1;; i++) {
        if (i > 1 && fits_movrel_hdu(in->f, 1, NULL, &status) != 0) {
            if (status == END_OF_FILE)
                break;
            return fits_fail(e, status, in->path, "moving to the next HDU");
        }
        if (fits_get_hdu_type(in->f, &hdutype, &status) != 0)
            return fits_fail(e, status, in->path, "reading the HDU type");
        if (hdutype != IMAGE_HDU) {
            tables++;
            continue;
        }
        memset(naxes, 0, sizeof naxes);
        if (fits_get_img_paramll(in->f, 9, &bitpix, &naxis, naxes, &status) != 0)
            return fits_fail(e, status, in->path, "reading the image parameters");
        bool empty = naxis == 0;
        for (int k = 0; k < naxis && k < 9; k++)
            if (naxes[k] == 0)
                empty = true;
        if (empty)
            continue;
        /* The first HDU with data is the image: check it, never look further. */
        if (naxis > 3 || naxis < 2)
            return ac_err_set(e, AC_EFORMAT,
                              "%s: HDU %d has NAXIS = %d: only 2-D images are supported",
                              in->path, i, naxis);
        if (naxis == 3 && naxes[2] == 3)
            return ac_err_set(e, AC_EFORMAT,
                              "%s: HDU %d has NAXIS3 = 3: colour cubes are not supported",
                              in->path, i);
        if (naxis == 3 && naxes[2] != 1)
            return ac_err_set(e, AC_EFORMAT,
                              "%s: HDU %d has NAXIS3 = %lld: data cubes are not supported",
                              in->path, i, (long long)naxes[2]);
        if (bitpix == LONGLONG_IMG)
            return ac_err_set(e, AC_EFORMAT,
                              "%s: HDU %d has BITPIX = 64: 64-bit integer images are not "
                              "supported (only 8, 16, 32, -32 and -64)",
                              in->path, i);
        if (bitpix != BYTE_IMG && bitpix != SHORT_IMG && bitpix != LONG_IMG &&
            bitpix != FLOAT_IMG && bitpix != DOUBLE_IMG)
            return ac_err_set(e, AC_EFORMAT,
                              "%s: HDU %d has BITPIX = %d: only 8, 16, 32, -32 and -64 are "
                              "supported",
                              in->path, i, bitpix);
        if (naxes[0] > INT_MAX || naxes[1] > INT_MAX ||
            (unsigned long long)naxes[0] * (unsigned long long)naxes[1] >
                (unsigned long long)(SIZE_MAX / sizeof(double)))
            return ac_err_set(e, AC_EFORMAT, "%s: image of %lld x %lld pixels is too large",
                              in->path, (long long)naxes[0], (long long)naxes[1]);
        in->bitpix = bitpix;
        in->w = (long)naxes[0];
        in->h = (long)naxes[1];
        in->compressed = fits_is_compressed_image(in->f, &status) != 0;
        return 0;
    }
    return ac_err_set(e, AC_EFORMAT,
                      "%s: no image data: none of its %d HDUs holds an image (NAXIS = 0%s)",
                      in->path, i - 1, tables > 0 ? " or tables only" : "");
}

/* read_header copies the image's header into in->hdr as 80-character cards (without
 * END). fits_convert_hdr2str gives, for a tile-compressed image, the header of the
 * uncompressed image (ZBITPIX, ZNAXISn... mapped back), and the plain header otherwise. */
static int read_header(ac_imgin_t *in, ac_err_t *e)
{
    char *str = NULL, card[AC_CARD_LEN + 1], key[9];
    int status = 0, nkeys = 0, rc = 0;

    if (fits_convert_hdr2str(in->f, 0, NULL, 0, &str, &nkeys, &status) != 0)
        return fits_fail(e, status, in->path, "reading the header");
    for (int i = 0; i < nkeys; i++) {
        memcpy(card, str + (size_t)i * AC_CARD_LEN, AC_CARD_LEN);
        card[AC_CARD_LEN] = '\0';
        if (card[0] == '\0')
            break;
        memcpy(key, card, 8);
        key[8] = '\0';
        if (strcmp(ac_str_trim(key), "END") == 0)
            break;
        if ((rc = ac_hdr_append_raw(&in->hdr, card)) != 0) {
            ac_err_set(e, rc, "%s: no memory for the header", in->path);
            break;
        }
    }
    fits_free_memory(str, &status);
    return rc;
}

/* choose_read decides how strips are read (see the file comment). */
static int choose_read(ac_imgin_t *in, ac_err_t *e)
{
    int status = 0;
    bool integer = in->bitpix > 0;
    bool ushort_fast;

    in->bzero = in->meta.bzero;
    in->bscale = in->meta.bscale;
    /* BLANK (integer data): our loop maps it to NaN; for compressed data it only rules
     * out the TUSHORT path, since the TDOUBLE path gets NaN from cfitsio. */
    if (integer &&
        (ac_hdr_find(&in->hdr, "BLANK") >= 0 || ac_hdr_find(&in->hdr, "ZBLANK") >= 0)) {
        double b;
        if (ac_hdr_get_double(&in->hdr, "BLANK", &b) ||
            ac_hdr_get_double(&in->hdr, "ZBLANK", &b)) {
            in->has_blank = true;
            in->blank = (long long)b;
        }
    }
    ushort_fast =
        in->bitpix == SHORT_IMG && in->bzero == 32768.0 && in->bscale == 1.0 && !in->has_blank;
    in->apply_scaling = false;
    if (ushort_fast) {
        /* cfitsio's own scaling (BZERO 32768) stays on: exact and one large read. */
        in->dtype = TUSHORT;
        return 0;
    }
    if (in->compressed) {
        bool plain_float = in->bitpix == FLOAT_IMG && in->bzero == 0 && in->bscale == 1;
        in->dtype = plain_float ? TFLOAT : TDOUBLE;
        return 0;
    }
    switch (in->bitpix) {
    case BYTE_IMG:
        in->dtype = TBYTE;
        break;
    case SHORT_IMG:
        in->dtype = TSHORT;
        break;
    case LONG_IMG:
        in->dtype = TINT;
        break;
    case FLOAT_IMG:
        in->dtype = TFLOAT;
        break;
    default:
        in->dtype = TDOUBLE;
        break;
    }
    in->apply_scaling = in->bzero != 0 || in->bscale != 1 || in->has_blank;
    if (fits_set_bscale(in->f, 1.0, 0.0, &status) != 0)
        return fits_fail(e, status, in->path, "turning off scaling");
    return 0;
}

int ac_imgio_open(const char *path, ac_imgin_t **out, ac_err_t *e)
{
    ac_imgin_t *in = NULL;
    long long size = 0;
    bool plain = false;
    int status = 0, rc;

    *out = NULL;
    if ((rc = sniff(path, &plain, &size, e)) != 0)
        return rc;
    in = calloc(1, sizeof *in);
    if (in == NULL)
        return ac_err_set(e, -ENOMEM, "%s: no memory for a reader", path);
    ac_hdr_init(&in->hdr);
    ac_strlcpy(in->path, path, sizeof in->path);
    /* fits_open_diskfile: the path is a plain file name, never cfitsio's extended syntax
     * (brackets and '!' in names are legal). */
    if (fits_open_diskfile(&in->f, path, READONLY, &status) != 0) {
        in->f = NULL;
        if (plain && size < 2880)
            rc = ac_err_set(e, AC_EFITS,
                            "%s: truncated: a header needs at least 2880 bytes, file has %lld",
                            path, size);
        else
            rc = fits_fail(e, status, path, "opening");
        goto fail;
    }
    if ((rc = find_image(in, e)) != 0)
        goto fail;
    if (plain && (rc = check_length(in, size, e)) != 0)
        goto fail;
    if ((rc = read_header(in, e)) != 0)
        goto fail;
    ac_meta_from_header(&in->meta, &in->hdr);
    /* cfitsio's view of the image is authoritative for the geometry. */
    in->meta.width = (int)in->w;
    in->meta.height = (int)in->h;
    in->meta.bitpix = in->bitpix;
    if ((rc = choose_read(in, e)) != 0)
        goto fail;
    *out = in;
    return 0;
fail:
    ac_imgio_close(in);
    return rc;
}

const ac_hdr_t *ac_imgio_header(const ac_imgin_t *in)
{
    return &in->hdr;
}

const ac_meta_t *ac_imgio_meta(const ac_imgin_t *in)
{
    return &in->meta;
}

const char *ac_imgio_path(const ac_imgin_t *in)
{
    return in->path;
}

/* elem_size is the size of one value of cfitsio type t as read into memory. */
static size_t elem_size(int t)
{
    switch (t) {
    case TBYTE:
        return 1;
    case TSHORT:
    case TUSHORT:
        return 2;
    case TINT:
        return sizeof(int);
    case TFLOAT:
        return sizeof(float);
    default:
        return sizeof(double);
    }
}

/* Conversion loops: out = raw * bscale + bzero, with BLANK -> NaN for integer data. */
#define CONVERT(type)                                                                          \
    do {                                                                                       \
        const type *r = raw;                                                                   \
        if (in->has_blank) {                                                                   \
            for (size_t i = 0; i < n; i++)                                                     \
                out[i] = (long long)r[i] == in->blank ? NAN : (float)(r[i] * bs + bz);         \
        } else if (bs == 1.0) {                                                                \
            for (size_t i = 0; i < n; i++)                                                     \
                out[i] = (float)(r[i] + bz);                                                   \
        } else {                                                                               \
            for (size_t i = 0; i < n; i++)                                                     \
                out[i] = (float)(r[i] * bs + bz);                                              \
        }                                                                                      \
    } while (0)

static void convert(const ac_imgin_t *in, const void *raw, size_t n, float *out)
{
    const double bs = in->apply_scaling ? in->bscale : 1.0;
    const double bz = in->apply_scaling ? in->bzero : 0.0;

    switch (in->dtype) {
    case TBYTE:
        CONVERT(unsigned char);
        break;
    case TSHORT:
        CONVERT(short);
        break;
    case TUSHORT: {
        const unsigned short *r = raw;
        for (size_t i = 0; i < n; i++)
            out[i] = (float)r[i];
        break;
    }
    case TINT:
        CONVERT(int);
        break;
    case TFLOAT: {
        const float *r = raw;
        for (size_t i = 0; i < n; i++)
            out[i] = (float)(r[i] * bs + bz);
        break;
    }
    default: {
        const double *r = raw;
        for (size_t i = 0; i < n; i++)
            out[i] = (float)(r[i] * bs + bz);
        break;
    }
    }
}

int ac_imgio_read_rows(ac_imgin_t *in, int y0, int nrows, float *out, ac_err_t *e)
{
    LONGLONG fpixel[3] = {1, (LONGLONG)y0 + 1, 1};
    size_t n, need;
    double dnull = NAN;
    float fnull = NAN;
    void *dst, *nulval = NULL;
    int status = 0, anynul = 0;
    char what[96];

    if (y0 < 0 || nrows < 0 || (long)y0 + nrows > in->h)
        return ac_err_set(e, -EINVAL, "%s: rows %d..%d are outside the image (height %ld)",
                          in->path, y0, y0 + nrows - 1, in->h);
    if (nrows == 0)
        return 0;
    n = (size_t)nrows * (size_t)in->w;
    if (in->dtype == TFLOAT && !in->apply_scaling) {
        dst = out; /* float data without scaling: straight into the caller's strip */
    } else {
        need = n * elem_size(in->dtype);
        if (need > in->raw_cap) {
            void *p = realloc(in->raw, need);
            if (p == NULL)
                return ac_err_set(e, -ENOMEM, "%s: no memory for a %d-row strip", in->path,
                                  nrows);
            in->raw = p;
            in->raw_cap = need;
        }
        dst = in->raw;
    }
    /* Undefined pixels of compressed images (ZBLANK, BLANK) become NaN. */
    if (in->compressed && in->dtype == TDOUBLE)
        nulval = &dnull;
    else if (in->compressed && in->dtype == TFLOAT)
        nulval = &fnull;
    if (fits_read_pixll(in->f, in->dtype, fpixel, (LONGLONG)n, nulval, dst, &anynul, &status) !=
        0) {
        snprintf(what, sizeof what, "reading rows %d..%d", y0, y0 + nrows - 1);
        return fits_fail(e, status, in->path, what);
    }
    if (dst != out)
        convert(in, dst, n, out);
    return 0;
}

void ac_imgio_close(ac_imgin_t *in)
{
    int status = 0;

    if (in == NULL)
        return;
    if (in->f != NULL)
        fits_close_file(in->f, &status);
    ac_hdr_free(&in->hdr);
    free(in->raw);
    free(in);
}

int ac_imgio_load_image(const char *path, ac_image_t *img, ac_err_t *e)
{
    ac_imgin_t *in = NULL;
    int rc;

    memset(img, 0, sizeof *img);
    if ((rc = ac_imgio_open(path, &in, e)) != 0)
        return rc;
    img->w = (int)in->w;
    img->h = (int)in->h;
    img->meta = in->meta;
    ac_strlcpy(img->path, path, sizeof img->path);
    img->px = malloc((size_t)img->w * (size_t)img->h * sizeof *img->px);
    if (img->px == NULL) {
        rc = ac_err_set(e, -ENOMEM, "%s: no memory for a %d x %d image", path, img->w, img->h);
        goto fail;
    }
    for (int y = 0; y < img->h; y += LOAD_STRIP_ROWS) {
        int nr = img->h - y < LOAD_STRIP_ROWS ? img->h - y : LOAD_STRIP_ROWS;
        rc = ac_imgio_read_rows(in, y, nr, img->px + (size_t)y * (size_t)img->w, e);
        if (rc != 0)
            goto fail;
    }
    ac_imgio_close(in);
    in = NULL;
    if ((rc = ac_digest_file(path, AC_DIGEST_MD5, img->md5, sizeof img->md5, e)) != 0)
        goto fail;
    if ((rc = ac_image_analyse(img)) != 0) {
        ac_err_set(e, rc, "%s: cannot analyse the image: %s", path, ac_strerror(rc));
        goto fail;
    }
    return 0;
fail:
    ac_imgio_close(in);
    free(img->px);
    img->px = NULL;
    return rc;
}

int ac_imgio_read_header(const char *path, ac_hdr_t *hdr, ac_meta_t *meta, ac_err_t *e)
{
    ac_imgin_t *in = NULL;
    int rc;

    if (hdr != NULL)
        ac_hdr_init(hdr);
    if ((rc = ac_imgio_open(path, &in, e)) != 0)
        return rc;
    if (hdr != NULL && (rc = ac_hdr_copy(hdr, &in->hdr)) != 0)
        ac_err_set(e, rc, "%s: no memory for the header", path);
    if (rc == 0 && meta != NULL)
        *meta = in->meta;
    ac_imgio_close(in);
    return rc;
}
