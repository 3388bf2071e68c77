/*
 * xisf.c - reading XISF 1.0 monolithic images (adapter; see xisf.h for what is read, what
 * is refused and how the header cards are made).
 *
 * File layout (XISF 1.0, "monolithic"): "XISF0100", the XML header's length (uint32,
 * little-endian), 4 reserved bytes, the XML header (UTF-8), then data blocks anywhere
 * after it, located by the Image's location="attachment:position:size" in bytes from the
 * start of the file. The header's cards are made in xisf_cards.c.
 *
 * Ownership: ac_xisf_t owns its descriptor and the decompressed block.
 * Thread: one reader per thread.
 */
#include "xisf.h"
#include "xisf_int.h"

#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <lz4.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "digest.h"
#include "fsutil.h"
#include "util.h"

/* The XML header of a monolithic file is small (a few KiB with a thumbnail reference);
 * anything above this is not a capture program's file. */
#define MAX_XML (16u << 20)

/* libxml2's global state is set up once, before any pool thread parses. */
__attribute__((constructor)) static void xisf_init_libxml(void)
{
    xmlInitParser();
}

enum codec { C_NONE, C_ZLIB, C_LZ4, C_ZSTD };

struct ac_xisf {
    char path[4096];
    int fd;
    int w, h, bitpix;
    int sbytes;         /* bytes per sample */
    bool is_float, big; /* sample kind, byte order */
    long long pos, len; /* the attached block */
    enum codec codec;
    bool shuffled;
    size_t usize;         /* uncompressed size of the block */
    unsigned char *block; /* the decompressed block (compressed data only) */
    /* The block's checksum attribute ("sha1:hex"): ck is NULL when there is none or it can
     * no longer be checked (rows of an uncompressed block read out of order). */
    ac_digest_t *ck;
    ac_digest_alg_t ck_alg;
    char ck_hex[129];
    long long ck_next; /* bytes of an uncompressed block hashed so far */
};

bool ac_xisf_sniff(const void *head, size_t n)
{
    return n >= 8 && memcmp(head, "XISF0100", 8) == 0;
}

void ac_xisf_geometry(const ac_xisf_t *x, int *w, int *h, int *bitpix)
{
    *w = x->w;
    *h = x->h;
    *bitpix = x->bitpix;
}

size_t ac_xisf_held_bytes(const ac_xisf_t *x)
{
    return x->codec == C_NONE ? 0 : x->usize + (x->block == NULL ? (size_t)x->len : 0);
}

void ac_xisf_close(ac_xisf_t *x)
{
    if (x == NULL)
        return;
    if (x->fd >= 0)
        close(x->fd);
    ac_digest_free(x->ck);
    free(x->block);
    free(x);
}

static int pread_all(ac_xisf_t *x, void *buf, size_t len, long long off, ac_err_t *e)
{
    return ac_fsutil_pread_full(x->fd, x->path, buf, len, off, e);
}

/* ---- The Image element ---- */

static int bad(ac_xisf_t *x, ac_err_t *e, int code, const char *what)
{
    return ac_err_set(e, code, "%s: XISF: %s", x->path, what);
}

static int parse_sample(ac_xisf_t *x, const char *f, ac_err_t *e)
{
    static const struct {
        const char *name;
        int bitpix, bytes;
        bool fl;
    } t[] = {{"UInt8", 8, 1, false},
             {"UInt16", 16, 2, false},
             {"UInt32", 32, 4, false},
             {"Float32", -32, 4, true},
             {"Float64", -64, 8, true}};

    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcmp(f, t[i].name) == 0) {
            x->bitpix = t[i].bitpix;
            x->sbytes = t[i].bytes;
            x->is_float = t[i].fl;
            return 0;
        }
    }
    return ac_err_set(e, AC_EFORMAT,
                      "%s: XISF: sampleFormat '%s' is not supported (UInt8, "
                      "UInt16, UInt32, Float32 or Float64)",
                      x->path, f);
}

static int parse_compression(ac_xisf_t *x, const char *c, ac_err_t *e)
{
    char codec[32];
    unsigned long long usize = 0, item = 0;
    int n = sscanf(c, "%31[^:]:%llu:%llu", codec, &usize, &item);

    if (n < 2 || usize == 0)
        return ac_err_set(e, AC_EFITS, "%s: XISF: compression '%s' is malformed", x->path, c);
    char *sh = strstr(codec, "+sh");
    if (sh != NULL && sh[3] == '\0') {
        *sh = '\0';
        x->shuffled = true;
        if (n < 3 || item != (unsigned long long)x->sbytes)
            return ac_err_set(e, AC_EFITS,
                              "%s: XISF: compression '%s': shuffling item size must be %d",
                              x->path, c, x->sbytes);
    }
    if (strcmp(codec, "zlib") == 0)
        x->codec = C_ZLIB;
    else if (strcmp(codec, "lz4") == 0 || strcmp(codec, "lz4hc") == 0)
        x->codec = C_LZ4;
    else if (strcmp(codec, "zstd") == 0)
        x->codec = C_ZSTD;
    else
        return ac_err_set(e, AC_EFORMAT,
                          "%s: XISF: compression codec '%s' is not supported "
                          "(zlib, lz4, lz4hc, zstd)",
                          x->path, codec);
    x->usize = (size_t)usize;
    return 0;
}

/* parse_checksum notes the block's checksum ("sha1:hex", "sha-256:hex", "sha512:hex"...)
 * to check it while the block is read. Other algorithms (SHA-3) are not checked. */
static int parse_checksum(ac_xisf_t *x, const char *c, ac_err_t *e)
{
    static const struct {
        const char *name;
        ac_digest_alg_t alg;
        size_t hex;
    } t[] = {{"sha1", AC_DIGEST_SHA1, 40},      {"sha-1", AC_DIGEST_SHA1, 40},
             {"sha256", AC_DIGEST_SHA256, 64},  {"sha-256", AC_DIGEST_SHA256, 64},
             {"sha512", AC_DIGEST_SHA512, 128}, {"sha-512", AC_DIGEST_SHA512, 128}};
    const char *colon = strchr(c, ':');

    for (size_t i = 0; colon != NULL && i < sizeof t / sizeof t[0]; i++) {
        if (strncasecmp(c, t[i].name, (size_t)(colon - c)) != 0 ||
            strlen(t[i].name) != (size_t)(colon - c))
            continue;
        if (strlen(colon + 1) != t[i].hex)
            return ac_err_set(e, AC_EFITS, "%s: XISF: checksum '%s' is malformed", x->path, c);
        x->ck_alg = t[i].alg;
        ac_strlcpy(x->ck_hex, colon + 1, sizeof x->ck_hex);
        for (char *p = x->ck_hex; *p != '\0'; p++)
            *p = (char)tolower((unsigned char)*p);
        if ((x->ck = ac_digest_new(t[i].alg)) == NULL)
            return ac_err_set(e, -ENOMEM, "%s: no memory for a checksum", x->path);
        return 0;
    }
    return 0;
}

/* check_sum compares the finished checksum with the attribute's (and frees it). */
static int check_sum(ac_xisf_t *x, ac_err_t *e)
{
    char hex[129];

    ac_digest_final(x->ck, hex, sizeof hex);
    x->ck = NULL;
    if (strcmp(hex, x->ck_hex) != 0)
        return ac_err_set(e, AC_EFITS,
                          "%s: XISF: the data block does not match its checksum (%s expected, "
                          "%s found): the file is corrupt",
                          x->path, x->ck_hex, hex);
    return 0;
}

/* parse_image checks the Image element's attributes and fills x. */
static int parse_image(ac_xisf_t *x, xmlNode *img, long long fsize, ac_err_t *e)
{
    char b[256], cs[64];
    long long w = 0, h = 0, ch = 0, pos = 0, len = 0;
    int n = 0, rc;

    if (ac_xisf_attr(img, "geometry", b, sizeof b) == NULL ||
        sscanf(b, "%lld:%lld:%lld%n", &w, &h, &ch, &n) != 3 || b[n] != '\0')
        return bad(x, e, AC_EFORMAT,
                   ac_xisf_attr(img, "geometry", b, sizeof b) == NULL
                       ? "the Image has no geometry"
                       : "geometry is not width:height:channels (only 2-D images are read)");
    if (w < 1 || h < 1 || w > INT_MAX / 2 || h > INT_MAX / 2)
        return bad(x, e, AC_EFITS, "geometry has an impossible size");
    if (ac_xisf_attr(img, "colorSpace", cs, sizeof cs) == NULL || cs[0] == '\0')
        strcpy(cs, "Gray"); /* the default */
    if (ch != 1 || strcmp(cs, "Gray") != 0)
        return ac_err_set(e, AC_EFORMAT,
                          "%s: XISF: a colour image (colorSpace %s, %lld channels): astrocald "
                          "calibrates monochrome and raw CFA (Bayer) frames only",
                          x->path, cs, ch);
    x->w = (int)w;
    x->h = (int)h;
    if ((rc = parse_sample(x, ac_xisf_attr(img, "sampleFormat", b, sizeof b) ? b : "", e)) != 0)
        return rc;
    x->big = ac_xisf_attr(img, "byteOrder", b, sizeof b) != NULL && strcmp(b, "big") == 0;
    if (ac_xisf_attr(img, "offset", b, sizeof b) != NULL && strtod(b, NULL) != 0)
        return ac_err_set(e, AC_EFORMAT,
                          "%s: XISF: offset=\"%s\" (a pedestal) is not supported", x->path, b);
    if (ac_xisf_attr(img, "subblocks", b, sizeof b) != NULL)
        return bad(x, e, AC_EFORMAT, "compression sub-blocks are not supported");
    if (ac_xisf_attr(img, "location", b, sizeof b) == NULL)
        return bad(x, e, AC_EFITS, "the Image has no location");
    if (strncmp(b, "attachment:", 11) != 0)
        return ac_err_set(e, AC_EFORMAT,
                          "%s: XISF: data location '%.40s' is not supported (only attached "
                          "blocks, as capture programs write them)",
                          x->path, b);
    if (sscanf(b + 11, "%lld:%lld%n", &pos, &len, &n) != 2 || b[11 + n] != '\0' || pos < 16 ||
        len < 1)
        return ac_err_set(e, AC_EFITS, "%s: XISF: location '%s' is malformed", x->path, b);
    if (pos > fsize || len > fsize - pos)
        return ac_err_set(e, AC_EFITS,
                          "%s: truncated: the XISF data block needs bytes %lld..%lld, the file "
                          "has %lld",
                          x->path, pos, pos + len, fsize);
    x->pos = pos;
    x->len = len;
    if (ac_xisf_attr(img, "checksum", b, sizeof b) != NULL &&
        (rc = parse_checksum(x, b, e)) != 0)
        return rc;
    size_t need = (size_t)w * (size_t)h * (size_t)x->sbytes;
    if (ac_xisf_attr(img, "compression", b, sizeof b) != NULL) {
        if ((rc = parse_compression(x, b, e)) != 0)
            return rc;
        if (x->usize != need)
            return ac_err_set(e, AC_EFITS,
                              "%s: XISF: the block uncompresses to %zu bytes, the image needs "
                              "%zu",
                              x->path, x->usize, need);
    } else if ((size_t)len != need) {
        return ac_err_set(e, AC_EFITS,
                          "%s: XISF: the data block has %lld bytes, the image needs %zu",
                          x->path, len, need);
    }
    x->usize = need;
    return 0;
}

/* image_cards adds the cards of FITSKeyword elements, then of properties and attributes,
 * then the structural cards (xisf.h). */
static int image_cards(ac_xisf_t *x, xmlNode *img, ac_hdr_t *hdr)
{
    char b[64];
    int rc = 0;

    for (xmlNode *c = img->children; c != NULL && rc == 0; c = c->next)
        if (ac_xisf_is_elem(c, "FITSKeyword"))
            rc = ac_xisf_add_keyword(hdr, c);
    for (xmlNode *c = img->children; c != NULL && rc == 0; c = c->next)
        if (ac_xisf_is_elem(c, "Property"))
            rc = ac_xisf_add_property(hdr, c);
    if (rc == 0 && ac_hdr_find(hdr, "IMAGETYP") < 0 && ac_hdr_find(hdr, "FRAME") < 0 &&
        ac_xisf_attr(img, "imageType", b, sizeof b) != NULL) {
        /* "MasterDark" -> "Master Dark", as the FITS convention writes it */
        char t[80];
        if (strncmp(b, "Master", 6) == 0 && b[6] != '\0')
            snprintf(t, sizeof t, "Master %s", b + 6);
        else
            ac_strlcpy(t, b, sizeof t);
        rc = ac_hdr_add_str(hdr, "IMAGETYP", t, "from XISF imageType");
    }
    for (xmlNode *c = img->children; c != NULL && rc == 0; c = c->next)
        if (ac_xisf_is_elem(c, "ColorFilterArray") && ac_hdr_find(hdr, "BAYERPAT") < 0 &&
            ac_xisf_attr(c, "pattern", b, sizeof b) != NULL)
            rc = ac_hdr_add_str(hdr, "BAYERPAT", b, "from XISF ColorFilterArray");
    if (rc == 0)
        rc = ac_hdr_add_int(hdr, "BITPIX", x->bitpix, NULL);
    if (rc == 0)
        rc = ac_hdr_add_int(hdr, "NAXIS", 2, NULL);
    if (rc == 0)
        rc = ac_hdr_add_int(hdr, "NAXIS1", x->w, NULL);
    if (rc == 0)
        rc = ac_hdr_add_int(hdr, "NAXIS2", x->h, NULL);
    if (rc == 0 && x->bitpix == 16)
        rc = ac_hdr_add_int(hdr, "BZERO", 32768, NULL);
    if (rc == 0 && x->bitpix == 32)
        rc = ac_hdr_add_int(hdr, "BZERO", 2147483648LL, NULL);
    return rc;
}

/* parse_xml parses the XML header and finds the one Image element. */
static int parse_xml(ac_xisf_t *x, const char *xml, size_t len, long long fsize, ac_hdr_t *hdr,
                     ac_err_t *e)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)len, NULL, "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNode *root, *img = NULL;
    int images = 0, rc;

    if (doc == NULL) {
        const xmlError *err = xmlGetLastError();
        return ac_err_set(e, AC_EFITS, "%s: XISF: the XML header does not parse: %s", x->path,
                          err != NULL && err->message != NULL ? ac_str_trim(err->message)
                                                              : "unknown error");
    }
    root = xmlDocGetRootElement(doc);
    if (root == NULL || strcmp((const char *)root->name, "xisf") != 0) {
        rc = bad(x, e, AC_EFITS, "the XML header's root element is not <xisf>");
        goto out;
    }
    for (xmlNode *c = root->children; c != NULL; c = c->next)
        if (ac_xisf_is_elem(c, "Image") && images++ == 0)
            img = c;
    if (images != 1) {
        rc = ac_err_set(e, AC_EFORMAT,
                        "%s: XISF: %d Image elements (astrocald reads files "
                        "with exactly one image)",
                        x->path, images);
        goto out;
    }
    if ((rc = parse_image(x, img, fsize, e)) != 0)
        goto out;
    if ((rc = image_cards(x, img, hdr)) != 0)
        ac_err_set(e, rc, "%s: XISF: no memory for the header", x->path);
out:
    xmlFreeDoc(doc);
    return rc;
}

int ac_xisf_open(const char *path, ac_hdr_t *hdr, ac_xisf_t **out, ac_err_t *e)
{
    unsigned char head[16];
    ac_xisf_t *x;
    char *xml = NULL;
    struct stat st;
    uint32_t xlen;
    int rc;

    *out = NULL;
    if ((x = calloc(1, sizeof *x)) == NULL)
        return ac_err_set(e, -ENOMEM, "%s: no memory for a reader", path);
    ac_strlcpy(x->path, path, sizeof x->path);
    if ((x->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = ac_err_set(e, -errno, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(x->fd, &st) != 0) {
        rc = ac_err_set(e, -errno, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if ((rc = pread_all(x, head, sizeof head, 0, e)) != 0)
        goto fail;
    if (memcmp(head, "XISB0100", 8) == 0) {
        rc = bad(x, e, AC_EFORMAT,
                 "a distributed XISF unit (data blocks file) is not supported");
        goto fail;
    }
    if (!ac_xisf_sniff(head, sizeof head)) {
        rc = bad(x, e, AC_EFITS, "not an XISF 1.0 file (no XISF0100 signature)");
        goto fail;
    }
    memcpy(&xlen, head + 8, 4);
    xlen = le32toh(xlen);
    if (xlen == 0 || xlen > MAX_XML) {
        rc =
            ac_err_set(e, AC_EFITS, "%s: XISF: XML header length %u is impossible", path, xlen);
        goto fail;
    }
    if ((long long)xlen > (long long)st.st_size - 16) {
        rc = ac_err_set(e, AC_EFITS,
                        "%s: truncated: the XISF header needs %u bytes, the file "
                        "has %lld after the signature",
                        path, xlen, (long long)st.st_size - 16);
        goto fail;
    }
    if ((xml = malloc(xlen)) == NULL) {
        rc = ac_err_set(e, -ENOMEM, "%s: no memory for the XML header", path);
        goto fail;
    }
    if ((rc = pread_all(x, xml, xlen, 16, e)) != 0)
        goto fail;
    if ((rc = parse_xml(x, xml, xlen, (long long)st.st_size, hdr, e)) != 0)
        goto fail;
    free(xml);
    *out = x;
    return 0;
fail:
    free(xml);
    ac_xisf_close(x);
    return rc;
}

/* ---- Pixels ---- */

/* decompress reads the compressed block and keeps its uncompressed bytes in x->block. */
static int decompress(ac_xisf_t *x, ac_err_t *e)
{
    unsigned char *src = malloc((size_t)x->len), *dst = malloc(x->usize);
    size_t got = 0;
    int rc;

    if (src == NULL || dst == NULL) {
        rc = ac_err_set(e, -ENOMEM, "%s: XISF: no memory to decompress a %zu-byte block",
                        x->path, x->usize);
        goto out;
    }
    if ((rc = pread_all(x, src, (size_t)x->len, x->pos, e)) != 0)
        goto out;
    if (x->ck != NULL) {
        ac_digest_update(x->ck, src, (size_t)x->len);
        if ((rc = check_sum(x, e)) != 0)
            goto out;
    }
    if (x->codec == C_ZLIB) {
        uLongf n = (uLongf)x->usize;
        int z = uncompress(dst, &n, src, (uLong)x->len);
        got = z == Z_OK ? (size_t)n : 0;
        if (z != Z_OK)
            rc = ac_err_set(e, AC_EFITS, "%s: XISF: zlib data is corrupt (%s)", x->path,
                            zError(z));
    } else if (x->codec == C_LZ4) {
        int n = x->len > INT_MAX || x->usize > INT_MAX
                    ? -1
                    : LZ4_decompress_safe((const char *)src, (char *)dst, (int)x->len,
                                          (int)x->usize);
        got = n > 0 ? (size_t)n : 0;
        if (n < 0)
            rc = bad(x, e, AC_EFITS, "lz4 data is corrupt");
    } else {
        size_t n = ZSTD_decompress(dst, x->usize, src, (size_t)x->len);
        got = ZSTD_isError(n) ? 0 : n;
        if (ZSTD_isError(n))
            rc = ac_err_set(e, AC_EFITS, "%s: XISF: zstd data is corrupt (%s)", x->path,
                            ZSTD_getErrorName(n));
    }
    if (rc == 0 && got != x->usize)
        rc = ac_err_set(e, AC_EFITS, "%s: XISF: the block uncompressed to %zu bytes, not %zu",
                        x->path, got, x->usize);
    if (rc == 0) {
        x->block = dst;
        dst = NULL;
    }
out:
    free(src);
    free(dst);
    return rc;
}

/* to_float converts one sample from its stored bytes b[0..sbytes). */
static float to_float(const ac_xisf_t *x, const unsigned char *b)
{
    unsigned char v[8];

    for (int k = 0; k < x->sbytes; k++)
        v[k] = b[x->big ? x->sbytes - 1 - k : k];
    if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
        for (int k = 0; k < x->sbytes / 2; k++) {
            unsigned char t = v[k];
            v[k] = v[x->sbytes - 1 - k];
            v[x->sbytes - 1 - k] = t;
        }
    switch (x->bitpix) {
    case 8:
        return (float)v[0];
    case 16: {
        uint16_t u;
        memcpy(&u, v, 2);
        return (float)u;
    }
    case 32: {
        uint32_t u;
        memcpy(&u, v, 4);
        return (float)u;
    }
    case -32: {
        float f;
        memcpy(&f, v, 4);
        return f;
    }
    default: {
        double d;
        memcpy(&d, v, 8);
        return (float)d;
    }
    }
}

/* decode converts n unshuffled samples at src to float into out. src may lie inside out
 * (ac_xisf_read_rows): each sample is read before out[i] is written, and out[i] never
 * reaches a later sample's bytes. */
static void decode(const ac_xisf_t *x, const unsigned char *src, size_t n, float *out)
{
    bool native = x->big == (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);

    if (native && x->bitpix == 16) {
        for (size_t i = 0; i < n; i++) {
            uint16_t v;
            memcpy(&v, src + 2 * i, 2);
            out[i] = (float)v;
        }
    } else if (native && x->bitpix == -32) {
        if ((const void *)src != (const void *)out)
            memmove(out, src, n * sizeof *out);
    } else if (x->bitpix == 8) {
        for (size_t i = 0; i < n; i++)
            out[i] = (float)src[i];
    } else {
        for (size_t i = 0; i < n; i++)
            out[i] = to_float(x, src + i * (size_t)x->sbytes);
    }
}

/* decode_shuffled converts n samples from item first on of the shuffled block: byte k of
 * item i is at k * items + i (plane k). 16- and 32-bit samples are put together as
 * numbers, whatever the host's byte order. */
static void decode_shuffled(const ac_xisf_t *x, size_t first, size_t n, float *out)
{
    size_t items = (size_t)x->w * (size_t)x->h, sb = (size_t)x->sbytes;
    const unsigned char *p[8];

    for (size_t k = 0; k < sb; k++) /* p[k]: the plane of the value's byte k (LSB first) */
        p[k] = x->block + (x->big ? sb - 1 - k : k) * items + first;
    if (x->bitpix == 16) {
        for (size_t i = 0; i < n; i++)
            out[i] = (float)(uint16_t)(p[0][i] | p[1][i] << 8);
    } else if (sb == 4) {
        for (size_t i = 0; i < n; i++) {
            uint32_t v = (uint32_t)p[0][i] | (uint32_t)p[1][i] << 8 | (uint32_t)p[2][i] << 16 |
                         (uint32_t)p[3][i] << 24;
            float f;
            memcpy(&f, &v, 4);
            out[i] = x->bitpix == 32 ? (float)v : f;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            unsigned char b[8];
            for (size_t k = 0; k < sb; k++)
                b[k] = x->block[k * items + first + i];
            out[i] = to_float(x, b);
        }
    }
}

int ac_xisf_read_rows(ac_xisf_t *x, int y0, int nrows, float *out, ac_err_t *e)
{
    size_t first = (size_t)y0 * (size_t)x->w, n = (size_t)nrows * (size_t)x->w;
    size_t sb = (size_t)x->sbytes;
    int rc;

    if (y0 < 0 || nrows < 0 || (long)y0 + nrows > x->h)
        return ac_err_set(e, -EINVAL, "%s: rows %d..%d are outside the image (height %d)",
                          x->path, y0, y0 + nrows - 1, x->h);
    if (n == 0)
        return 0;
    if (x->codec != C_NONE && x->block == NULL && (rc = decompress(x, e)) != 0)
        return rc;
    if (x->codec == C_NONE) {
        /* Read the strip's bytes into the end of out (n * 4 >= n * sb for sb <= 4), then
         * convert forwards: sample i's bytes are never overwritten before they are read. */
        unsigned char *raw, *heap = NULL;
        if (sb <= sizeof(float)) {
            raw = (unsigned char *)out + n * (sizeof(float) - sb);
        } else if ((raw = heap = malloc(n * sb)) == NULL) {
            return ac_err_set(e, -ENOMEM, "%s: no memory for %d rows", x->path, nrows);
        }
        rc = pread_all(x, raw, n * sb, x->pos + (long long)(first * sb), e);
        if (rc == 0 && x->ck != NULL && (long long)(first * sb) != x->ck_next) {
            ac_digest_free(x->ck); /* out of order: the checksum cannot be followed */
            x->ck = NULL;
        } else if (rc == 0 && x->ck != NULL) {
            ac_digest_update(x->ck, raw, n * sb);
            x->ck_next += (long long)(n * sb);
            if (x->ck_next == x->len)
                rc = check_sum(x, e);
        }
        if (rc == 0)
            decode(x, raw, n, out);
        free(heap);
        return rc;
    }
    if (x->shuffled)
        decode_shuffled(x, first, n, out);
    else
        decode(x, x->block + first * sb, n, out);
    return 0;
}
