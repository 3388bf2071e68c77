/*
 * xisf_cards.c - the FITS cards of an XISF image's FITSKeyword elements and properties
 * (adapter; the rules are in xisf.h, the reader in xisf.c).
 *
 * Thread: any thread (no shared state).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"
#include "xisf.h"
#include "xisf_int.h"

const char *ac_xisf_attr(xmlNode *n, const char *name, char *buf, size_t size)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);

    if (v == NULL)
        return NULL;
    ac_strlcpy(buf, (const char *)v, size);
    xmlFree(v);
    return buf;
}

bool ac_xisf_is_elem(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* Keywords the reader sets itself from the image: a FITSKeyword's copy is dropped. */
bool ac_xisf_structural(const char *key)
{
    static const char *const k[] = {"SIMPLE", "BITPIX", "NAXIS",  "NAXIS1", "NAXIS2",
                                    "NAXIS3", "EXTEND", "BZERO",  "BSCALE", "BLANK",
                                    "END",    "PCOUNT", "GCOUNT", NULL};
    for (int i = 0; k[i] != NULL; i++)
        if (strcmp(key, k[i]) == 0)
            return true;
    return false;
}

/* fits_literal says whether v is a FITS value as written in a card: empty, a quoted
 * string, T or F, or a number. */
static bool fits_literal(const char *v)
{
    char *end;

    if (v[0] == '\0' || v[0] == '\'' || strcmp(v, "T") == 0 || strcmp(v, "F") == 0)
        return true;
    errno = 0;
    (void)strtod(v, &end);
    return end != v && *end == '\0';
}

/* add_keyword turns one FITSKeyword element into a card. A name that is not a valid FITS
 * keyword, or a value too long for a card, is dropped with a note in the header (HISTORY),
 * never guessed at. */
int ac_xisf_add_keyword(ac_hdr_t *hdr, xmlNode *n)
{
    char name[80], value[256], comment[256], card[AC_CARD_LEN + 1];
    int rc;

    if (ac_xisf_attr(n, "name", name, sizeof name) == NULL)
        return 0;
    ac_str_trim(name);
    if (ac_xisf_attr(n, "value", value, sizeof value) == NULL)
        value[0] = '\0';
    if (ac_xisf_attr(n, "comment", comment, sizeof comment) == NULL)
        comment[0] = '\0';
    ac_str_trim(value);
    if (strcmp(name, "COMMENT") == 0 || strcmp(name, "HISTORY") == 0 || name[0] == '\0') {
        snprintf(card, sizeof card, "%-8s%-72.72s", name, comment[0] ? comment : value);
        return ac_hdr_append_raw(hdr, card);
    }
    if (ac_xisf_structural(name))
        return 0;
    /* An unquoted text ("RedCat 51") is a FITS string, as its writer meant. */
    if (!fits_literal(value))
        rc = ac_hdr_add_str(hdr, name, value, comment[0] ? comment : NULL);
    else if ((rc = ac_hdr_format_card(card, name, value, comment)) == 0)
        rc = ac_hdr_append_raw(hdr, card);
    if (rc == -EINVAL) {
        snprintf(card, sizeof card, "HISTORY XISF keyword '%.20s' not representable, dropped",
                 name);
        snprintf(card + strlen(card), sizeof card - strlen(card), "%*s",
                 (int)(AC_CARD_LEN - strlen(card)), "");
        return ac_hdr_append_raw(hdr, card);
    }
    return rc;
}

/* utc_date writes an XISF TimePoint ("2024-03-01T21:04:05.123Z", "...+02:00") as a FITS
 * date in UTC without a zone. false when it is not such a date. */
static bool utc_date(const char *in, char *out, size_t size)
{
    int Y, M, D, h, m, n = 0, zh = 0, zm = 0;
    double s;
    char frac[32] = "", sign = 0;

    if (sscanf(in, "%4d-%2d-%2dT%2d:%2d:%lf%n", &Y, &M, &D, &h, &m, &s, &n) != 6)
        return false;
    const char *dot = strchr(in, '.'), *z = in + n;
    if (dot != NULL && dot < z) {
        size_t l = (size_t)(z - dot);
        if (l >= sizeof frac)
            l = sizeof frac - 1;
        memcpy(frac, dot, l);
        frac[l] = '\0';
    }
    if (*z == '+' || *z == '-') {
        sign = *z;
        if (sscanf(z + 1, "%2d:%2d", &zh, &zm) != 2)
            return false;
    } else if (*z != 'Z' && *z != '\0') {
        return false;
    }
    struct tm t = {.tm_year = Y - 1900,
                   .tm_mon = M - 1,
                   .tm_mday = D,
                   .tm_hour = h,
                   .tm_min = m,
                   .tm_sec = (int)s};
    time_t tt = timegm(&t), zone = (time_t)(zh * 3600 + zm * 60);
    tt += sign == '+' ? -zone : sign == '-' ? zone : 0;
    if (gmtime_r(&tt, &t) == NULL)
        return false;
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d%s", t.tm_year + 1900, t.tm_mon + 1,
             t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, frac);
    return true;
}

enum pkind { P_NUM, P_STR, P_DATE };

static const struct prop {
    const char *id, *key;
    enum pkind kind;
    double scale;
} props[] = {
    {"Instrument:ExposureTime", "EXPTIME", P_NUM, 1},
    {"Instrument:Sensor:Temperature", "CCD-TEMP", P_NUM, 1},
    {"Instrument:Sensor:TargetTemperature", "SET-TEMP", P_NUM, 1},
    {"Instrument:Filter:Name", "FILTER", P_STR, 1},
    {"Instrument:Camera:Name", "INSTRUME", P_STR, 1},
    {"Instrument:Telescope:Name", "TELESCOP", P_STR, 1},
    {"Instrument:Camera:XBinning", "XBINNING", P_NUM, 1},
    {"Instrument:Camera:YBinning", "YBINNING", P_NUM, 1},
    {"Instrument:Camera:Gain", "EGAIN", P_NUM, 1},
    {"Instrument:Sensor:XPixelSize", "XPIXSZ", P_NUM, 1},
    {"Instrument:Sensor:YPixelSize", "YPIXSZ", P_NUM, 1},
    {"Instrument:Telescope:FocalLength", "FOCALLEN", P_NUM, 1000},
    {"Observation:Time:Start", "DATE-OBS", P_DATE, 1},
    {"Observation:Time:End", "DATE-END", P_DATE, 1},
    {"Observation:Object:Name", "OBJECT", P_STR, 1},
    {"Observation:Object:RA", "RA", P_NUM, 1},
    {"Observation:Object:Dec", "DEC", P_NUM, 1},
    {"Observation:Location:Longitude", "SITELONG", P_NUM, 1},
    {"Observation:Location:Latitude", "SITELAT", P_NUM, 1},
    {"Observation:Location:Elevation", "SITEELEV", P_NUM, 1},
};

/* add_property adds the card of one mapped Property when no FITSKeyword gave it. A value
 * that does not parse as its kind is left out. */
int ac_xisf_add_property(ac_hdr_t *hdr, xmlNode *n)
{
    char id[128], v[256], *end;
    const struct prop *p = NULL;

    if (ac_xisf_attr(n, "id", id, sizeof id) == NULL)
        return 0;
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (strcmp(id, props[i].id) == 0)
            p = &props[i];
    if (p == NULL || ac_hdr_find(hdr, p->key) >= 0)
        return 0;
    if (ac_xisf_attr(n, "value", v, sizeof v) == NULL) {
        xmlChar *t = xmlNodeGetContent(n); /* String properties may carry their text */
        if (t == NULL)
            return 0;
        ac_strlcpy(v, (const char *)t, sizeof v);
        xmlFree(t);
    }
    ac_str_trim(v);
    if (p->kind == P_STR)
        return v[0] != '\0' ? ac_hdr_add_str(hdr, p->key, v, "from XISF property") : 0;
    if (p->kind == P_DATE) {
        char d[64];
        return utc_date(v, d, sizeof d) ? ac_hdr_add_str(hdr, p->key, d, "from XISF property")
                                        : 0;
    }
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end != '\0' || errno != 0 || !isfinite(x))
        return 0;
    return ac_hdr_add_double(hdr, p->key, x * p->scale, "from XISF property");
}
