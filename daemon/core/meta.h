/*
 * meta.h - what astrocald needs to know about a frame, read from its FITS header with every
 * keyword alias in use (pure: works on an ac_hdr_t, no cfitsio).
 *
 * Aliases (calibration.md): exposure EXPTIME/EXPOSURE; type IMAGETYP/FRAME/FRAMETYP;
 * binning XBINNING/YBINNING or BINX/BINY; temperature CCD-TEMP/CCD_TEMP/CCDTEMP/TEMPERAT;
 * set point SET-TEMP/SET_TEMP; offset OFFSET/BLKLEVEL; gain GAIN (never EGAIN, which is
 * e-/ADU); filter FILTER; readout mode READOUTM/READMODE; Bayer BAYERPAT/COLORTYP with
 * XBAYROFF/YBAYROFF and ROWORDER.
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
    char date_obs[72];
    double sitelong; /* degrees east, NAN when absent */
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

/* The kinds of master astrocald builds (a flat-dark is a dark taken for flats). */
typedef enum ac_cal_kind {
    AC_CAL_BIAS = 0,
    AC_CAL_DARK,
    AC_CAL_FLAT,
    AC_CAL_FLATDARK,
    AC_CAL_NKINDS
} ac_cal_kind_t;

#endif
