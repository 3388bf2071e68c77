/*
 * meta.h - what astrocald needs to know about a frame, read from its FITS header with every
 * keyword alias in use (pure: works on an ac_hdr_t, no cfitsio).
 *
 * The keywords read for each fact are ONE table (hdrkeys.c, ac_meta_keys), shared by
 * registration (the importer and ingest), matching (the planner), calibration (the engine,
 * `astrocald calibrate`) and master building; calibration.md "Header keywords" lists it.
 * For every fact the first keyword of its list that is present wins, and the one used is
 * recorded in the *_key fields below (shown by `astrocalctl plan`).
 *
 * Missing numbers are NAN (doubles) or 0 (binning); missing strings are "".
 * Thread: pure functions, any thread.
 */
#ifndef AC_META_H
#define AC_META_H

#include <stdbool.h>

#include "hdr.h"

typedef enum ac_frame_type {
    AC_FRAME_UNKNOWN = 0,
    AC_FRAME_LIGHT,
    AC_FRAME_DARK,
    AC_FRAME_FLAT,
    AC_FRAME_BIAS,
    AC_FRAME_FLATDARK,
} ac_frame_type_t;

/* Provenance of a master, each AC_PROV_UNKNOWN, AC_PROV_NO or AC_PROV_YES. */
enum { AC_PROV_UNKNOWN = -1, AC_PROV_NO = 0, AC_PROV_YES = 1 };

typedef struct ac_meta {
    int width, height;    /* NAXIS1, NAXIS2 (the image, also for tile-compressed input) */
    int bitpix;           /* BITPIX of the image (ZBITPIX for tile-compressed) */
    double bzero, bscale; /* scaling as written (0 and 1 when absent) */
    double saturation;    /* SATURATE, else the largest value BITPIX/BZERO can hold, NAN
                             for floating-point images without SATURATE */
    ac_frame_type_t type; /* from IMAGETYP/FRAME/FRAMETYP */
    bool is_master;       /* "Master ..." type, or NCOMBINE > 1 on a calibration frame */
    int ncombine;         /* NCOMBINE, 0 when absent */
    char imagetyp[72];    /* raw type string */
    double exptime;       /* seconds */
    double ccd_temp;      /* degrees C */
    double set_temp;      /* degrees C */
    int xbin, ybin;
    double gain, offset; /* camera settings (not EGAIN) */
    char readout[72];
    char filter[72];   /* trimmed, as written */
    char bayerpat[16]; /* "" for mono; upper case, e.g. "RGGB" */
    int xbayroff, ybayroff;
    bool roworder_bottom_up; /* ROWORDER = 'BOTTOM-UP' (the default when a pattern is set) */
    bool has_roworder;
    char instrume[72], telescop[72], object[72];
    char date_obs[72]; /* DATE-OBS as written, or built from a legacy DATE/DATE-OBS =
                          'dd/mm/yy' with TIME-OBS/UT (ac_meta_legacy_date) */
    double sitelong;   /* degrees east, NAN when absent */
    double egain;      /* EGAIN / EPERADU, e-/ADU, NAN when absent (never the gain) */
    int naxis, naxis3; /* NAXIS, NAXIS3 (0 when absent): NAXIS3 = 3 is a colour cube */
    /* Which keyword gave each fact ("" when none): shown by `astrocalctl plan`. */
    char type_key[9], exp_key[9], temp_key[9], set_key[9], bin_key[9], date_key[24];
    /* Provenance (masters): what the frame already had removed. */
    int bias_subtracted; /* BIASSUB/ BIAS-SUB keywords, CALIBRAT, HISTORY lines */
    int dark_subtracted; /* DARKSUB */
    int flat_normalised; /* FLATNORM or our own provenance keywords */
    double pedestal;     /* PEDESTAL already in the data, 0 when absent */
    char creator[72];    /* CREATOR / SWCREATE / PROGRAM / CALSOFT, as written */
} ac_meta_t;

/* ac_meta_classify maps an IMAGETYP/FRAME value to a frame type, case-insensitively, with
 * every variant in calibration.md: "Light Frame", "LIGHT", "Object", "Science"; "Dark
 * Frame", "DARK"; "Flat Field", "FLAT", "Sky Flat", "Dome Flat"; "Bias Frame", "BIAS",
 * "ZERO", "Offset"; "DARKFLAT", "Flat Dark", "Dark Flat", "FlatDark"; any of them prefixed
 * by "Master ". *is_master (may be NULL) says whether the "Master" prefix was present. */
ac_frame_type_t ac_meta_classify(const char *imagetyp, bool *is_master);

/* ac_meta_type_name returns "light", "dark", "flat", "bias", "flat-dark" or "unknown". */
const char *ac_meta_type_name(ac_frame_type_t t);

/* ac_meta_from_header fills m from a header. Never fails: what is missing stays unset. The
 * provenance fields look at BIASSUB, DARKSUB, CALIBRAT, PEDESTAL, our own DARKBIAS and
 * FLATSUB keywords, ccdproc's SUBBIAS/SUBDARK/FLATCOR keywords, and at HISTORY lines
 * written by Siril ("Calibrated with a master bias/dark/flat"), ccdproc ("subtract_bias",
 * "subtract_dark"), PixInsight ("ImageCalibration.masterBias.fileName/enabled: true") and
 * astrocald; the exact substrings and the precedence are listed in meta.c. Explicit
 * keywords win over CALIBRAT, which wins over HISTORY; HISTORY only ever says YES.
 * A tile-compressed table header (ZIMAGE = T) is read through ZBITPIX/ZNAXISn. */
void ac_meta_from_header(ac_meta_t *m, const ac_hdr_t *h);

/* ac_meta_filter_equal compares two filter names trimmed and case-folded. */
bool ac_meta_filter_equal(const char *a, const char *b);

/* ac_meta_cfa_color returns the CFA colour at image pixel (x, y): 0 red, 1 green, 2 blue,
 * or -1 for a mono frame (empty bayerpat) or a pattern it does not know. The pattern is
 * applied with XBAYROFF/YBAYROFF to the pixel's position as stored in the file (first stored
 * row is y = 0), which is the camera's readout order that BAYERPAT describes. ROWORDER is
 * not used to flip; it is compared between frames by ac_meta_cfa_equal. */
int ac_meta_cfa_color(const ac_meta_t *m, int x, int y);

/* ac_meta_cfa_equal says whether two frames have the same effective CFA layout: both mono,
 * or the same colour at each of the 2x2 positions and the same ROWORDER (absent ROWORDER
 * equals BOTTOM-UP, the FITS default). */
bool ac_meta_cfa_equal(const ac_meta_t *a, const ac_meta_t *b);

/* The header facts of the keyword table (hdrkeys.c). */
typedef enum ac_fact {
    AC_FACT_TYPE = 0, /* IMAGETYP, FRAME, FRAMETYP */
    AC_FACT_EXPTIME,  /* EXPTIME, EXPOSURE, EXP (the DWARF writes only EXP) */
    AC_FACT_CCD_TEMP, /* CCD-TEMP, CCD_TEMP, CCDTEMP, TEMPERAT, CAMTEMP */
    AC_FACT_SET_TEMP, /* SET-TEMP, SET_TEMP, SETTEMP */
    AC_FACT_XBIN,     /* XBINNING, BINX, CCDXBIN (then BINNING = 'n*m') */
    AC_FACT_YBIN,     /* YBINNING, BINY, CCDYBIN (then BINNING) */
    AC_FACT_BINNING,  /* BINNING = '2*2', '2x2' or 2 */
    AC_FACT_GAIN,     /* GAIN (camera setting) */
    AC_FACT_EGAIN,    /* EGAIN, EPERADU (e-/ADU: never a gain setting) */
    AC_FACT_OFFSET,   /* OFFSET, BLKLEVEL */
    AC_FACT_READOUT,  /* READOUTM, READMODE */
    AC_FACT_FILTER,   /* FILTER, FILTERS (trimmed) */
    AC_FACT_TELESCOP, /* TELESCOP */
    AC_FACT_INSTRUME, /* INSTRUME */
    AC_FACT_OBJECT,   /* OBJECT */
    AC_FACT_DATE,     /* DATE-OBS (then the legacy DATE = 'dd/mm/yy') */
    AC_FACT_TIME,     /* TIME-OBS, UT (with a legacy date) */
    AC_FACT_BAYERPAT, /* BAYERPAT, COLORTYP */
    AC_FACT_XBAYROFF, /* XBAYROFF */
    AC_FACT_YBAYROFF, /* YBAYROFF */
    AC_FACT_ROWORDER, /* ROWORDER */
    AC_FACT_SITELONG, /* SITELONG, LONG-OBS */
    AC_FACT_CREATOR,  /* CREATOR, SWCREATE, PROGRAM, CALSOFT */
    AC_FACT_N
} ac_fact_t;

/* ac_meta_keys returns the NULL-terminated keyword list of fact f, AstroFiler's keyword
 * first (NULL for an unknown f). */
const char *const *ac_meta_keys(ac_fact_t f);

/* ac_meta_keys_text writes the list as text ("EXPTIME, EXPOSURE or EXP") into buf, for
 * messages naming the keywords tried; returns buf. */
const char *ac_meta_keys_text(ac_fact_t f, char *buf, size_t size);

/* ac_meta_first_key returns the first keyword of fact f present in h with a value (copied
 * into value, trimmed, when value is not NULL), or NULL. */
const char *ac_meta_first_key(const ac_hdr_t *h, ac_fact_t f, char *value, size_t size);

/* ac_meta_legacy_date builds an ISO date "YYYY-MM-DDTHH:MM:SS[.f]" from a legacy FITS date
 * 'dd/mm/yy' (years 70-99 are 19yy, 00-69 20yy: MaxIm DL still writes DATE = '04/07/18'
 * for 2018) and an optional time 'HH:MM:SS[.f]' (NULL or "": 00:00:00). 0, or -EINVAL
 * when date is not of that form or names no real day. */
int ac_meta_legacy_date(const char *date, const char *time, char *out, size_t size);

/* ac_meta_parse_binning reads a BINNING value: "2*2", "2x2", "2 x 2" or "2". */
bool ac_meta_parse_binning(const char *s, int *xbin, int *ybin);

/* ---- The temperature rule (temp.c): one rule for the planner, the engine and the builder
 *
 * A frame's temperature is its measured sensor temperature (AC_FACT_CCD_TEMP) and its set
 * point (AC_FACT_SET_TEMP). Comparing a reference (the light; the flat for a flat-dark; the
 * other subs of a master) with a master (or sub), with tolerance max_diff:
 *   1. both have a sensor temperature: |dCCD-TEMP| <= max_diff (dark current follows the
 *      sensor, not the set point);
 *   2. else both have a set point: |dSET-TEMP| <= max_diff;
 *   3. else one has only a sensor temperature and the other only a set point: those two;
 *   4. else neither has any temperature (uncooled cameras, DSLRs): accepted, nothing to
 *      compare (AC_TEMP_NONE);
 *   5. else only one side has a temperature: AC_TEMP_UNKNOWN, refused, since the
 *      tolerance cannot be checked (the reason names the keywords tried).
 * Difference within 1e-6 of max_diff counts as within. */
typedef enum ac_temp_verdict {
    AC_TEMP_OK = 0,  /* within the tolerance */
    AC_TEMP_NONE,    /* neither side has a temperature: accepted */
    AC_TEMP_DIFFERS, /* more than max_diff apart: refused */
    AC_TEMP_UNKNOWN  /* one side has none: refused */
} ac_temp_verdict_t;

typedef struct ac_temp_cmp {
    ac_temp_verdict_t verdict;
    double diff;       /* |difference| compared, NAN when not compared */
    const char *basis; /* "CCD-TEMP", "SET-TEMP", "CCD-TEMP/SET-TEMP" or "" */
    char text[200];    /* e.g. "CCD-TEMP -10.0 C vs -12.0 C: 2.0 C apart (<= 5.0)" */
} ac_temp_cmp_t;

/* ac_temp_compare applies the rule; ref_what/m_what name the sides in the text ("light",
 * "master dark x.fits"). Always fills *out. */
void ac_temp_compare(double ref_ccd, double ref_set, double m_ccd, double m_set,
                     double max_diff, const char *ref_what, const char *m_what,
                     ac_temp_cmp_t *out);

/* ac_temp_refused says whether a verdict refuses the master. */
static inline bool ac_temp_refused(ac_temp_verdict_t v)
{
    return v == AC_TEMP_DIFFERS || v == AC_TEMP_UNKNOWN;
}

/* ---- Frame type from the path (pathtype.c) ----
 * ac_meta_type_from_path infers a frame type from the names of a file and of up to
 * `levels` folders above it (innermost first; never above `root` when root is not NULL or
 * ""): each name is cut into words at every character that is not a letter, and at a
 * lower-to-upper case change ("DarkFlat" -> "Dark", "Flat"); words compare
 * case-insensitively: light/lights, dark/darks, flat/flats, bias/biases/offset/offsets,
 * and flatdark(s)/darkflat(s) or the two adjacent words flat+dark(s), dark+flat(s) for a
 * flat-dark; the adjacent words dwarf+raw (the DWARF app's DWARF_RAW_... folders of raw
 * lights) for a light. The innermost name with a type word decides; a name that names two types
 * ("Light_DarkNebula") decides nothing and stops the search (ambiguous). why (may be
 * NULL) says which name decided, or why nothing did. Returns AC_FRAME_UNKNOWN when no
 * name decides. */
ac_frame_type_t ac_meta_type_from_path(const char *path, const char *root, int levels,
                                       char *why, size_t why_size);

/* ac_meta_object_from_path reads the object from the DWARF app's raw-light folder name,
 * DWARF[n]_RAW_[TELE_|WIDE_]<object>_EXP_<s>_GAIN_<g>_<date> (the folder holding the
 * file), for a DWARF light whose OBJECT is blank. false when the folder is not one. */
bool ac_meta_object_from_path(const char *path, char *out, size_t size);

/* The kinds of master astrocald builds (a flat-dark is a dark taken for flats). */
typedef enum ac_cal_kind {
    AC_CAL_BIAS = 0,
    AC_CAL_DARK,
    AC_CAL_FLAT,
    AC_CAL_FLATDARK,
    AC_CAL_NKINDS
} ac_cal_kind_t;

#endif
