/*
 * hdr.c - FITS header cards (see hdr.h). Pure code: no cfitsio.
 *
 * Card layout (FITS 4.0 §4.1-4.2): columns 1-8 keyword, "= " in 9-10 for a value card,
 * fixed-format values: a string starts with a quote in column 11 and its closing quote is
 * at column 20 or later; numbers and logicals are right-justified to column 30; a comment
 * follows " / ". COMMENT, HISTORY and blank keywords carry free text from column 9.
 */
#include "hdr.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void ac_hdr_init(ac_hdr_t *h)
{
    h->cards = NULL;
    h->n = h->cap = 0;
}

void ac_hdr_free(ac_hdr_t *h)
{
    free(h->cards);
    ac_hdr_init(h);
}

static int reserve(ac_hdr_t *h, size_t n)
{
    void *p;
    size_t cap;

    if (n <= h->cap)
        return 0;
    cap = h->cap ? h->cap : 64;
    while (cap < n)
        cap *= 2;
    p = realloc(h->cards, cap * sizeof *h->cards);
    if (p == NULL)
        return -ENOMEM;
    h->cards = p;
    h->cap = cap;
    return 0;
}

int ac_hdr_copy(ac_hdr_t *dst, const ac_hdr_t *src)
{
    ac_hdr_init(dst);
    if (reserve(dst, src->n) != 0)
        return -ENOMEM;
    if (src->n > 0)
        memcpy(dst->cards, src->cards, src->n * sizeof *src->cards);
    dst->n = src->n;
    return 0;
}

int ac_hdr_append_raw(ac_hdr_t *h, const char *card)
{
    size_t len = strlen(card);

    if (len > AC_CARD_LEN)
        return -EINVAL;
    if (reserve(h, h->n + 1) != 0)
        return -ENOMEM;
    memset(h->cards[h->n], ' ', AC_CARD_LEN);
    memcpy(h->cards[h->n], card, len);
    h->cards[h->n][AC_CARD_LEN] = '\0';
    h->n++;
    return 0;
}

void ac_hdr_card_key(const ac_hdr_t *h, size_t i, char *out)
{
    int n = 8;

    memcpy(out, h->cards[i], 8);
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

int ac_hdr_find(const ac_hdr_t *h, const char *key)
{
    char k[9];

    for (size_t i = 0; i < h->n; i++) {
        ac_hdr_card_key(h, i, k);
        if (strcmp(k, key) == 0)
            return (int)i;
    }
    return -1;
}

int ac_hdr_replace(ac_hdr_t *h, const ac_hdr_t *from)
{
    char key[9];

    for (size_t i = 0; i < from->n; i++) {
        ac_hdr_card_key(from, i, key);
        if (ac_hdr_find(h, key) < 0)
            return -ENOENT;
    }
    for (size_t i = 0; i < from->n; i++) {
        ac_hdr_card_key(from, i, key);
        memcpy(h->cards[ac_hdr_find(h, key)], from->cards[i], AC_CARD_LEN + 1);
    }
    return 0;
}

/* value_field returns a pointer to the value part of card i (after "= "), or NULL when
 * the card has no value indicator. */
static const char *value_field(const ac_hdr_t *h, int i)
{
    const char *c = h->cards[i];

    if (c[8] != '=' || c[9] != ' ')
        return NULL;
    return c + 10;
}

bool ac_hdr_get_value(const ac_hdr_t *h, const char *key, char *out, size_t size)
{
    int i = ac_hdr_find(h, key);
    const char *v;
    size_t n = 0;
    bool quoted;

    if (i < 0 || size == 0 || (v = value_field(h, i)) == NULL)
        return false;
    while (*v == ' ')
        v++;
    /* A string runs to its closing quote ('' is one quote); other values to a comment. */
    quoted = *v == '\'';
    if (quoted)
        v++;
    while (*v != '\0' && (quoted || *v != '/')) {
        if (quoted && *v == '\'') {
            if (v[1] != '\'')
                break;
            v++;
        }
        if (n + 1 < size)
            out[n++] = *v;
        v++;
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    return quoted || n > 0;
}

bool ac_hdr_get_double(const ac_hdr_t *h, const char *key, double *out)
{
    char buf[72];
    char *end;
    double v;

    if (!ac_hdr_get_value(h, key, buf, sizeof buf))
        return false;
    /* FITS allows a 'D' exponent (Fortran double). */
    for (char *p = buf; *p; p++)
        if (*p == 'D' || *p == 'd')
            *p = 'E';
    {
        char *s = buf;
        while (isspace((unsigned char)*s))
            s++;
        if (*s == '\0')
            return false;
        errno = 0;
        v = strtod(s, &end);
        while (isspace((unsigned char)*end))
            end++;
        if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
            return false;
    }
    *out = v;
    return true;
}

bool ac_hdr_get_bool(const ac_hdr_t *h, const char *key, bool *out)
{
    char buf[72];

    if (!ac_hdr_get_value(h, key, buf, sizeof buf))
        return false;
    if (strcasecmp(buf, "T") == 0 || strcasecmp(buf, "TRUE") == 0 ||
        strcasecmp(buf, "YES") == 0 || strcmp(buf, "1") == 0) {
        *out = true;
        return true;
    }
    if (strcasecmp(buf, "F") == 0 || strcasecmp(buf, "FALSE") == 0 ||
        strcasecmp(buf, "NO") == 0 || strcmp(buf, "0") == 0) {
        *out = false;
        return true;
    }
    return false;
}

/* Keywords the calibrated output writes itself; an input that already has them (a file
 * calibrated before) must not carry two copies. */
static const char *const own_keys[] = {
    "CALIBRAT", "CALDATE",  "CALSOFT",  "BIASMAST", "DARKMAST", "FLATMAST", "FDRKMAST",
    "BIASMD5",  "DARKMD5",  "FLATMD5",  "FDRKMD5",  "PEDESTAL", "DARKSCAL", "DARKOPT",
    "FLATSCAL", "FLATSCLR", "FLATSCLG", "FLATSCLB", "FLATFLOR", "DEADPIX",  "HOTPIX",
    "QBACKGND", "QNOISE",   "QDYNRNG",  "QNEGFRAC", "QZERFRAC", "QSATFRAC", "QDEADFRC",
    "QSCORE",   "BIASSUB",  "DARKSUB",  "FLATSUB",  "DARKBIAS",
};

/* is_compression_key says whether a Z... keyword belongs to tile compression (FITS 4.0
 * §10), as opposed to an observing keyword such as ZENITH or ZD. */
static bool is_compression_key(const char *key)
{
    static const char *const exact[] = {
        "ZIMAGE",  "ZBITPIX",  "ZNAXIS",  "ZCMPTYPE", "ZQUANTIZ", "ZDITHER0", "ZSIMPLE",
        "ZEXTEND", "ZBLOCKED", "ZPCOUNT", "ZGCOUNT",  "ZHECKSUM", "ZDATASUM", "ZTENSION",
        "ZBLANK",  "ZSCALE",   "ZZERO",   "ZMASKCMP", "ZTHEAP"};
    static const char *const indexed[] = {"ZNAXIS", "ZTILE", "ZNAME", "ZVAL", "ZCTYP"};

    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(key, exact[i]) == 0)
            return true;
    for (size_t i = 0; i < sizeof indexed / sizeof indexed[0]; i++) {
        size_t n = strlen(indexed[i]);
        if (strncmp(key, indexed[i], n) == 0 && key[n] >= '0' && key[n] <= '9')
            return true;
    }
    return false;
}

bool ac_hdr_is_output_excluded(const char *key)
{
    static const char *const exact[] = {
        "SIMPLE",  "BITPIX",   "EXTEND",  "PCOUNT",  "GCOUNT", "XTENSION",
        "END",     "TFIELDS",  "BZERO",   "BSCALE",  "BLANK",  "DATAMIN",
        "DATAMAX", "CHECKSUM", "DATASUM", "EXTNAME", "THEAP",  "INHERIT",
    };

    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(key, exact[i]) == 0)
            return true;
    for (size_t i = 0; i < sizeof own_keys / sizeof own_keys[0]; i++)
        if (strcmp(key, own_keys[i]) == 0)
            return true;
    if (strncmp(key, "NAXIS", 5) == 0)
        return true;
    /* Binary-table structure of a tile-compressed image: TTYPEn, TFORMn, TUNITn, ... */
    if (key[0] == 'T' && (strncmp(key, "TTYPE", 5) == 0 || strncmp(key, "TFORM", 5) == 0 ||
                          strncmp(key, "TUNIT", 5) == 0 || strncmp(key, "TDIM", 4) == 0 ||
                          strncmp(key, "TNULL", 5) == 0 || strncmp(key, "TSCAL", 5) == 0 ||
                          strncmp(key, "TZERO", 5) == 0))
        return true;
    /* Compression keywords: ZIMAGE, ZBITPIX, ZNAXISn, ZTILEn, ZCMPTYPE, ZNAMEn, ZVALn,
     * ZQUANTIZ, ZDITHER0, ZSIMPLE, ZEXTEND, ZBLOCKED, ZPCOUNT, ZGCOUNT, ZHECKSUM,
     * ZDATASUM, ZTENSION, ZBLANK, ZSCALE, ZZERO; and FZ* from fpack. */
    if (key[0] == 'Z' && is_compression_key(key))
        return true;
    if (strncmp(key, "FZ", 2) == 0)
        return true;
    return false;
}

int ac_hdr_keep_for_output(ac_hdr_t *dst, const ac_hdr_t *src)
{
    char key[9];

    for (size_t i = 0; i < src->n; i++) {
        ac_hdr_card_key(src, i, key);
        if (ac_hdr_is_output_excluded(key))
            continue;
        int rc = ac_hdr_append_raw(dst, src->cards[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int ac_hdr_format_card(char *out, const char *key, const char *value, const char *comment)
{
    size_t klen = strlen(key), vlen = strlen(value);
    char buf[160];
    int n;

    if (klen == 0 || klen > 8)
        return -EINVAL;
    for (size_t i = 0; i < klen; i++) {
        char c = key[i];
        if (!(isupper((unsigned char)c) || isdigit((unsigned char)c) || c == '-' || c == '_'))
            return -EINVAL;
    }
    if (vlen >= 20)
        n = snprintf(buf, sizeof buf, "%-8.8s= %s", key, value);
    else if (value[0] == '\'')
        n = snprintf(buf, sizeof buf, "%-8.8s= %-20s", key, value);
    else
        n = snprintf(buf, sizeof buf, "%-8.8s= %20s", key, value);
    if (n < 0 || n > AC_CARD_LEN)
        return -EINVAL;
    if (comment != NULL && comment[0] != '\0' && n + 3 < AC_CARD_LEN)
        n += snprintf(buf + n, sizeof buf - (size_t)n, " / %.*s", AC_CARD_LEN - n - 3, comment);
    if (n > AC_CARD_LEN)
        n = AC_CARD_LEN;
    memset(out, ' ', AC_CARD_LEN);
    memcpy(out, buf, (size_t)n);
    out[AC_CARD_LEN] = '\0';
    return 0;
}

static int add_formatted(ac_hdr_t *h, const char *key, const char *value, const char *comment,
                         bool replace)
{
    char card[AC_CARD_LEN + 1];
    int rc = ac_hdr_format_card(card, key, value, comment);
    int i;

    if (rc != 0)
        return rc;
    if (replace && (i = ac_hdr_find(h, key)) >= 0) {
        memcpy(h->cards[i], card, sizeof card);
        return 0;
    }
    return ac_hdr_append_raw(h, card);
}

/* quote_string writes 'value' with embedded quotes doubled, padded to at least 8
 * characters inside the quotes, truncated so the card fits 80 columns. */
static void quote_string(char *out, size_t size, const char *value)
{
    size_t n = 0, max = 68; /* 80 - 10 (key and "= ") - 2 quotes */

    out[n++] = '\'';
    for (const char *p = value; *p && n < max + 1 && n + 3 < size; p++) {
        char c = (*p >= 32 && *p < 127) ? *p : '?';
        if (c == '\'') {
            if (n + 2 > max)
                break;
            out[n++] = '\'';
        }
        out[n++] = c;
    }
    while (n < 9 && n + 2 < size)
        out[n++] = ' ';
    out[n++] = '\'';
    out[n] = '\0';
}

int ac_hdr_add_str(ac_hdr_t *h, const char *key, const char *value, const char *comment)
{
    char v[80];

    quote_string(v, sizeof v, value);
    return add_formatted(h, key, v, comment, false);
}

int ac_hdr_set_str(ac_hdr_t *h, const char *key, const char *value, const char *comment)
{
    char v[80];

    quote_string(v, sizeof v, value);
    return add_formatted(h, key, v, comment, true);
}

/* format_double writes a FITS real: always with a decimal point, upper-case exponent. */
static int format_double(char *out, size_t size, double value)
{
    char *e;

    if (!isfinite(value))
        return -EINVAL;
    snprintf(out, size, "%.10G", value);
    if (strchr(out, '.') == NULL) {
        char tmp[40];
        e = strchr(out, 'E');
        if (e != NULL) {
            snprintf(tmp, sizeof tmp, "%.*s.0%s", (int)(e - out), out, e);
        } else {
            snprintf(tmp, sizeof tmp, "%s.0", out);
        }
        snprintf(out, size, "%s", tmp);
    }
    return 0;
}

int ac_hdr_add_double(ac_hdr_t *h, const char *key, double value, const char *comment)
{
    char v[40];

    if (format_double(v, sizeof v, value) != 0)
        return -EINVAL;
    return add_formatted(h, key, v, comment, false);
}

int ac_hdr_set_double(ac_hdr_t *h, const char *key, double value, const char *comment)
{
    char v[40];

    if (format_double(v, sizeof v, value) != 0)
        return -EINVAL;
    return add_formatted(h, key, v, comment, true);
}

int ac_hdr_add_int(ac_hdr_t *h, const char *key, long long value, const char *comment)
{
    char v[32];

    snprintf(v, sizeof v, "%lld", value);
    return add_formatted(h, key, v, comment, false);
}

int ac_hdr_add_bool(ac_hdr_t *h, const char *key, bool value, const char *comment)
{
    return add_formatted(h, key, value ? "T" : "F", comment, false);
}

int ac_hdr_add_history(ac_hdr_t *h, const char *text)
{
    const size_t width = AC_CARD_LEN - 8;
    size_t len = strlen(text), off = 0;
    char card[AC_CARD_LEN + 1];

    do {
        size_t n = len - off > width ? width : len - off;
        /* Break at a space when the text continues. */
        if (off + n < len) {
            size_t b = n;
            while (b > width / 2 && text[off + b] != ' ')
                b--;
            if (text[off + b] == ' ')
                n = b;
        }
        memset(card, ' ', AC_CARD_LEN);
        memcpy(card, "HISTORY ", 8);
        for (size_t i = 0; i < n; i++) {
            char c = text[off + i];
            card[8 + i] = (c >= 32 && c < 127) ? c : '?';
        }
        card[AC_CARD_LEN] = '\0';
        int rc = ac_hdr_append_raw(h, card);
        if (rc != 0)
            return rc;
        off += n;
        while (off < len && text[off] == ' ')
            off++;
    } while (off < len);
    return 0;
}
