/*
 * hdrkeys.c - the one keyword table of astrocald (see meta.h, ac_fact_t): which header
 * keywords give each fact of a frame, in the order they are tried, and the two value
 * forms that need more than a lookup (a legacy 'dd/mm/yy' date, BINNING = '2*2').
 *
 * Everything that reads a header fact goes through this table: ac_meta_from_header
 * (calibration, matching, master building) and the importer (registration). The table is
 * the documentation: docs/calibration.md "Header keywords" lists it, keyword by keyword.
 * Thread: pure functions and a constant table, any thread.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isodate.h"
#include "meta.h"
#include "util.h"

/* clang-format off */
static const char *const k_type[] = {"IMAGETYP", "FRAME", "FRAMETYP", NULL};
static const char *const k_exp[] = {"EXPTIME", "EXPOSURE", "EXP", NULL};
static const char *const k_ccd[] = {"CCD-TEMP", "CCD_TEMP", "CCDTEMP", "TEMPERAT", "CAMTEMP",
                                    NULL};
static const char *const k_set[] = {"SET-TEMP", "SET_TEMP", "SETTEMP", NULL};
static const char *const k_xbin[] = {"XBINNING", "BINX", "CCDXBIN", NULL};
static const char *const k_ybin[] = {"YBINNING", "BINY", "CCDYBIN", NULL};
static const char *const k_binning[] = {"BINNING", NULL};
static const char *const k_gain[] = {"GAIN", NULL};
static const char *const k_egain[] = {"EGAIN", "EPERADU", NULL};
static const char *const k_offset[] = {"OFFSET", "BLKLEVEL", NULL};
static const char *const k_readout[] = {"READOUTM", "READMODE", NULL};
static const char *const k_filter[] = {"FILTER", "FILTERS", NULL};
static const char *const k_telescop[] = {"TELESCOP", NULL};
static const char *const k_instrume[] = {"INSTRUME", NULL};
static const char *const k_object[] = {"OBJECT", NULL};
static const char *const k_date[] = {"DATE-OBS", "DATE", NULL};
static const char *const k_time[] = {"TIME-OBS", "UT", NULL};
static const char *const k_bayer[] = {"BAYERPAT", "COLORTYP", NULL};
static const char *const k_xbayroff[] = {"XBAYROFF", NULL};
static const char *const k_ybayroff[] = {"YBAYROFF", NULL};
static const char *const k_roworder[] = {"ROWORDER", NULL};
static const char *const k_sitelong[] = {"SITELONG", "LONG-OBS", NULL};
static const char *const k_creator[] = {"CREATOR", "SWCREATE", "PROGRAM", "CALSOFT", NULL};
/* clang-format on */

static const char *const *const table[AC_FACT_N] = {
    [AC_FACT_TYPE] = k_type,         [AC_FACT_EXPTIME] = k_exp,
    [AC_FACT_CCD_TEMP] = k_ccd,      [AC_FACT_SET_TEMP] = k_set,
    [AC_FACT_XBIN] = k_xbin,         [AC_FACT_YBIN] = k_ybin,
    [AC_FACT_BINNING] = k_binning,   [AC_FACT_GAIN] = k_gain,
    [AC_FACT_EGAIN] = k_egain,       [AC_FACT_OFFSET] = k_offset,
    [AC_FACT_READOUT] = k_readout,   [AC_FACT_FILTER] = k_filter,
    [AC_FACT_TELESCOP] = k_telescop, [AC_FACT_INSTRUME] = k_instrume,
    [AC_FACT_OBJECT] = k_object,     [AC_FACT_DATE] = k_date,
    [AC_FACT_TIME] = k_time,         [AC_FACT_BAYERPAT] = k_bayer,
    [AC_FACT_XBAYROFF] = k_xbayroff, [AC_FACT_YBAYROFF] = k_ybayroff,
    [AC_FACT_ROWORDER] = k_roworder, [AC_FACT_SITELONG] = k_sitelong,
    [AC_FACT_CREATOR] = k_creator,
};

const char *const *ac_meta_keys(ac_fact_t f)
{
    return (unsigned)f < AC_FACT_N ? table[f] : NULL;
}

const char *ac_meta_keys_text(ac_fact_t f, char *buf, size_t size)
{
    const char *const *k = ac_meta_keys(f);
    size_t n = 0, len = 0;

    if (size == 0)
        return buf;
    buf[0] = '\0';
    if (k == NULL)
        return buf;
    while (k[n] != NULL)
        n++;
    for (size_t i = 0; i < n && len < size; i++) {
        const char *sep = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(buf + len, size - len, "%s%s", sep, k[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    return buf;
}

const char *ac_meta_first_key(const ac_hdr_t *h, ac_fact_t f, char *value, size_t size)
{
    const char *const *k = ac_meta_keys(f);
    char buf[AC_CARD_LEN + 1];

    for (; k != NULL && *k != NULL; k++) {
        if (!ac_hdr_get_value(h, *k, buf, sizeof buf))
            continue;
        if (value != NULL)
            ac_strlcpy(value, ac_str_trim(buf), size);
        return *k;
    }
    return NULL;
}

/* two_digits reads exactly two decimal digits at s. */
static int two_digits(const char *s)
{
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
        return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

int ac_meta_legacy_date(const char *date, const char *time, char *out, size_t size)
{
    char t[40] = "00:00:00", iso[80];
    ac_isodate_t d;
    int dd, mm, yy;

    if (date == NULL)
        return -EINVAL;
    while (*date == ' ')
        date++;
    if (strlen(date) != 8 || date[2] != '/' || date[5] != '/')
        return -EINVAL;
    dd = two_digits(date);
    mm = two_digits(date + 3);
    yy = two_digits(date + 6);
    if (dd < 0 || mm < 0 || yy < 0)
        return -EINVAL;
    if (time != NULL) {
        while (*time == ' ')
            time++;
        if (*time != '\0')
            ac_strlcpy(t, time, sizeof t);
    }
    snprintf(iso, sizeof iso, "%04d-%02d-%02dT%s", yy >= 70 ? 1900 + yy : 2000 + yy, mm, dd,
             ac_str_trim(t));
    /* The isodate parser checks the day, the month and the time. */
    if (ac_isodate_parse(iso, &d) != 0 || !d.has_time || d.zone_east_s != 0)
        return -EINVAL;
    if (ac_strlcpy(out, iso, size) >= size)
        return -EINVAL;
    return 0;
}

bool ac_meta_parse_binning(const char *s, int *xbin, int *ybin)
{
    char *end;
    long x, y;

    while (isspace((unsigned char)*s))
        s++;
    x = strtol(s, &end, 10);
    if (end == s || x < 1 || x > 64)
        return false;
    s = end;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0') {
        *xbin = *ybin = (int)x;
        return true;
    }
    if (*s != '*' && *s != 'x' && *s != 'X')
        return false;
    s++;
    y = strtol(s, &end, 10);
    if (end == s || y < 1 || y > 64)
        return false;
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0')
        return false;
    *xbin = (int)x;
    *ybin = (int)y;
    return true;
}
