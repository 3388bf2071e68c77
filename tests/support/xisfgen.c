/*
 * xisfgen.c - the test-only XISF writer (see xisfgen.h).
 */
#include "xisfgen.h"

#include <endian.h>
#include <fitsio.h>
#include <lz4.h>
#include <openssl/evp.h>
#include <lz4hc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define ALIGN 4096

/* block makes the stored bytes: byte order, shuffling, compression. *out is malloc'ed. */
static int block(const ac_xisfgen_t *g, unsigned char **out, size_t *len, size_t *usize)
{
    size_t sb = (size_t)g->sbytes,
           items = (size_t)g->w * (size_t)g->h * (size_t)(g->channels > 0 ? g->channels : 1);
    size_t n = items * sb, cap;
    unsigned char *raw = malloc(n), *sh = malloc(n), *dst = NULL;
    int rc = -1;

    if (raw == NULL || sh == NULL)
        goto out;
    memcpy(raw, g->px, n);
    if (g->big_endian != (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__))
        for (size_t i = 0; i < items; i++)
            for (size_t k = 0; k < sb / 2; k++) {
                unsigned char t = raw[i * sb + k];
                raw[i * sb + k] = raw[i * sb + sb - 1 - k];
                raw[i * sb + sb - 1 - k] = t;
            }
    if (g->shuffle)
        for (size_t i = 0; i < items; i++)
            for (size_t k = 0; k < sb; k++)
                sh[k * items + i] = raw[i * sb + k];
    else
        memcpy(sh, raw, n);
    *usize = n;
    if (g->codec == NULL) {
        *out = sh, *len = n, sh = NULL, rc = 0;
        goto out;
    }
    cap = n + n / 8 + 1024 + (size_t)LZ4_compressBound((int)n) + ZSTD_compressBound(n);
    if ((dst = malloc(cap)) == NULL)
        goto out;
    if (strcmp(g->codec, "zlib") == 0) {
        uLongf l = (uLongf)cap;
        if (compress2(dst, &l, sh, (uLong)n, 6) == Z_OK)
            *len = (size_t)l, rc = 0;
    } else if (strcmp(g->codec, "lz4") == 0 || strcmp(g->codec, "lz4hc") == 0) {
        int l = g->codec[3] == 'h'
                    ? LZ4_compress_HC((const char *)sh, (char *)dst, (int)n, (int)cap, 9)
                    : LZ4_compress_default((const char *)sh, (char *)dst, (int)n, (int)cap);
        if (l > 0)
            *len = (size_t)l, rc = 0;
    } else if (strcmp(g->codec, "zstd") == 0) {
        size_t l = ZSTD_compress(dst, cap, sh, n, 3);
        if (!ZSTD_isError(l))
            *len = l, rc = 0;
    }
    if (rc == 0)
        *out = dst, dst = NULL;
    else
        fprintf(stderr, "xisfgen: cannot compress with %s\n", g->codec);
out:
    free(raw);
    free(sh);
    free(dst);
    return rc;
}

/* checksum writes ' checksum="alg:hex"' of the n bytes at data into out. */
static void checksum(const char *alg, const unsigned char *data, size_t n, char *out,
                     size_t size)
{
    const EVP_MD *md = strstr(alg, "512")   ? EVP_sha512()
                       : strstr(alg, "256") ? EVP_sha256()
                                            : EVP_sha1();
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int l = 0;
    int o = snprintf(out, size, " checksum=\"%s:", alg);

    EVP_Digest(data, n, d, &l, md, NULL);
    for (unsigned int i = 0; i < l; i++)
        o += snprintf(out + o, size - (size_t)o, "%02x", d[i]);
    snprintf(out + o, size - (size_t)o, "\"");
}

static char *xml_for(const ac_xisfgen_t *g, long long pos, size_t len, size_t usize,
                     const char *ck)
{
    char loc[96], comp[96], cs[64] = "";
    char *x = NULL;

    snprintf(loc, sizeof loc, "attachment:%lld:%zu", pos, len);
    comp[0] = '\0';
    if (g->compression != NULL)
        snprintf(comp, sizeof comp, " compression=\"%s\"", g->compression);
    else if (g->codec != NULL && g->shuffle)
        snprintf(comp, sizeof comp, " compression=\"%s+sh:%zu:%d\"", g->codec, usize,
                 g->sbytes);
    else if (g->codec != NULL)
        snprintf(comp, sizeof comp, " compression=\"%s:%zu\"", g->codec, usize);
    if (g->color_space != NULL)
        snprintf(cs, sizeof cs, " colorSpace=\"%s\"", g->color_space);
    if (asprintf(&x,
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<!--\nExtensible Image Serialization Format - XISF version 1.0\n-->\n"
                 "<xisf version=\"1.0\" xmlns=\"http://www.pixinsight.com/xisf\" "
                 "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
                 "<Image geometry=\"%d:%d:%d\" sampleFormat=\"%s\"%s%s%s location=\"%s\"%s%s>\n"
                 "%s</Image>\n"
                 "<Metadata>\n<Property id=\"XISF:CreatorApplication\" type=\"String\">"
                 "astrocald tests</Property>\n</Metadata>\n</xisf>",
                 g->w, g->h, g->channels > 0 ? g->channels : 1, g->sample, cs,
                 g->big_endian ? " byteOrder=\"big\"" : "",
                 g->image_attrs != NULL ? g->image_attrs : "",
                 g->location != NULL ? g->location : loc, comp, ck,
                 g->children != NULL ? g->children : "") < 0)
        return NULL;
    return x;
}

int ac_xisfgen_write(const char *path, const ac_xisfgen_t *g)
{
    unsigned char *data = NULL, pre[16] = "XISF0100";
    size_t len = 0, usize = 0;
    long long pos = ALIGN;
    char *xml = NULL, ck[160] = "";
    FILE *f = NULL;
    int rc = -1;

    if (block(g, &data, &len, &usize) != 0)
        return -1;
    if (g->checksum != NULL)
        checksum(g->checksum, data, len, ck, sizeof ck);
    for (;;) {
        free(xml);
        if ((xml = xml_for(g, pos, len, usize, ck)) == NULL)
            goto out;
        if (16 + (long long)strlen(xml) <= pos)
            break;
        pos += ALIGN;
    }
    if (g->flip_byte > 0 && (size_t)g->flip_byte < len)
        data[g->flip_byte] ^= 0xff;
    uint32_t xl = htole32((uint32_t)strlen(xml));
    memcpy(pre + 8, &xl, 4);
    if ((f = fopen(path, "wb")) == NULL)
        goto out;
    fwrite(pre, 1, 16, f);
    fwrite(xml, 1, strlen(xml), f);
    for (long long p = 16 + (long long)strlen(xml); p < pos; p++)
        fputc(0, f);
    fwrite(data, 1, len, f);
    int closed = fclose(f);
    f = NULL;
    if (closed != 0)
        goto out;
    if (g->cut > 0 && truncate(path, (off_t)g->cut) != 0)
        goto out;
    rc = 0;
out:
    if (f != NULL)
        fclose(f);
    if (rc != 0)
        fprintf(stderr, "xisfgen: cannot write %s\n", path);
    free(xml);
    free(data);
    return rc;
}

/* add appends s to the buffer *b (length *n, capacity *cap), XML-escaped for an attribute
 * value when escape. */
static void add(char **b, size_t *n, size_t *cap, const char *s, bool escape)
{
    for (; *s != '\0'; s++) {
        const char *r = !escape     ? NULL
                        : *s == '&' ? "&amp;"
                        : *s == '<' ? "&lt;"
                        : *s == '>' ? "&gt;"
                        : *s == '"' ? "&quot;"
                                    : NULL;
        size_t l = r != NULL ? strlen(r) : 1;
        if (*n + l + 1 > *cap) {
            *cap = (*cap + l + 1) * 2;
            if ((*b = realloc(*b, *cap)) == NULL)
                abort();
        }
        memcpy(*b + *n, r != NULL ? r : s, l);
        *n += l;
        (*b)[*n] = '\0';
    }
}

int ac_xisfgen_from_fits(const char *fits, const char *xisf, const char *codec, bool shuffle)
{
    static const char *const skip[] = {"SIMPLE", "BITPIX", "NAXIS",  "NAXIS1", "NAXIS2",
                                       "EXTEND", "BZERO",  "BSCALE", "END",    NULL};
    fitsfile *f = NULL;
    int status = 0, nkeys = 0, bitpix = 0, rc = -1;
    long ax[2] = {0, 0};
    char *kw = NULL, card[FLEN_CARD], key[FLEN_KEYWORD], val[FLEN_VALUE], com[FLEN_COMMENT];
    size_t n = 0, cap = 0;
    void *px = NULL;

    if (fits_open_diskfile(&f, fits, READONLY, &status) != 0 ||
        fits_get_img_param(f, 2, &bitpix, NULL, ax, &status) != 0 ||
        fits_get_hdrspace(f, &nkeys, NULL, &status) != 0)
        goto out;
    add(&kw, &n, &cap, "", false);
    for (int i = 1; i <= nkeys; i++) {
        int len = 0, sk = 0;
        if (fits_read_record(f, i, card, &status) != 0 ||
            fits_get_keyname(card, key, &len, &status) != 0)
            goto out;
        for (int k = 0; skip[k] != NULL; k++)
            sk |= strcmp(key, skip[k]) == 0;
        if (sk)
            continue;
        val[0] = com[0] = '\0';
        if (strcmp(key, "HISTORY") == 0 || strcmp(key, "COMMENT") == 0)
            snprintf(com, sizeof com, "%s", card + 8);
        else if (fits_parse_value(card, val, com, &status) != 0)
            goto out;
        add(&kw, &n, &cap, "<FITSKeyword name=\"", false);
        add(&kw, &n, &cap, key, true);
        add(&kw, &n, &cap, "\" value=\"", false);
        add(&kw, &n, &cap, val, true);
        add(&kw, &n, &cap, "\" comment=\"", false);
        add(&kw, &n, &cap, com, true);
        add(&kw, &n, &cap, "\"/>\n", false);
    }
    size_t npx = (size_t)ax[0] * (size_t)ax[1];
    int type = bitpix == 16 ? TUSHORT : TFLOAT;
    if ((px = malloc(npx * 4)) == NULL ||
        fits_read_img(f, type, 1, (LONGLONG)npx, NULL, px, NULL, &status) != 0)
        goto out;
    ac_xisfgen_t g = {.w = (int)ax[0],
                      .h = (int)ax[1],
                      .sample = bitpix == 16 ? "UInt16" : "Float32",
                      .sbytes = bitpix == 16 ? 2 : 4,
                      .px = px,
                      .codec = codec,
                      .shuffle = shuffle,
                      .children = kw};
    if (bitpix != 16 && bitpix != -32) {
        fprintf(stderr, "xisfgen: %s: BITPIX %d not handled\n", fits, bitpix);
        goto out;
    }
    rc = ac_xisfgen_write(xisf, &g);
out:
    if (status != 0)
        fprintf(stderr, "xisfgen: %s: cfitsio status %d\n", fits, status);
    if (f != NULL)
        fits_close_file(f, &(int){0});
    free(kw);
    free(px);
    return rc;
}
