/*
 * match.h - choosing the master bias, dark, flat and flat-dark for a light session (pure:
 * plain structs in, plain structs out; no SQLite, no cfitsio, no libuv).
 *
 * The caller (the scheduler, `astrocalctl plan`) reads the light session and the master
 * candidates from the catalogue and the FITS headers, parses AstroFiler's text numbers
 * ('300' and '300.0' are both 300), computes observing nights, validates the master files,
 * and hands everything here. ac_match_run() applies the rules of calibration.md and issue 3
 * and explains, for every candidate, why it was chosen, rejected or ranked lower. When the
 * best candidate later fails validation, the caller sets its `invalid` flag and reason and
 * runs the matching again: the next one is chosen and the broken one shows its reason.
 *
 * Hard rules (a mismatch rejects; every mismatch is listed in the reason):
 *  - every master: the same instrument, size, binning, Bayer pattern, gain, offset and
 *    readout mode where both sides know them (numbers compared numerically; names trimmed
 *    and case-folded; "" and "Unknown" mean unknown);
 *  - flats: also the same telescope and filter, strictly (an unknown name on one side only
 *    is a mismatch). Bias and darks belong to the camera: their telescope is not compared;
 *  - darks: temperature by the one rule of meta.h (ac_temp_compare: CCD-TEMP, else
 *    SET-TEMP, within max_temp_diff; neither side with a temperature passes with a note;
 *    only one side with one is refused), the rule the engine and the builder apply too;
 *    an exposure unknown on the light or the dark is refused (k would be a guess);
 *    exposure equal within max(exp_tol_s, exp_tol_pct % of the dark's) -> k = 1, else
 *    k = t_light / t_dark when scaling is allowed, k <= dark_max_scale and the dark is
 *    bias-free or a bias master matches (it is needed to take the bias out of the dark);
 *  - flat-darks: equipment as darks, and exposure and temperature of the chosen flat;
 *  - dates: a master later than the light only with allow_later; none further than
 *    max_age_days nights from the light (0 = unlimited).
 *
 * Ranking of the candidates that pass, each key deciding only when the previous ones tie:
 *  0. darks: usable now (a bias-free dark needs a master bias: without one it ranks last);
 *  1. not later than the light (a later master is used only when nothing earlier fits);
 *  2. darks: exposure equal (k = 1), then scaled, then exposure unknown;
 *  3. fewer nights between the light's night and the master's (same night first, then the
 *     closest earlier); a master with no date comes after every dated one;
 *  4. more optional keywords equal on both sides (readout mode, SET-TEMP, offset, gain);
 *  5. closer exposure; 6. closer temperature; 7. closer DATE-OBS (within a night);
 *  8. newest; 9. lowest id (determinism).
 *
 * A bias is needed when a dark is scaled, when the dark is bias-free, when a flat is used
 * without a dark (none required), when the flat is raw (flat_calibrated NO) without a
 * flat-dark, or
 * when the configuration requires one. When the dark's or the flat's provenance is unknown,
 * a matching bias is used if there is one (the engine measures), but its absence does not
 * block the session. A session is "waiting" when a required or needed master is missing.
 *
 * Ownership: ac_match_run fills a result whose notes array it owns; free it with
 * ac_match_result_free. Nothing keeps pointers into the light or the candidates.
 * Thread: pure functions, any thread.
 */
#ifndef AC_MATCH_H
#define AC_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum ac_match_type {
    AC_MATCH_BIAS = 0,
    AC_MATCH_DARK,
    AC_MATCH_FLAT,
    AC_MATCH_FLATDARK,
    AC_MATCH_NTYPES
} ac_match_type_t;

/* Bits of ac_match_opts_t.required (the config's required_masters = bias,dark,flat). */
enum { AC_MATCH_NEED_BIAS = 1 << 0, AC_MATCH_NEED_DARK = 1 << 1, AC_MATCH_NEED_FLAT = 1 << 2 };

/* Tri-state provenance: same values as meta.h's AC_PROV_*. */
enum { AC_MATCH_UNKNOWN = -1, AC_MATCH_NO = 0, AC_MATCH_YES = 1 };

/* The equipment and settings a frame was taken with. Unknown numbers are NAN (doubles) or 0
 * (sizes, binning); unknown strings are "". */
typedef struct ac_match_equip {
    char instrument[72]; /* INSTRUME (camera) */
    char telescope[72];  /* TELESCOP; AstroFiler writes 'Unknown' on bias/dark masters */
    int width, height;   /* NAXIS1, NAXIS2 */
    int xbin, ybin;
    double gain, offset;
    char readout[72];  /* readout mode */
    char bayerpat[16]; /* "RGGB"...; "" for mono or unknown (not compared then) */
    char filter[72];
    double exposure; /* seconds (lights, darks, and the flat for its flat-dark) */
    double ccd_temp; /* CCD-TEMP, C. AstroFiler's '0' placeholder for "no keyword" must
                        be turned into NAN by the caller when it knows that */
    double set_temp; /* SET-TEMP, C */
} ac_match_equip_t;

/* A light session. Dates are ISO strings in any form isodate.h accepts: "YYYY-MM-DD",
 * optionally followed by "T" or " " and "HH:MM[:SS[.fff]]" and a zone (none or "Z": UTC;
 * "+01:00" and the like are converted to UTC, whose date is then the calendar date); both
 * DATE-OBS and AstroFiler's 'YYYY-MM-DD HH:MM:SS.ffffff' parse. */
typedef struct ac_match_light {
    ac_match_equip_t eq;
    char night[16];    /* observing night "YYYY-MM-DD" (local noon to noon); "" = take the
                          calendar date of date_obs */
    char date_obs[40]; /* DATE-OBS of the session's first light */
} ac_match_light_t;

/* A master candidate. */
typedef struct ac_match_cand {
    int64_t id; /* Masters.id (rowid); named as #id in explanations */
    ac_match_type_t type;
    char path[4096];
    ac_match_equip_t eq; /* exposure for darks, flat-darks (and flats), filter for flats */
    char night[16];      /* observing night of the source frames; "" = from date */
    char date[40];       /* DATE-OBS of the frames it was made from (source session), NOT
                            the day the file was written; "" = unknown */
    int dark_has_bias;   /* darks: AC_MATCH_YES/NO/UNKNOWN (unknown: assumed yes) */
    int flat_calibrated; /* flats: bias or flat-dark already removed (unknown: maybe raw) */
    bool invalid;        /* the file failed validation (set by the caller) */
    char invalid_reason[160]; /* e.g. "checksum mismatch" */
} ac_match_cand_t;

/* A master the operator chose for one type (astrocalctl use, or a calibration session
 * linked in AstroFiler's session fields): only the candidates in ids[0..nids) are
 * considered for that type, and the others are "not used". The chosen one still passes
 * every rule (match.h's header), except that force accepts a mismatch that is not fatal
 * (temperature, exposure scale, dates, gain, offset, readout mode, instrument name, a
 * flat's filter or telescope): the note records what was overridden. A fatal mismatch
 * (size, binning, Bayer pattern, an invalid file, a scaled dark that still holds the bias
 * with no bias to remove it) is never accepted. nids 0 = no pin; ids is borrowed. A pin
 * whose ids name no candidate makes the session wait with `label` in the reason. */
typedef struct ac_match_pin {
    const int64_t *ids;
    size_t nids;
    bool force;
    char label[160]; /* what the operator named, e.g. "#7 Master-Dark.fits (astrocalctl
                        use)" */
} ac_match_pin_t;

typedef struct ac_match_opts {
    double max_temp_diff;    /* C, max_temperature_difference (5.0) */
    double exp_tol_s;        /* exposure_tolerance_s (0.5) */
    double exp_tol_pct;      /* exposure_tolerance_pct (1.0) */
    double dark_max_scale;   /* dark_max_scale (2.0) */
    bool allow_dark_scaling; /* scale a dark of another exposure (true) */
    bool allow_later;        /* allow_later_masters (true) */
    int max_age_days;        /* max_master_age_days, nights either way (0 = unlimited) */
    unsigned required;       /* AC_MATCH_NEED_* (DARK | FLAT) */
    ac_match_pin_t pin[AC_MATCH_NTYPES]; /* none by default (bias, dark, flat only) */
} ac_match_opts_t;

/* ac_match_opts_default fills the defaults in parentheses above. */
void ac_match_opts_default(ac_match_opts_t *o);

typedef enum ac_match_verdict {
    AC_MATCH_REJECTED = 0, /* fails a hard rule (or is invalid) */
    AC_MATCH_LOWER,        /* passes, but another candidate ranks higher */
    AC_MATCH_CHOSEN,       /* used for this light session */
    AC_MATCH_UNUSED,       /* passes (or was not examined) but its type is not needed */
} ac_match_verdict_t;

#define AC_MATCH_NIGHTS_UNKNOWN INT32_MIN

/* What happened to one candidate; notes[i] describes cands[i]. */
typedef struct ac_match_note {
    int64_t id;
    int type;       /* ac_match_type_t, -1 for a candidate of an unknown type */
    char name[256]; /* base name of the path */
    ac_match_verdict_t verdict;
    bool later;           /* from a night after the light's */
    int32_t nights;       /* master night - light night; AC_MATCH_NIGHTS_UNKNOWN */
    double k;             /* darks that pass: the exposure scale (1 = equal), else NAN */
    int keywords_equal;   /* optional keywords equal on both sides (ranking key 4) */
    char reason[512];     /* why rejected / ranked lower / unused, or why chosen */
    char warning[256];    /* "" or e.g. "no temperature on the master: not compared" */
    bool pinned;          /* named by the type's pin (ac_match_pin_t) */
    bool fatal;           /* rejected for a mismatch no --force accepts */
    char overridden[256]; /* a forced pin: the mismatches accepted, else "" */
} ac_match_note_t;

typedef enum ac_match_status { AC_MATCH_READY = 0, AC_MATCH_WAITING } ac_match_status_t;

typedef struct ac_match_result {
    ac_match_status_t status;
    char reason[512];             /* WAITING: "waiting for dark 300 s, -10 C, gain 100,
                                     1x1; flat L, Esprit100"; READY: "" */
    int chosen[AC_MATCH_NTYPES];  /* index into cands/notes, -1 = none */
    bool later[AC_MATCH_NTYPES];  /* the chosen master is later than the light */
    double dark_k;                /* exposure scale for the chosen dark (1 without one) */
    bool pinned[AC_MATCH_NTYPES]; /* the type was pinned (chosen or not) */
    bool bias_needed;             /* hard need (see the header comment) */
    char bias_why[256];           /* why a bias is needed or used, "" otherwise */
    size_t n;                     /* number of candidates */
    ac_match_note_t *notes;       /* n notes, owned (ac_match_result_free) */
} ac_match_result_t;

/*
 * ac_match_run matches light against cands[0..n) (n may be 0, cands then NULL) with opts
 * (NULL = defaults) and fills res (any previous content is overwritten, not freed).
 * Returns 0, -EINVAL (NULL light or res) or -ENOMEM, with a message in e.
 */
int ac_match_run(const ac_match_light_t *light, const ac_match_cand_t *cands, size_t n,
                 const ac_match_opts_t *opts, ac_match_result_t *res, ac_err_t *e);

/* ac_match_result_free frees the notes and leaves res empty; NULL-safe. */
void ac_match_result_free(ac_match_result_t *res);

/*
 * ac_match_plan_text renders the explanation, one line per master type and one indented
 * line per other candidate, for `astrocalctl plan`, e.g.
 *     status: waiting for flat L, Esprit100
 *     bias: not needed
 *     dark: #4 Master-Dark-300s.fits (same night, k=1)
 *       #7 Master-Dark-120s.fits: rejected: exposure 120 s needs k=2.50 > 2.00
 *     flat: none
 *       #9 Master-Flat-Ha.fits: rejected: filter 'Ha' != light's 'L'
 * Writes at most size bytes (always terminated when size > 0) and returns the length the
 * whole text needs, like snprintf.
 */
size_t ac_match_plan_text(const ac_match_result_t *res, char *buf, size_t size);

/* Accessors for JSON builders (static strings). */
const char *ac_match_type_name(int type);       /* "bias", "dark", "flat", "flat-dark" */
const char *ac_match_verdict_name(int verdict); /* "rejected", "ranked-lower", "chosen",
                                                   "unused" */
const char *ac_match_status_name(int status);   /* "ready", "waiting" */

/* ac_match_type_from_name maps Masters.master_type ("bias", "dark", "flat"), "flat-dark" and
 * IMAGETYP values ("Master Dark", "DARKFLAT"...) to a type, or -1. */
int ac_match_type_from_name(const char *name);

/* ac_match_pin_waiting describes why a pinned type has no master (for ac_match_run's
 * waiting reason): the pinned candidate among notes[0..n) is rejected (and whether --force
 * would accept it), or none of the candidates is the pinned one. */
void ac_match_pin_waiting(const ac_match_pin_t *p, int type, const ac_match_note_t *notes,
                          size_t n, char *buf, size_t size);

/* ac_match_chosen returns the note of the chosen master of a type, or NULL. Borrowed from
 * res. */
const ac_match_note_t *ac_match_chosen(const ac_match_result_t *res, int type);

#endif
