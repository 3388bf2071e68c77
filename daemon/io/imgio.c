/*
 * imgio.c - reading FITS images through cfitsio, and XISF images through xisf.c
 * (adapter; see imgio.h).
 *
 * Opening finds the first HDU with image data (a tile-compressed image in a binary table
 * counts), checks the format and the file length, and reads the header as 80-character
 * cards (for compressed images the equivalent uncompressed header). Reading converts
 * strips of rows to float ADU:
 *  - a plain (uncompressed, not gzip) file is read here with pread: one large read of the
 *    strip's big-endian bytes, then one loop that swaps the bytes, applies BSCALE/BZERO
 *    (BLANK -> NaN) and widens to float; cfitsio is closed once the header is read. The
 *    arithmetic is that of cfitsio's TUSHORT path and of its stored-type reads, so the
 *    values are cfitsio's; 4-byte data is converted in the caller's strip;
 *  - compressed or gzip/bzip2/compress files go through cfitsio (TUSHORT for 16-bit data
 *    with BZERO 32768 and no BLANK; float as stored; else TDOUBLE with its scaling);
 *  - an XISF file (signature XISF0100) is read by xisf.c.
 * ac_imgio_load_image hashes (MD5) the bytes of a plain file as they are read, in file
 * order (header, data strips, the rest), instead of reading the file a second time.
 *
 * Ownership: ac_imgin_t owns its fitsfile, descriptor or XISF reader, header copy and raw
 * scratch buffer.
 * Thread: one reader per thread; cfitsio is built reentrant. Errors come from
 * fits_get_errstatus only, never from cfitsio's global message stack.
 */
#include "imgio.h"

#include <endian.h>
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
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "digest.h"
#include "fsutil.h"
#include "util.h"
#include "xisf.h"

/* cfitsio initialises its global lock lazily on the first open (two pool threads race on
 * it, ThreadSanitizer shows): initialise it at load time, before any thread exists. */
__attribute__((constructor)) static void imgio_init_cfitsio(void)
{
    fits_init_cfitsio();
}

/* ac_imgio_load_image reads strips of about this many bytes (small enough that the
 * bytes are still in the CPU's cache when they are hashed and converted). */
#define LOAD_STRIP_BYTES (512u << 10)
/* Chunk for hashing the bytes after the data (padding, later HDUs). */
#define TAIL_CHUNK (1u << 20)

struct ac_imgin {
    fitsfile *f;
    char path[4096];
    ac_hdr_t hdr;
    ac_meta_t meta;
    int bitpix; /* stored BITPIX (ZBITPIX for compressed images) */
    long w, h;
    bool compressed;
    int dtype;          /* cfitsio type used by fits_read_pix (cfitsio reads) */
    bool apply_scaling; /* BSCALE/BZERO/BLANK applied by our loop (plain files) */
    double bzero, bscale;
    bool has_blank; /* integer BLANK present */
    long long blank;
    bool ushort_fast; /* BITPIX 16, BZERO 32768, BSCALE 1, no BLANK */
    bool header_only; /* opened by ac_imgio_read_header: a colour cube's header is read */
    void *raw;        /* scratch for one strip, grown on demand */
    size_t raw_cap;
    /* Plain files are read with pread (f is then closed). */
    int fd;             /* -1 when cfitsio reads */
    long long data_off; /* byte offset of the data unit */
    ac_xisf_t *xisf;    /* an XISF image (xisf.h): it reads the rows */
    ac_digest_t *hash;  /* ac_imgio_load_image: MD5 of the bytes read, in file order */
    long long hashed;   /* bytes hashed so far (contiguous from 0) */
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
 * length check is skipped for them (*plain = false). An XISF file (*xisf) goes to xisf.c.
 * Everything else is not FITS. */
static int sniff(const char *path, bool *plain, bool *xisf, long long *size, ac_err_t *e)
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
    *xisf = n > 0 && ac_xisf_sniff(buf, (size_t)n);
    if (*xisf || (n >= 9 && memcmp(buf, "SIMPLE  =", 9) == 0)) {
        *plain = true;
    } else if (n >= 2 && ((buf[0] == 0x1f && (buf[1] == 0x8b || buf[1] == 0x9d)) ||
                          (n >= 3 && memcmp(buf, "BZh", 3) == 0))) {
        *plain = false;
    } else {
        rc = ac_err_set(e, AC_EFITS, "%s: not a FITS file (%s)", path,
                        n == 0 ? "the file is empty"
                               : "it does not start with SIMPLE = nor XISF0100");
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
        if (naxis == 3 && naxes[2] == 3 && !in->header_only)
            return ac_err_set(e, AC_EFORMAT,
                              "%s: HDU %d has NAXIS3 = 3: colour cubes are not supported",
                              in->path, i);
        if (naxis == 3 && naxes[2] != 1 && !(naxes[2] == 3 && in->header_only))
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

/* use_pread switches a plain, uncompressed file to our own reads: it notes where the data
 * starts, opens a descriptor of its own and closes cfitsio's file. */
static int use_pread(ac_imgin_t *in, ac_err_t *e)
{
    LONGLONG datastart = 0;
    int status = 0, rc;

    if (fits_get_hduaddrll(in->f, NULL, &datastart, NULL, &status) != 0)
        return fits_fail(e, status, in->path, "locating the data unit");
    in->fd = open(in->path, O_RDONLY | O_CLOEXEC);
    if (in->fd < 0) {
        rc = -errno;
        return ac_err_set(e, rc, "%s: cannot open: %s", in->path, strerror(-rc));
    }
#ifdef POSIX_FADV_SEQUENTIAL
    (void)posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    in->data_off = (long long)datastart;
    fits_close_file(in->f, &status);
    in->f = NULL;
    return 0;
}

/* choose_read decides how strips are read (see the file comment): our own reads for a
 * plain, uncompressed file (use_pread, below), else cfitsio with its scaling on. */
static int choose_read(ac_imgin_t *in, bool plain, ac_err_t *e)
{
    in->bzero = in->meta.bzero;
    in->bscale = in->meta.bscale;
    /* BLANK (integer data): our loop maps it to NaN, and so does cfitsio (nulval NaN). */
    if (in->bitpix > 0 &&
        (ac_hdr_find(&in->hdr, "BLANK") >= 0 || ac_hdr_find(&in->hdr, "ZBLANK") >= 0)) {
        double b;
        if (ac_hdr_get_double(&in->hdr, "BLANK", &b) ||
            ac_hdr_get_double(&in->hdr, "ZBLANK", &b)) {
            in->has_blank = true;
            in->blank = (long long)b;
        }
    }
    in->ushort_fast =
        in->bitpix == SHORT_IMG && in->bzero == 32768.0 && in->bscale == 1.0 && !in->has_blank;
    in->apply_scaling = in->bzero != 0 || in->bscale != 1 || in->has_blank;
    if (plain && !in->compressed)
        return use_pread(in, e);
    /* cfitsio: TUSHORT (exact, one large read) or float as stored; everything else as
     * TDOUBLE with cfitsio's scaling, exact for every integer type and for dequantised
     * floats, with undefined pixels (BLANK, ZBLANK, NaN) as NaN. */
    if (in->ushort_fast)
        in->dtype = TUSHORT;
    else if (in->bitpix == FLOAT_IMG && in->bzero == 0 && in->bscale == 1)
        in->dtype = TFLOAT;
    else
        in->dtype = TDOUBLE;
    return 0;
}

/* open_image opens path (ac_imgio_open); header_only accepts a colour cube (NAXIS3 = 3),
 * whose header registration reads, and reads no pixels. */
static int open_image(const char *path, bool header_only, ac_imgin_t **out, ac_err_t *e)
{
    ac_imgin_t *in = NULL;
    long long size = 0;
    bool plain = false, xisf = false;
    int status = 0, rc, xw, xh;

    *out = NULL;
    if ((rc = sniff(path, &plain, &xisf, &size, e)) != 0)
        return rc;
    in = calloc(1, sizeof *in);
    if (in == NULL)
        return ac_err_set(e, -ENOMEM, "%s: no memory for a reader", path);
    in->fd = -1;
    in->header_only = header_only;
    ac_hdr_init(&in->hdr);
    ac_strlcpy(in->path, path, sizeof in->path);
    if (xisf) {
        plain = false;
        if ((rc = ac_xisf_open(path, &in->hdr, &in->xisf, e)) != 0)
            goto fail;
        ac_xisf_geometry(in->xisf, &xw, &xh, &in->bitpix);
        in->w = xw, in->h = xh;
        goto meta;
    }
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
meta:
    ac_meta_from_header(&in->meta, &in->hdr);
    /* cfitsio's view of the image is authoritative for the geometry. */
    in->meta.width = (int)in->w;
    in->meta.height = (int)in->h;
    in->meta.bitpix = in->bitpix;
    if (!header_only && in->xisf == NULL && (rc = choose_read(in, plain, e)) != 0)
        goto fail;
    *out = in;
    return 0;
fail:
    ac_imgio_close(in);
    return rc;
}

int ac_imgio_open(const char *path, ac_imgin_t **out, ac_err_t *e)
{
    return open_image(path, false, out, e);
}

const ac_hdr_t *ac_imgio_header(const ac_imgin_t *in)
{
    return &in->hdr;
}

const ac_meta_t *ac_imgio_meta(const ac_imgin_t *in)
{
    return &in->meta;
}

size_t ac_imgio_held_bytes(const ac_imgin_t *in)
{
    return in->xisf != NULL ? ac_xisf_held_bytes(in->xisf) : 0;
}

const char *ac_imgio_path(const ac_imgin_t *in)
{
    return in->path;
}

/* Big-endian values from the file, whatever the host's byte order. */
#define BE(bits)                                                                               \
    static inline uint##bits##_t be##bits(const void *p)                                       \
    {                                                                                          \
        uint##bits##_t v;                                                                      \
        memcpy(&v, p, sizeof v);                                                               \
        return be##bits##toh(v);                                                               \
    }
BE(16)
BE(32)
BE(64)

/* BLOCK values per inner loop: a fixed trip count lets the compiler vectorise the
 * conversions at -O2. */
#define BLOCK 16

/* decode_u16 widens BITPIX 16 data with BZERO 32768 and BSCALE 1: flipping the sign bit
 * of the stored value gives the unsigned value, exactly as cfitsio's TUSHORT read. */
__attribute__((noinline)) static void decode_u16(const unsigned char *restrict src, size_t n,
                                                 float *restrict out)
{
    size_t i = 0;

    for (; i + BLOCK <= n; i += BLOCK)
        for (size_t j = 0; j < BLOCK; j++)
            out[i + j] = (float)(uint16_t)(be16(src + 2 * (i + j)) ^ 0x8000u);
    for (; i < n; i++)
        out[i] = (float)(uint16_t)(be16(src + 2 * i) ^ 0x8000u);
}

/* decode_f32 swaps BITPIX -32 data in place (buf holds the file's bytes) and applies the
 * scaling when asked. With SSE2 the swap takes 4 values at a time (bytes within 16-bit
 * halves, then the halves), which compilers do not find on their own without SSSE3. */
__attribute__((noinline)) static void decode_f32(float *buf, size_t n, bool scale, double bs,
                                                 double bz)
{
    size_t i = 0;

    if (!scale) {
#if defined(__SSE2__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        for (; i + 4 <= n; i += 4) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(buf + i));
            x = _mm_or_si128(_mm_slli_epi16(x, 8), _mm_srli_epi16(x, 8));
            x = _mm_shufflelo_epi16(x, _MM_SHUFFLE(2, 3, 0, 1));
            x = _mm_shufflehi_epi16(x, _MM_SHUFFLE(2, 3, 0, 1));
            _mm_storeu_si128((__m128i *)(void *)(buf + i), x);
        }
#endif
        for (; i < n; i++) {
            uint32_t u = be32(buf + i);
            memcpy(buf + i, &u, sizeof u);
        }
        return;
    }
    for (; i < n; i++) {
        uint32_t u = be32(buf + i);
        float f;
        memcpy(&f, &u, sizeof f);
        buf[i] = (float)(f * bs + bz);
    }
}

/* DECODE converts n values of a stored integer type from src (LOAD reads one, SZ bytes
 * apart): out = raw * BSCALE + BZERO in double, BLANK -> NaN. */
#define DECODE(type, LOAD, SZ)                                                                 \
    do {                                                                                       \
        if (in->has_blank) {                                                                   \
            for (size_t i = 0; i < n; i++) {                                                   \
                type v = (type)LOAD(src + (SZ)*i);                                             \
                out[i] = (long long)v == in->blank ? NAN : (float)(v * bs + bz);               \
            }                                                                                  \
        } else if (bs == 1.0) {                                                                \
            for (size_t i = 0; i < n; i++)                                                     \
                out[i] = (float)((type)LOAD(src + (SZ)*i) + bz);                               \
        } else {                                                                               \
            for (size_t i = 0; i < n; i++)                                                     \
                out[i] = (float)((type)LOAD(src + (SZ)*i) * bs + bz);                          \
        }                                                                                      \
    } while (0)

#define LOAD8(p) (*(p))

/* decode converts n values read from a plain file into float ADU. src holds the file's
 * bytes; for 4-byte types it is out itself (converted in place). */
static void decode(const ac_imgin_t *in, const unsigned char *src, size_t n, float *out)
{
    const double bs = in->apply_scaling ? in->bscale : 1.0;
    const double bz = in->apply_scaling ? in->bzero : 0.0;

    switch (in->bitpix) {
    case BYTE_IMG:
        DECODE(unsigned char, LOAD8, 1);
        break;
    case SHORT_IMG:
        if (in->ushort_fast)
            decode_u16(src, n, out);
        else
            DECODE(int16_t, be16, 2);
        break;
    case LONG_IMG:
        DECODE(int32_t, be32, 4);
        break;
    case FLOAT_IMG:
        decode_f32(out, n, in->apply_scaling, bs, bz);
        break;
    default: {
        for (size_t i = 0; i < n; i++) {
            uint64_t u = be64(src + 8 * i);
            double d;
            memcpy(&d, &u, sizeof d);
            out[i] = (float)(d * bs + bz);
        }
        break;
    }
    }
}

/* grow_raw makes the scratch buffer hold at least need bytes. */
static int grow_raw(ac_imgin_t *in, size_t need, int nrows, ac_err_t *e)
{
    if (need > in->raw_cap) {
        void *p = realloc(in->raw, need);
        if (p == NULL)
            return ac_err_set(e, -ENOMEM, "%s: no memory for a %d-row strip", in->path, nrows);
        in->raw = p;
        in->raw_cap = need;
    }
    return 0;
}

/* hash_bytes adds bytes read at off to the load's MD5 when they continue it; a read out
 * of order drops the hash (ac_imgio_load_image then hashes the file on its own). */
static void hash_bytes(ac_imgin_t *in, const void *buf, size_t len, long long off)
{
    if (in->hash == NULL)
        return;
    if (off != in->hashed) {
        ac_digest_free(in->hash);
        in->hash = NULL;
        return;
    }
    ac_digest_update(in->hash, buf, len);
    in->hashed += (long long)len;
}

/* read_plain reads rows of a plain file with one pread and one conversion loop. */
static int read_plain(ac_imgin_t *in, int y0, int nrows, float *out, ac_err_t *e)
{
    size_t bpp = (size_t)abs(in->bitpix) / 8, n = (size_t)nrows * (size_t)in->w;
    size_t len = n * bpp;
    long long off = in->data_off + (long long)y0 * (long long)in->w * (long long)bpp;
    unsigned char *src;
    int rc;

    if (bpp == sizeof(float)) {
        src = (unsigned char *)out;
    } else {
        if ((rc = grow_raw(in, len, nrows, e)) != 0)
            return rc;
        src = in->raw;
    }
    if ((rc = ac_fsutil_pread_full(in->fd, in->path, src, len, off, e)) != 0)
        return rc;
    hash_bytes(in, src, len, off);
    decode(in, src, n, out);
    return 0;
}

int ac_imgio_read_rows(ac_imgin_t *in, int y0, int nrows, float *out, ac_err_t *e)
{
    LONGLONG fpixel[3] = {1, (LONGLONG)y0 + 1, 1};
    size_t n;
    double dnull = NAN;
    float fnull = NAN;
    void *dst, *nulval = NULL;
    int status = 0, anynul = 0, rc;
    char what[96];

    if (y0 < 0 || nrows < 0 || (long)y0 + nrows > in->h)
        return ac_err_set(e, -EINVAL, "%s: rows %d..%d are outside the image (height %ld)",
                          in->path, y0, y0 + nrows - 1, in->h);
    if (nrows == 0)
        return 0;
    if (in->fd >= 0)
        return read_plain(in, y0, nrows, out, e);
    if (in->xisf != NULL)
        return ac_xisf_read_rows(in->xisf, y0, nrows, out, e);
    n = (size_t)nrows * (size_t)in->w;
    if (in->dtype == TFLOAT) {
        dst = out; /* float data without scaling: straight into the caller's strip */
        nulval = &fnull;
    } else {
        size_t esz = in->dtype == TUSHORT ? sizeof(unsigned short) : sizeof(double);
        if ((rc = grow_raw(in, n * esz, nrows, e)) != 0)
            return rc;
        dst = in->raw;
        nulval = in->dtype == TDOUBLE ? (void *)&dnull : NULL;
    }
    if (fits_read_pixll(in->f, in->dtype, fpixel, (LONGLONG)n, nulval, dst, &anynul, &status) !=
        0) {
        snprintf(what, sizeof what, "reading rows %d..%d", y0, y0 + nrows - 1);
        return fits_fail(e, status, in->path, what);
    }
    if (in->dtype == TUSHORT) {
        const unsigned short *r = dst;
        for (size_t i = 0; i < n; i++)
            out[i] = (float)r[i];
    } else if (in->dtype == TDOUBLE) {
        const double *r = dst;
        for (size_t i = 0; i < n; i++)
            out[i] = (float)r[i];
    }
    return 0;
}

void ac_imgio_close(ac_imgin_t *in)
{
    int status = 0;

    if (in == NULL)
        return;
    if (in->f != NULL)
        fits_close_file(in->f, &status);
    if (in->fd >= 0)
        close(in->fd);
    ac_xisf_close(in->xisf);
    ac_digest_free(in->hash);
    ac_hdr_free(&in->hdr);
    free(in->raw);
    free(in);
}

/* hash_range adds the file's bytes from in->hashed up to end (-1: to the end of the file)
 * to the load's MD5. */
static int hash_range(ac_imgin_t *in, long long end, ac_err_t *e)
{
    size_t cap = TAIL_CHUNK;
    unsigned char *buf;
    int rc = 0;

    if (end >= 0 && end - in->hashed < (long long)cap)
        cap = (size_t)(end - in->hashed);
    if (cap == 0)
        return 0;
    buf = malloc(cap);
    if (buf == NULL)
        return ac_err_set(e, -ENOMEM, "%s: no memory to hash the file", in->path);
    while (in->hash != NULL && (end < 0 || in->hashed < end)) {
        size_t want =
            end < 0 || end - in->hashed > (long long)cap ? cap : (size_t)(end - in->hashed);
        ssize_t r = pread(in->fd, buf, want, (off_t)in->hashed);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            ac_err_set(e, rc, "%s: read failed while hashing: %s", in->path, strerror(-rc));
            break;
        }
        if (r == 0) {
            if (end >= 0)
                rc = ac_err_set(e, AC_EFITS, "%s: truncated: the file ended at byte %lld",
                                in->path, in->hashed);
            break;
        }
        hash_bytes(in, buf, (size_t)r, in->hashed);
    }
    free(buf);
    return rc;
}

/* load reads the whole image at path into img, with the MD5 of the file when md5. */
static int load(const char *path, ac_image_t *img, bool md5, ac_err_t *e)
{
    ac_imgin_t *in = NULL;
    int rc, rows;

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
    /* A plain file is hashed as it is read: header, data strips, then the rest. */
    rows = 256;
    if (in->fd >= 0) {
        rows = (int)(LOAD_STRIP_BYTES / ((size_t)img->w * sizeof(float)));
        rows = rows < 1 ? 1 : rows;
    }
    if (in->fd >= 0 && md5) {
        in->hash = ac_digest_new(AC_DIGEST_MD5);
        if (in->hash == NULL) {
            rc = ac_err_set(e, -ENOMEM, "%s: no memory to hash the file", path);
            goto fail;
        }
        if ((rc = hash_range(in, in->data_off, e)) != 0)
            goto fail;
    }
    for (int y = 0; y < img->h; y += rows) {
        int nr = img->h - y < rows ? img->h - y : rows;
        rc = ac_imgio_read_rows(in, y, nr, img->px + (size_t)y * (size_t)img->w, e);
        if (rc != 0)
            goto fail;
    }
    if (in->hash != NULL && (rc = hash_range(in, -1, e)) != 0)
        goto fail;
    if (in->hash != NULL) {
        ac_digest_final(in->hash, img->md5, sizeof img->md5);
        in->hash = NULL;
    } else if (md5 &&
               (rc = ac_digest_file(path, AC_DIGEST_MD5, img->md5, sizeof img->md5, e)) != 0) {
        goto fail;
    }
    ac_imgio_close(in);
    return 0;
fail:
    ac_imgio_close(in);
    free(img->px);
    img->px = NULL;
    return rc;
}

int ac_imgio_load_image(const char *path, ac_image_t *img, ac_err_t *e)
{
    return load(path, img, true, e);
}

int ac_imgio_load_pixels(const char *path, ac_image_t *img, ac_err_t *e)
{
    return load(path, img, false, e);
}

int ac_imgio_read_header(const char *path, ac_hdr_t *hdr, ac_meta_t *meta, ac_err_t *e)
{
    ac_imgin_t *in = NULL;
    int rc;

    if (hdr != NULL)
        ac_hdr_init(hdr);
    if ((rc = open_image(path, true, &in, e)) != 0)
        return rc;
    if (hdr != NULL && (rc = ac_hdr_copy(hdr, &in->hdr)) != 0)
        ac_err_set(e, rc, "%s: no memory for the header", path);
    if (rc == 0 && meta != NULL)
        *meta = in->meta;
    ac_imgio_close(in);
    return rc;
}
