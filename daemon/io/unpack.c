/*
 * unpack.c - XISF to FITS and FITS out of ZIP archives, as AstroFiler's importer does
 * (adapter; see unpack.h for the rules).
 *
 * Ownership: everything is released before returning.
 * Thread: any thread.
 */
#include "unpack.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

#include "hdr.h"
#include "imgio.h"
#include "outfile.h"
#include "util.h"
#include "xisf.h"

/* Bytes per write of a conversion or extraction. */
#define CHUNK (1u << 20)

static int write_all(ac_outfile_t *f, const void *buf, size_t n, ac_err_t *e)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return ac_err_set(e, -errno, "%s: write failed: %s", f->path, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int finish(ac_outfile_t *f, ac_err_t *e)
{
    if (fdatasync(f->fd) != 0) {
        int rc = ac_err_set(e, -errno, "%s: sync failed: %s", f->path, strerror(errno));
        ac_outfile_discard(f);
        return rc;
    }
    return ac_outfile_commit(f, true, e);
}

static bool newer_or_same(const struct stat *a, const struct stat *b)
{
    return a->st_mtim.tv_sec > b->st_mtim.tv_sec ||
           (a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec >= b->st_mtim.tv_nsec);
}

/* ---- XISF ---- */

/* fits_header builds the converted file's header: the mandatory cards for bitpix, the
 * XISF's cards in order (without the reader's structural ones), XISFFILE. */
static int fits_header(const ac_hdr_t *src, int bitpix, int w, int h, const char *base,
                       ac_hdr_t *out)
{
    char key[9];
    int rc;

    if ((rc = ac_hdr_add_bool(out, "SIMPLE", true, "conforms to FITS standard")) != 0 ||
        (rc = ac_hdr_add_int(out, "BITPIX", bitpix, NULL)) != 0 ||
        (rc = ac_hdr_add_int(out, "NAXIS", 2, NULL)) != 0 ||
        (rc = ac_hdr_add_int(out, "NAXIS1", w, NULL)) != 0 ||
        (rc = ac_hdr_add_int(out, "NAXIS2", h, NULL)) != 0)
        return rc;
    if (bitpix == 16 && ((rc = ac_hdr_add_int(out, "BZERO", 32768, NULL)) != 0 ||
                         (rc = ac_hdr_add_int(out, "BSCALE", 1, NULL)) != 0))
        return rc;
    for (size_t i = 0; i < src->n; i++) {
        ac_hdr_card_key(src, i, key);
        if (!ac_xisf_structural(key) && (rc = ac_hdr_append_raw(out, src->cards[i])) != 0)
            return rc;
    }
    return ac_hdr_set_str(out, "XISFFILE", base, "converted from this XISF file");
}

/* encode stores n float samples as big-endian FITS data of bitpix into dst. */
static void encode(const float *px, size_t n, int bitpix, unsigned char *dst)
{
    for (size_t i = 0; i < n; i++) {
        if (bitpix == 8) {
            dst[i] = (unsigned char)px[i];
        } else if (bitpix == 16) {
            uint16_t v = htobe16((uint16_t)((uint16_t)px[i] ^ 0x8000u));
            memcpy(dst + 2 * i, &v, 2);
        } else {
            uint32_t v;
            memcpy(&v, &px[i], 4);
            v = htobe32(v);
            memcpy(dst + 4 * i, &v, 4);
        }
    }
}

/* convert writes the FITS file dst from the open XISF reader in. */
static int convert(ac_imgin_t *in, const char *src, const char *dst, ac_err_t *e)
{
    const ac_meta_t *m = ac_imgio_meta(in);
    int bitpix = m->bitpix == 8 || m->bitpix == 16 ? m->bitpix : -32;
    size_t sb = (size_t)abs(bitpix) / 8, w = (size_t)m->width, rows = CHUNK / (w * 4) + 1;
    ac_hdr_t hdr;
    ac_outfile_t f;
    float *px = malloc(rows * w * sizeof *px);
    unsigned char *buf = malloc(rows * w * sb > 2880 ? rows * w * sb : 2880);
    size_t total = 0;
    int rc;

    ac_hdr_init(&hdr);
    ac_outfile_init(&f);
    if (px == NULL || buf == NULL) {
        rc = ac_err_set(e, -ENOMEM, "%s: no memory to convert it", src);
        goto out;
    }
    if ((rc = fits_header(ac_imgio_header(in), bitpix, m->width, m->height, ac_path_base(src),
                          &hdr)) != 0) {
        ac_err_set(e, rc, "%s: the FITS header cannot be made", src);
        goto out;
    }
    if ((rc = ac_outfile_create(&f, dst, e)) != 0)
        goto out;
    for (size_t i = 0; i <= hdr.n && rc == 0; i++) {
        char end[AC_CARD_LEN + 1];
        snprintf(end, sizeof end, "%-80s", "END");
        rc = write_all(&f, i < hdr.n ? hdr.cards[i] : end, AC_CARD_LEN, e);
    }
    memset(buf, ' ', 2880);
    if (rc == 0 && (hdr.n + 1) % 36 != 0)
        rc = write_all(&f, buf, (36 - (hdr.n + 1) % 36) * AC_CARD_LEN, e);
    for (int y = 0; rc == 0 && y < m->height; y += (int)rows) {
        int nr = m->height - y < (int)rows ? m->height - y : (int)rows;
        if ((rc = ac_imgio_read_rows(in, y, nr, px, e)) != 0)
            break;
        encode(px, (size_t)nr * w, bitpix, buf);
        rc = write_all(&f, buf, (size_t)nr * w * sb, e);
        total += (size_t)nr * w * sb;
    }
    memset(buf, 0, 2880);
    if (rc == 0 && total % 2880 != 0)
        rc = write_all(&f, buf, 2880 - total % 2880, e);
    if (rc == 0)
        rc = finish(&f, e);
out:
    ac_outfile_discard(&f);
    ac_hdr_free(&hdr);
    free(px);
    free(buf);
    return rc;
}

int ac_unpack_xisf(const char *src, char *out, size_t size, bool *reused, ac_err_t *e)
{
    const char *base = ac_path_base(src), *dot = strrchr(base, '.');
    struct stat ss, ds;
    ac_imgin_t *in = NULL;
    ac_hdr_t hdr;
    char conv[NAME_MAX + 1];
    int n, rc;

    *reused = false;
    n = snprintf(out, size, "%.*s.fits", (int)(dot != NULL ? dot - src : (long)strlen(src)),
                 src);
    if (n < 0 || (size_t)n >= size)
        return ac_err_set(e, -ENAMETOOLONG, "%s: the converted file's name is too long", src);
    if (stat(src, &ss) != 0)
        return ac_err_set(e, -errno, "%s: cannot stat: %s", src, strerror(errno));
    if (lstat(out, &ds) == 0) {
        ac_hdr_init(&hdr);
        ac_err_t ignore = {0};
        bool ours =
            S_ISREG(ds.st_mode) && ac_imgio_read_header(out, &hdr, NULL, &ignore) == 0 &&
            ac_hdr_get_value(&hdr, "XISFFILE", conv, sizeof conv) && strcmp(conv, base) == 0;
        ac_hdr_free(&hdr);
        if (!ours)
            return ac_err_set(e, AC_EFORMAT,
                              "%s: %s exists and is not a conversion of this file: not "
                              "overwritten",
                              src, out);
        if (newer_or_same(&ds, &ss)) {
            *reused = true;
            return 0;
        }
    }
    if ((rc = ac_imgio_open(src, &in, e)) != 0)
        return rc;
    rc = convert(in, src, out, e);
    ac_imgio_close(in);
    return rc;
}

/* ---- ZIP ---- */

static bool fits_member(const char *name)
{
    static const char *const ext[] = {".fit", ".fits", ".fts"};
    size_t n = strlen(name);

    for (int i = 0; i < 3; i++) {
        size_t l = strlen(ext[i]);
        if (n > l && strcasecmp(name + n - l, ext[i]) == 0)
            return true;
    }
    return false;
}

/* same_file says whether path holds size bytes with CRC-32 crc. */
static bool same_file(const char *path, uint64_t size, uint32_t crc)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = malloc(CHUNK);
    uLong c = crc32(0L, Z_NULL, 0);
    uint64_t got = 0;
    size_t r;

    if (f != NULL && buf != NULL)
        while ((r = fread(buf, 1, CHUNK, f)) > 0) {
            c = crc32(c, buf, (uInt)r);
            got += r;
        }
    if (f != NULL)
        fclose(f);
    free(buf);
    return f != NULL && buf != NULL && got == size && (uint32_t)c == crc;
}

/* extract streams member idx of z into dst. */
static int extract(zip_t *z, zip_uint64_t idx, const char *src, const char *dst, ac_err_t *e)
{
    zip_file_t *zf = zip_fopen_index(z, idx, 0);
    unsigned char *buf = malloc(CHUNK);
    ac_outfile_t f;
    zip_int64_t r;
    int rc = 0;

    ac_outfile_init(&f);
    if (zf == NULL || buf == NULL) {
        rc = ac_err_set(e, zf == NULL ? AC_EFITS : -ENOMEM, "%s: cannot read its member: %s",
                        src, zf == NULL ? zip_strerror(z) : "no memory");
        goto out;
    }
    if ((rc = ac_outfile_create(&f, dst, e)) != 0)
        goto out;
    while (rc == 0 && (r = zip_fread(zf, buf, CHUNK)) > 0)
        rc = write_all(&f, buf, (size_t)r, e);
    if (rc == 0 && r < 0)
        rc = ac_err_set(e, AC_EFITS, "%s: the archive is corrupt: %s", src,
                        zip_file_strerror(zf));
    if (rc == 0)
        rc = finish(&f, e);
out:
    ac_outfile_discard(&f);
    if (zf != NULL)
        zip_fclose(zf);
    free(buf);
    return rc;
}

int ac_unpack_zip(const char *src, char *out, size_t size, int *n_fits, bool *reused,
                  ac_err_t *e)
{
    char dir[PATH_MAX];
    zip_int64_t n;
    zip_stat_t st;
    zip_t *z;
    int err = 0, rc = 0, first = -1;

    *n_fits = 0;
    *reused = false;
    if ((z = zip_open(src, ZIP_RDONLY | ZIP_CHECKCONS, &err)) == NULL) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, err);
        rc = ac_err_set(e, AC_EFITS, "%s: not a readable ZIP archive: %s", src,
                        zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return rc;
    }
    n = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; i < n; i++) {
        const char *name = zip_get_name(z, (zip_uint64_t)i, 0);
        if (name != NULL && name[0] != '\0' && name[strlen(name) - 1] != '/' &&
            fits_member(name) && (*n_fits)++ == 0)
            first = (int)i;
    }
    if (first < 0) {
        rc =
            ac_err_set(e, AC_EFORMAT, "%s: the archive holds no .fit, .fits or .fts file", src);
        goto out;
    }
    if (zip_stat_index(z, (zip_uint64_t)first, 0, &st) != 0) {
        rc = ac_err_set(e, AC_EFITS, "%s: cannot read its directory: %s", src, zip_strerror(z));
        goto out;
    }
    ac_path_dir(src, dir, sizeof dir);
    int len = snprintf(out, size, "%s/%s", dir, ac_path_base(st.name));
    if (len < 0 || (size_t)len >= size) {
        rc = ac_err_set(e, -ENAMETOOLONG, "%s: the extracted file's name is too long", src);
        goto out;
    }
    if (access(out, F_OK) == 0) {
        if (same_file(out, st.size, st.crc))
            *reused = true;
        else
            rc = ac_err_set(e, AC_EFORMAT,
                            "%s: %s exists and differs from the archive's %s: not overwritten",
                            src, out, st.name);
        goto out;
    }
    rc = extract(z, (zip_uint64_t)first, src, out, e);
out:
    zip_discard(z);
    return rc;
}
