/*
 * meta.c - frame metadata from a FITS header, with every keyword alias in use (see meta.h).
 *
 * Pure code: works on an ac_hdr_t filled by the reader, no cfitsio. Everything a header
 * does not say stays "unknown" (NAN, 0, "" or AC_PROV_UNKNOWN); nothing here fails.
 * Thread: pure functions, any thread.
 */
#include "meta.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "isodate.h"
#include "util.h"

/* squash copies s lower-cased with every space, '_' and '-' removed, so "Flat Dark",
 * "flat_dark", "FLAT-DARK" and "FlatDark" all become "flatdark". */
static void squash(const char *s, char *out, size_t size)
{
    size_t n = 0;

    for (; *s != '\0' && n + 1 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (isspace(c) || c == '_' || c == '-')
            continue;
        out[n++] = (char)tolower(c);
    }
    out[n] = '\0';
}

ac_frame_type_t ac_meta_classify(const char *imagetyp, bool *is_master)
{
    static const struct {
        const char *name; /* squashed form */
        ac_frame_type_t type;
    } names[] = {
        {"light", AC_FRAME_LIGHT},
        {"lightframe", AC_FRAME_LIGHT},
        {"object", AC_FRAME_LIGHT},
        {"science", AC_FRAME_LIGHT},
        {"dark", AC_FRAME_DARK},
        {"darkframe", AC_FRAME_DARK},
        {"flat", AC_FRAME_FLAT},
        {"flatfield", AC_FRAME_FLAT},
        {"flatframe", AC_FRAME_FLAT},
        {"skyflat", AC_FRAME_FLAT},
        {"domeflat", AC_FRAME_FLAT},
        {"twilightflat", AC_FRAME_FLAT},
        {"bias", AC_FRAME_BIAS},
        {"biasframe", AC_FRAME_BIAS},
        {"zero", AC_FRAME_BIAS},
        {"zeroframe", AC_FRAME_BIAS},
        {"offset", AC_FRAME_BIAS},
        {"offsetframe", AC_FRAME_BIAS},
        {"darkflat", AC_FRAME_FLATDARK},
        {"flatdark", AC_FRAME_FLATDARK},
        {"darkflatframe", AC_FRAME_FLATDARK},
        {"flatdarkframe", AC_FRAME_FLATDARK},
    };
    char sq[80];
    const char *p = sq;
    bool master = false;

    if (is_master != NULL)
        *is_master = false;
    if (imagetyp == NULL)
        return AC_FRAME_UNKNOWN;
    squash(imagetyp, sq, sizeof sq);
    if (strncmp(p, "master", 6) == 0) {
        master = true;
        p += 6;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(p, names[i].name) == 0) {
            if (is_master != NULL)
                *is_master = master;
            return names[i].type;
        }
    }
    return AC_FRAME_UNKNOWN;
}

const char *ac_meta_type_name(ac_frame_type_t t)
{
    switch (t) {
    case AC_FRAME_LIGHT:
        return "light";
    case AC_FRAME_DARK:
        return "dark";
    case AC_FRAME_FLAT:
        return "flat";
    case AC_FRAME_BIAS:
        return "bias";
    case AC_FRAME_FLATDARK:
        return "flat-dark";
    case AC_FRAME_UNKNOWN:
        break;
    }
    return "unknown";
}

/* first_double reads the first of the NULL-terminated keys present as a number. */
static bool first_double(const ac_hdr_t *h, const char *const *keys, double *out)
{
    for (; *keys != NULL; keys++)
        if (ac_hdr_get_double(h, *keys, out))
            return true;
    return false;
}

/* first_string copies the first of keys present (trimmed) into out; "" when none. */
static bool first_string(const ac_hdr_t *h, const char *const *keys, char *out, size_t size)
{
    char buf[72];

    out[0] = '\0';
    for (; *keys != NULL; keys++) {
        if (ac_hdr_get_value(h, *keys, buf, sizeof buf)) {
            ac_strlcpy(out, ac_str_trim(buf), size);
            return true;
        }
    }
    return false;
}

static double get_num(const ac_hdr_t *h, const char *const *keys)
{
    double v;

    return first_double(h, keys, &v) ? v : NAN;
}

static int get_int(const ac_hdr_t *h, const char *const *keys, int dflt)
{
    double v;

    if (!first_double(h, keys, &v) || v < -2147483648.0 || v > 2147483647.0)
        return dflt;
    return (int)lround(v);
}

/* parse_sexagesimal reads "ddd mm ss.s" or "ddd:mm:ss.s" (sign on the degrees) as degrees,
 * as some capture programs write SITELONG. */
static bool parse_sexagesimal(const char *s, double *out)
{
    double d = 0, m = 0, sec = 0;
    bool neg;
    int n;

    while (isspace((unsigned char)*s))
        s++;
    neg = *s == '-';
    n = sscanf(s, "%lf%*[: ]%lf%*[: ]%lf", &d, &m, &sec);
    if (n < 2 || m < 0 || m >= 60 || sec < 0 || sec >= 60)
        return false;
    *out = fabs(d) + m / 60.0 + sec / 3600.0;
    if (neg)
        *out = -*out;
    return true;
}

/* integer_saturation is the largest physical value an integer BITPIX can hold with the
 * given scaling (the larger end of the stored range once BSCALE/BZERO are applied). */
static double integer_saturation(int bitpix, double bzero, double bscale)
{
    double lo, hi, a, b;

    switch (bitpix) {
    case 8:
        lo = 0, hi = 255;
        break;
    case 16:
        lo = -32768.0, hi = 32767.0;
        break;
    case 32:
        lo = -2147483648.0, hi = 2147483647.0;
        break;
    case 64:
        lo = -9223372036854775808.0, hi = 9223372036854775807.0;
        break;
    default:
        return NAN;
    }
    a = bscale * lo + bzero;
    b = bscale * hi + bzero;
    return a > b ? a : b;
}

/* tri_keyword sets *prov from a logical keyword when it is present and parsable. */
static bool tri_keyword(const ac_hdr_t *h, const char *key, int *prov)
{
    bool b;

    if (!ac_hdr_get_bool(h, key, &b))
        return false;
    *prov = b ? AC_PROV_YES : AC_PROV_NO;
    return true;
}

/* step_keywords sets *prov from the explicit keywords of one calibration step: the logical
 * keywords key or alt (T/F), else the presence of ccdproc's keyword done (YES). false, and
 * *prov untouched, when there are none. */
static bool step_keywords(const ac_hdr_t *h, const char *key, const char *alt, const char *done,
                          int *prov)
{
    if (tri_keyword(h, key, prov) || tri_keyword(h, alt, prov))
        return true;
    if (ac_hdr_find(h, done) < 0)
        return false;
    *prov = AC_PROV_YES;
    return true;
}

/* any_of says whether line contains (case-insensitively) one of the NULL-terminated
 * needles. */
static bool any_of(const char *line, const char *const *needles)
{
    for (; *needles != NULL; needles++)
        if (strcasestr(line, *needles) != NULL)
            return true;
    return false;
}

/* pixinsight_on says whether a PixInsight ImageCalibration HISTORY line records that the
 * master named by `what` ("masterbias", ...) was applied: either its file name is given
 * ("ImageCalibration.masterBias.fileName: ...") or it is enabled
 * ("ImageCalibration.masterBias.enabled: true"). */
static bool pixinsight_on(const char *line, const char *what)
{
    char key[48];
    const char *p;

    snprintf(key, sizeof key, "imagecalibration.%s", what);
    if ((p = strcasestr(line, key)) == NULL)
        return false;
    p += strlen(key);
    if (strncasecmp(p, ".filename", 9) == 0)
        return true;
    if (strncasecmp(p, ".enabled", 8) == 0)
        return strcasestr(p, "true") != NULL;
    return false;
}

/*
 * HISTORY provenance, matched case-insensitively as substrings of each HISTORY card's text
 * (columns 9-80). A match sets the field to AC_PROV_YES; nothing here ever sets NO, since a
 * tool that did not do a step rarely says so (PixInsight's "enabled: false" is ignored).
 *
 *   bias: "subtract_bias" (ccdproc), "calibrated with a master bias" and "calibrated with
 *         a synthetic bias" (Siril 1.x), "bias subtracted" (astrocald, generic),
 *         "bias-subtracted", "subtracted bias", "subtracted master bias", "bias removed",
 *         "offset subtracted" (older Siril called the bias "offset"), "calibration with
 *         master bias", "ImageCalibration.masterBias.fileName" and
 *         "ImageCalibration.masterBias.enabled: true" (PixInsight).
 *   dark: "subtract_dark", "calibrated with a master dark", "calibrated with an optimized
 *         master dark", "dark subtracted" (astrocald, generic), "dark-subtracted",
 *         "subtracted dark", "subtracted master dark", "dark removed", "calibration with
 *         master dark", ImageCalibration.masterDark.fileName / .enabled: true.
 *   flat: "flat_correct" (ccdproc), "calibrated with a master flat" (Siril), "flat
 *         divided" and "flat normalised" (astrocald), "flat normalized", "normalised
 *         flat", "normalized flat", "flat corrected", "flat-corrected", "flat applied",
 *         "divided by flat", "divided by master flat", "calibration with master flat",
 *         ImageCalibration.masterFlat.fileName / .enabled: true.
 */
static const char *const hist_bias[] = {
    "subtract_bias",
    "calibrated with a master bias",
    "calibrated with a synthetic bias",
    "bias subtracted",
    "bias-subtracted",
    "subtracted bias",
    "subtracted master bias",
    "bias removed",
    "offset subtracted",
    "calibration with master bias",
    NULL,
};
static const char *const hist_dark[] = {
    "subtract_dark",
    "calibrated with a master dark",
    "calibrated with an optimized master dark",
    "dark subtracted",
    "dark-subtracted",
    "subtracted dark",
    "subtracted master dark",
    "dark removed",
    "calibration with master dark",
    NULL,
};
static const char *const hist_flat[] = {
    "flat_correct",
    "calibrated with a master flat",
    "flat divided",
    "flat corrected",
    "flat-corrected",
    "flat applied",
    "divided by flat",
    "divided by master flat",
    "flat normalised",
    "flat normalized",
    "normalised flat",
    "normalized flat",
    "calibration with master flat",
    NULL,
};

static void history_provenance(const ac_hdr_t *h, int *bias, int *dark, int *flat)
{
    char key[9];

    for (size_t i = 0; i < h->n; i++) {
        const char *text = h->cards[i] + 8;
        ac_hdr_card_key(h, i, key);
        if (strcmp(key, "HISTORY") != 0)
            continue;
        if (any_of(text, hist_bias) || pixinsight_on(text, "masterbias"))
            *bias = AC_PROV_YES;
        if (any_of(text, hist_dark) || pixinsight_on(text, "masterdark"))
            *dark = AC_PROV_YES;
        if (any_of(text, hist_flat) || pixinsight_on(text, "masterflat"))
            *flat = AC_PROV_YES;
    }
}

/*
 * provenance fills the bias/dark/flat fields. Precedence, strongest first:
 *  1. explicit keywords: BIASSUB / BIAS-SUB, DARKSUB / DARK-SUB, FLATNORM / FLATSUB (T/F);
 *     ccdproc's SUBBIAS / SUBDARK / FLATCOR keywords (present = done);
 *  2. our own DARKBIAS on a dark: T = the dark contains the bias (bias_subtracted NO),
 *     F = the dark is bias-free (YES);
 *  2b. MaxIm DL's CALSTAT (letters B, D, F: those steps done, the others not);
 *  3. CALIBRAT = T: the frame had its offset removed (bias YES); CALIBRAT = F: NO;
 *  4. HISTORY lines (history_provenance).
 */
static void provenance(ac_meta_t *m, const ac_hdr_t *h)
{
    int hb = AC_PROV_UNKNOWN, hd = AC_PROV_UNKNOWN, hf = AC_PROV_UNKNOWN;
    char cal[72];
    bool b, calstat = false;

    history_provenance(h, &hb, &hd, &hf);
    /* MaxIm DL's CALSTAT lists the steps done: 'B' bias, 'D' dark, 'F' flat; a step it
     * does not list was not done. It stands with the explicit keywords. */
    if (ac_hdr_get_value(h, "CALSTAT", cal, sizeof cal)) {
        hb = strchr(cal, 'B') != NULL ? AC_PROV_YES : AC_PROV_NO;
        hd = strchr(cal, 'D') != NULL ? AC_PROV_YES : AC_PROV_NO;
        hf = strchr(cal, 'F') != NULL ? AC_PROV_YES : AC_PROV_NO;
        calstat = true;
    }

    if (!step_keywords(h, "BIASSUB", "BIAS-SUB", "SUBBIAS", &m->bias_subtracted)) {
        if (ac_hdr_get_bool(h, "DARKBIAS", &b))
            m->bias_subtracted = b ? AC_PROV_NO : AC_PROV_YES;
        else if (calstat)
            m->bias_subtracted = hb;
        else if (ac_hdr_get_bool(h, "CALIBRAT", &b))
            m->bias_subtracted = b ? AC_PROV_YES : AC_PROV_NO;
        else
            m->bias_subtracted = hb;
    }
    if (!step_keywords(h, "DARKSUB", "DARK-SUB", "SUBDARK", &m->dark_subtracted))
        m->dark_subtracted = hd;
    if (!step_keywords(h, "FLATNORM", "FLATSUB", "FLATCOR", &m->flat_normalised))
        m->flat_normalised = hf;
}

/* bayer fills bayerpat, offsets and row order. A pattern is kept upper case without
 * blanks; "MONO", "NONE" and "GRAY"/"GREY" mean no pattern. */
static void bayer(ac_meta_t *m, const ac_hdr_t *h)
{
    const char *const *pat_keys = ac_meta_keys(AC_FACT_BAYERPAT);
    const char *const *xoff_keys = ac_meta_keys(AC_FACT_XBAYROFF);
    const char *const *yoff_keys = ac_meta_keys(AC_FACT_YBAYROFF);
    char buf[72], row[72];
    size_t n = 0;

    m->bayerpat[0] = '\0';
    if (first_string(h, pat_keys, buf, sizeof buf)) {
        for (const char *p = buf; *p != '\0' && n + 1 < sizeof m->bayerpat; p++)
            if (!isspace((unsigned char)*p))
                m->bayerpat[n++] = (char)toupper((unsigned char)*p);
        m->bayerpat[n] = '\0';
        if (strcmp(m->bayerpat, "MONO") == 0 || strcmp(m->bayerpat, "NONE") == 0 ||
            strcmp(m->bayerpat, "GRAY") == 0 || strcmp(m->bayerpat, "GREY") == 0)
            m->bayerpat[0] = '\0';
    }
    m->xbayroff = get_int(h, xoff_keys, 0);
    m->ybayroff = get_int(h, yoff_keys, 0);
    m->has_roworder = ac_meta_first_key(h, AC_FACT_ROWORDER, row, sizeof row) != NULL;
    m->roworder_bottom_up = true;
    if (m->has_roworder) {
        char sq[72];
        squash(row, sq, sizeof sq);
        m->roworder_bottom_up = strcmp(sq, "topdown") != 0;
    }
}

/* fact_num reads the first keyword of fact f present as a number into *v and records it
 * in key (may be NULL); NAN when none parses. */
static double fact_num(const ac_hdr_t *h, ac_fact_t f, char *key, size_t ksize)
{
    const char *const *k = ac_meta_keys(f);
    double v;

    for (; *k != NULL; k++) {
        if (ac_hdr_get_double(h, *k, &v)) {
            if (key != NULL)
                ac_strlcpy(key, *k, ksize);
            return v;
        }
    }
    return NAN;
}

static void fact_str(const ac_hdr_t *h, ac_fact_t f, char *out, size_t size, char *key,
                     size_t ksize)
{
    const char *k = ac_meta_first_key(h, f, out, size);

    if (k == NULL)
        out[0] = '\0';
    else if (key != NULL)
        ac_strlcpy(key, k, ksize);
}

/* binning fills xbin/ybin: XBINNING/BINX/CCDXBIN (and Y), else BINNING = '2*2'. */
static void binning(ac_meta_t *m, const ac_hdr_t *h)
{
    char buf[72];
    double v;

    v = fact_num(h, AC_FACT_XBIN, m->bin_key, sizeof m->bin_key);
    m->xbin = isfinite(v) && v >= 1 && v <= 64 ? (int)lround(v) : 0;
    v = fact_num(h, AC_FACT_YBIN, NULL, 0);
    m->ybin = isfinite(v) && v >= 1 && v <= 64 ? (int)lround(v) : 0;
    if (m->xbin == 0 && m->ybin == 0 &&
        ac_meta_first_key(h, AC_FACT_BINNING, buf, sizeof buf) != NULL &&
        ac_meta_parse_binning(buf, &m->xbin, &m->ybin))
        ac_strlcpy(m->bin_key, "BINNING", sizeof m->bin_key);
}

/* observation_date fills date_obs: DATE-OBS as written when it is an ISO date with a time;
 * an ISO date alone joined to TIME-OBS/UT; a legacy 'dd/mm/yy' DATE-OBS, else a legacy
 * DATE (a modern ISO DATE is when the file was written, never used), with TIME-OBS/UT. */
static void observation_date(ac_meta_t *m, const ac_hdr_t *h)
{
    char d[72] = "", t[72] = "", iso[96];
    const char *tk = ac_meta_first_key(h, AC_FACT_TIME, t, sizeof t);
    ac_isodate_t x;

    m->date_obs[0] = '\0';
    if (ac_hdr_get_value(h, "DATE-OBS", d, sizeof d)) {
        ac_str_trim(d);
        if (ac_isodate_parse(d, &x) == 0 && !x.has_time && tk != NULL) {
            snprintf(iso, sizeof iso, "%sT%s", d, t);
            if (ac_isodate_parse(iso, &x) == 0) {
                ac_strlcpy(m->date_obs, iso, sizeof m->date_obs);
                snprintf(m->date_key, sizeof m->date_key, "DATE-OBS+%s", tk);
                return;
            }
        }
        if (ac_meta_legacy_date(d, tk != NULL ? t : NULL, m->date_obs, sizeof m->date_obs) ==
            0) {
            snprintf(m->date_key, sizeof m->date_key, "DATE-OBS%s%s", tk ? "+" : "",
                     tk ? tk : "");
            return;
        }
        ac_strlcpy(m->date_obs, d, sizeof m->date_obs);
        ac_strlcpy(m->date_key, "DATE-OBS", sizeof m->date_key);
        return;
    }
    if (tk != NULL && ac_hdr_get_value(h, "DATE", d, sizeof d) &&
        ac_meta_legacy_date(d, t, m->date_obs, sizeof m->date_obs) == 0)
        snprintf(m->date_key, sizeof m->date_key, "DATE+%s", tk);
}

void ac_meta_from_header(ac_meta_t *m, const ac_hdr_t *h)
{
    static const char *const k_naxis1[] = {"ZNAXIS1", "NAXIS1", NULL};
    static const char *const k_naxis2[] = {"ZNAXIS2", "NAXIS2", NULL};
    static const char *const k_naxis3[] = {"ZNAXIS3", "NAXIS3", NULL};
    static const char *const k_naxis[] = {"ZNAXIS", "NAXIS", NULL};
    static const char *const k_bitpix[] = {"ZBITPIX", "BITPIX", NULL};
    static const char *const k_bzero[] = {"BZERO", NULL};
    static const char *const k_bscale[] = {"BSCALE", NULL};
    static const char *const k_satur[] = {"SATURATE", NULL};
    static const char *const k_ncomb[] = {"NCOMBINE", NULL};
    static const char *const k_ped[] = {"PEDESTAL", NULL};
    char buf[72];
    bool zimage = false;
    int z;

    memset(m, 0, sizeof *m);
    /* A tile-compressed table header (ZIMAGE = T) describes the image with Z keywords;
     * a normal image header has none, so the Z aliases are only looked at then. */
    z = ac_hdr_get_bool(h, "ZIMAGE", &zimage) && zimage ? 0 : 1;
    m->width = get_int(h, k_naxis1 + z, 0);
    m->height = get_int(h, k_naxis2 + z, 0);
    m->naxis3 = get_int(h, k_naxis3 + z, 0);
    m->naxis = get_int(h, k_naxis + z, 0);
    m->bitpix = get_int(h, k_bitpix + z, 0);
    m->bzero = get_num(h, k_bzero);
    if (isnan(m->bzero))
        m->bzero = 0;
    m->bscale = get_num(h, k_bscale);
    if (isnan(m->bscale))
        m->bscale = 1;
    m->saturation = get_num(h, k_satur);
    if (isnan(m->saturation) && m->bitpix > 0)
        m->saturation = integer_saturation(m->bitpix, m->bzero, m->bscale);

    fact_str(h, AC_FACT_TYPE, m->imagetyp, sizeof m->imagetyp, m->type_key, sizeof m->type_key);
    m->type = ac_meta_classify(m->imagetyp, &m->is_master);
    m->ncombine = get_int(h, k_ncomb, 0);
    if (m->ncombine > 1 && m->type != AC_FRAME_LIGHT && m->type != AC_FRAME_UNKNOWN)
        m->is_master = true;

    m->exptime = fact_num(h, AC_FACT_EXPTIME, m->exp_key, sizeof m->exp_key);
    m->ccd_temp = fact_num(h, AC_FACT_CCD_TEMP, m->temp_key, sizeof m->temp_key);
    m->set_temp = fact_num(h, AC_FACT_SET_TEMP, m->set_key, sizeof m->set_key);
    binning(m, h);
    m->gain = fact_num(h, AC_FACT_GAIN, NULL, 0);
    m->egain = fact_num(h, AC_FACT_EGAIN, NULL, 0);
    m->offset = fact_num(h, AC_FACT_OFFSET, NULL, 0);
    fact_str(h, AC_FACT_READOUT, m->readout, sizeof m->readout, NULL, 0);
    fact_str(h, AC_FACT_FILTER, m->filter, sizeof m->filter, NULL, 0);
    bayer(m, h);
    fact_str(h, AC_FACT_INSTRUME, m->instrume, sizeof m->instrume, NULL, 0);
    fact_str(h, AC_FACT_TELESCOP, m->telescop, sizeof m->telescop, NULL, 0);
    fact_str(h, AC_FACT_OBJECT, m->object, sizeof m->object, NULL, 0);
    observation_date(m, h);
    m->sitelong = fact_num(h, AC_FACT_SITELONG, NULL, 0);
    if (isnan(m->sitelong) && ac_meta_first_key(h, AC_FACT_SITELONG, buf, sizeof buf) &&
        !parse_sexagesimal(buf, &m->sitelong))
        m->sitelong = NAN;

    provenance(m, h);
    m->pedestal = get_num(h, k_ped);
    if (isnan(m->pedestal))
        m->pedestal = 0;
    fact_str(h, AC_FACT_CREATOR, m->creator, sizeof m->creator, NULL, 0);
}

bool ac_meta_filter_equal(const char *a, const char *b)
{
    size_t la, lb;

    if (a == NULL)
        a = "";
    if (b == NULL)
        b = "";
    while (isspace((unsigned char)*a))
        a++;
    while (isspace((unsigned char)*b))
        b++;
    la = strlen(a);
    lb = strlen(b);
    while (la > 0 && isspace((unsigned char)a[la - 1]))
        la--;
    while (lb > 0 && isspace((unsigned char)b[lb - 1]))
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* color_code maps a pattern letter to 0 red, 1 green, 2 blue, -1 otherwise. */
static int color_code(char c)
{
    switch (c) {
    case 'R':
        return 0;
    case 'G':
        return 1;
    case 'B':
        return 2;
    default:
        return -1;
    }
}

int ac_meta_cfa_color(const ac_meta_t *m, int x, int y)
{
    const char *p = m->bayerpat;
    int ix, iy;

    if (strlen(p) != 4)
        return -1;
    for (int i = 0; i < 4; i++)
        if (color_code(p[i]) < 0)
            return -1;
    /* & 1 on the sum is the parity also for negative offsets (two's complement). */
    ix = (int)((unsigned)(x + m->xbayroff) & 1u);
    iy = (int)((unsigned)(y + m->ybayroff) & 1u);
    return color_code(p[iy * 2 + ix]);
}

bool ac_meta_cfa_equal(const ac_meta_t *a, const ac_meta_t *b)
{
    bool mono_a = a->bayerpat[0] == '\0', mono_b = b->bayerpat[0] == '\0';

    if (mono_a || mono_b)
        return mono_a && mono_b;
    if (a->roworder_bottom_up != b->roworder_bottom_up)
        return false;
    if (ac_meta_cfa_color(a, 0, 0) < 0 || ac_meta_cfa_color(b, 0, 0) < 0)
        return strcmp(a->bayerpat, b->bayerpat) == 0 &&
               ((a->xbayroff ^ b->xbayroff) & 1) == 0 && ((a->ybayroff ^ b->ybayroff) & 1) == 0;
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 2; x++)
            if (ac_meta_cfa_color(a, x, y) != ac_meta_cfa_color(b, x, y))
                return false;
    return true;
}
