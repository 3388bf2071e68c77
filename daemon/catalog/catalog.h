/*
 * catalog.h - queries and updates over AstroFiler's tables and astrocald's own (adapter).
 *
 * Implemented by: catalog.c (reading AstroFiler's catalogue: light sessions, their files,
 * masters; value helpers), catalog_write.c (recording a calibrated file, registering
 * imported files and masters, as AstroFiler writes them), catalog_ingest.c (paths already
 * registered, linking light sessions to calibration sessions), catalog_event.c (the
 * history, event.h), catalog_build.c (calibration sessions as master build units; kind and
 * state names) and catalog_build_queue.c (the master build queue in astrocal_build, registering
 * a built master). catalog_row.c, catalog_stmt.c and catalog_int.h hold helpers shared by those
 * files only. The light queue (astrocal_session / astrocal_file) is queue.h.
 *
 * AstroFiler's value quirks are absorbed here (astrofiler-db.md): numbers stored as TEXT
 * ('300' and '300.0') come back as doubles (NAN when NULL, '' or not a number); binning as
 * int (0 when unknown); booleans NULL read as 0; both schema variants work (optional
 * columns discovered by schema.c); fitsFileGain/fitsFileOffset are normally NULL, so
 * callers read GAIN/OFFSET from the FITS headers.
 *
 * Ownership: lists and records returned are owned by the caller and released with the
 * matching *_free / *_clear function (safe on NULL, zeroed or already freed values). A
 * function that fills a list or record empties it first and leaves it owning nothing when
 * it fails. Input structs and strings are borrowed for the duration of the call; names
 * returned by the *_name functions are static.
 *
 * Every write is one short transaction (ac_db_transact: BUSY retry, then AC_EBUSY, which
 * is transient); called inside an outer ac_db_transact a write joins it as a savepoint.
 * Errors: AC_ESQLITE (message names the operation and sqlite3_errmsg), AC_EBUSY, -ENOMEM,
 * -ENOENT (a named row does not exist), -EINVAL (bad argument).
 *
 * Thread: every function that takes an ac_db_t runs on the loop thread only (the owner of
 * the connection; AC_DB_OWNER_CHECK aborts otherwise). The functions marked "any thread"
 * and the *_free / *_clear functions touch no connection and may run on any thread (the
 * one that owns the value, for the latter).
 */
#ifndef AC_CATALOG_H
#define AC_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"
#include "meta.h"

#define AC_UUID_LEN 36

/* ---- Helpers (any thread) ---- */

/* ac_catalog_parse_number: '300', '300.0', '-10.1' -> number; NULL, '' or text -> NAN. */
double ac_catalog_parse_number(const char *s);

/* ac_catalog_uuid4 writes a random (version 4) UUID, 36 characters plus NUL, from
 * getrandom(2). 0 or -errno. */
int ac_catalog_uuid4(char out[AC_UUID_LEN + 1]);

/* ---- Reading AstroFiler's catalogue (catalog.c) ---- */

/* A light session that still has uncalibrated lights. Strings are owned (NULL when the
 * column is NULL or there is no fitssession row). */
typedef struct ac_catalog_session {
    char *session_id;    /* fitsSessionId = fitsFileSession of the lights */
    bool has_row;        /* a fitssession row exists */
    char *object, *date; /* fitsSessionObjectName, fitsSessionDate ('YYYY-MM-DD') */
    char *telescope, *imager, *filter;
    double exposure, ccd_temp, gain, offset; /* NAN when unknown */
    int xbin, ybin;                          /* 0 when unknown */
    char *first_date_obs; /* earliest fitsFileDate of its uncalibrated lights */
    int n_uncalibrated;   /* lights still to calibrate */
} ac_catalog_session_t;

typedef struct ac_session_list {
    ac_catalog_session_t *items;
    size_t n;
} ac_session_list_t;

/* A fitsfile row. */
typedef struct ac_catalog_file {
    char *file_id, *path, *session_id;
    char *date_obs; /* fitsFileDate, the raw DATE-OBS */
    char *type;     /* fitsFileType as stored ('LIGHT FRAME', 'LIGHT', ...) */
    char *object, *filter, *telescope, *instrument, *hash;
    double exposure, ccd_temp, gain, offset; /* NAN when unknown */
    int xbin, ybin;                          /* 0 when unknown */
    bool calibrated, soft_deleted;           /* NULL reads as false */
    char *original_file; /* fitsFileOriginalFile: set on calibrated outputs */
} ac_catalog_file_t;

typedef struct ac_file_list {
    ac_catalog_file_t *items;
    size_t n;
} ac_file_list_t;

/* A Masters row. */
typedef struct ac_catalog_master {
    int64_t rowid;   /* Masters.id */
    char *master_id; /* e.g. 'dark_C14_20241005_021007' */
    char *type;      /* 'bias' | 'dark' | 'flat' (lower case as stored) */
    char *path;      /* master_path */
    char *telescope, *instrument, *filter;
    double exposure, ccd_temp, gain, offset; /* NAN when unknown */
    int xbin, ybin;                          /* 0 when unknown */
    char *source_session_id;
    char *source_session_date; /* fitsSessionDate of the source session, or NULL */
    char *night;               /* observing night read from the master's DATE-OBS by astrocald
                                * (astrocal_master_night), or NULL when not read yet */
    char *creation_date;       /* 'YYYY-MM-DD HH:MM:SS.ffffff' */
    char *hash_md5;            /* hash_value, or NULL */
    char *cloud_url;           /* cloud_url (a backup: fetch.h), or NULL */
    int file_count;
    int64_t file_size; /* -1 when unknown */
    double quality;    /* quality_score, NAN when NULL */
    bool validated;
} ac_catalog_master_t;

typedef struct ac_master_list {
    ac_catalog_master_t *items;
    size_t n;
} ac_master_list_t;

/*
 * ac_catalog_light_sessions lists the sessions that have uncalibrated lights: fitsfile
 * rows with upper(fitsFileType) LIKE '%LIGHT%', not soft-deleted, not calibrated (NULL
 * counts as not), not a calibrated output (fitsFileOriginalFile IS NULL), grouped by
 * fitsFileSession, with the session's fitssession row. Lights without a session
 * (fitsFileSession NULL: AstroFiler has not made sessions yet) are not listed; see
 * ac_catalog_count_unsessioned_lights. Ordered by session date then id.
 */
int ac_catalog_light_sessions(ac_db_t *db, ac_session_list_t *out, ac_err_t *e);
void ac_catalog_sessions_free(ac_session_list_t *list);

/* ac_catalog_session_any reads one light session (a list of at most one) whatever its
 * lights' state: every raw light counts (calibrated and soft-deleted ones too; outputs
 * never), n_uncalibrated then counts them all. Empty for a session without raw lights. */
int ac_catalog_session_any(ac_db_t *db, const char *session_id, ac_session_list_t *out,
                           ac_err_t *e);

/* ac_catalog_count_unsessioned_lights counts uncalibrated lights with no session. */
int ac_catalog_count_unsessioned_lights(ac_db_t *db, int *count, ac_err_t *e);

/* ac_catalog_session_files lists the uncalibrated raw lights of a session (same rules as
 * ac_catalog_light_sessions), ordered by fitsFileDate then id. An unknown session gives an
 * empty list. */
int ac_catalog_session_files(ac_db_t *db, const char *session_id, ac_file_list_t *out,
                             ac_err_t *e);
/* ac_catalog_session_raw_lights lists every raw light of a session, calibrated or not
 * (outputs never), in the same order. */
int ac_catalog_session_raw_lights(ac_db_t *db, const char *session_id, ac_file_list_t *out,
                                  ac_err_t *e);
void ac_catalog_files_free(ac_file_list_t *list);

/* ac_catalog_file_get reads one fitsfile row by id (any kind). -ENOENT when absent. */
int ac_catalog_file_get(ac_db_t *db, const char *file_id, ac_catalog_file_t *out, ac_err_t *e);
/* ac_catalog_file_by_path reads the fitsfile row of the file at path (fitsFileName, as
 * stored), the oldest when several; -ENOENT when none. */
int ac_catalog_file_by_path(ac_db_t *db, const char *path, ac_catalog_file_t *out, ac_err_t *e);
void ac_catalog_file_clear(ac_catalog_file_t *f);

/* ac_catalog_masters lists every Masters row with soft_delete = 0, by rowid. A database
 * without a Masters table gives an empty list. */
int ac_catalog_masters(ac_db_t *db, ac_master_list_t *out, ac_err_t *e);

/* ac_catalog_master_set_night records the observing night ('YYYY-MM-DD') astrocald read
 * from master rowid's DATE-OBS (date_obs may be NULL), replacing an earlier record. */
int ac_catalog_master_set_night(ac_db_t *db, int64_t rowid, const char *night,
                                const char *date_obs, ac_err_t *e);

/* ac_catalog_new_masters lists Masters rows with soft_delete = 0 and rowid > after_rowid,
 * by rowid (master creation events since the last one seen). */
int ac_catalog_new_masters(ac_db_t *db, int64_t after_rowid, ac_master_list_t *out,
                           ac_err_t *e);

/* ac_catalog_unseen_masters lists Masters rows (soft_delete = 0) not yet recorded in
 * astrocal_master_seen; ac_catalog_mark_masters_seen records rowids (one transaction). */
int ac_catalog_unseen_masters(ac_db_t *db, ac_master_list_t *out, ac_err_t *e);
int ac_catalog_mark_masters_seen(ac_db_t *db, const int64_t *rowids, size_t n, ac_err_t *e);
void ac_catalog_masters_free(ac_master_list_t *list);

/* ---- Writing AstroFiler's catalogue (catalog_write.c) ---- */

/* What a calibration produced, for ac_catalog_record_calibrated. Strings may be NULL
 * (unused master, unknown value); doubles may be NAN (stored as NULL). */
typedef struct ac_calibrated_rec {
    const char *raw_file_id;   /* fitsFileId of the raw light (required) */
    const char *output_path;   /* absolute path of the calibrated file (required) */
    const char *output_sha256; /* hex SHA-256 of the output (fitsFileHash) */
    const char *bias_path, *bias_md5;
    const char *dark_path, *dark_md5;
    const char *flat_path, *flat_md5;
    const char *flatdark_path, *flatdark_md5;
    const char *steps; /* e.g. "bias,dark(x0.98),flat,pedestal" */
    double dark_scale, pedestal;
    const char *quality_json;
    double t_read, t_calib, t_write, t_total; /* seconds */
} ac_calibrated_rec_t;

/*
 * ac_catalog_record_calibrated records a calibrated file in ONE transaction, following
 * AstroFiler's convention: a new fitsfile row (new UUID4, fitsFileCalibrated=1,
 * fitsFileCalibrationDate now, fitsFileOriginalFile = raw path, date/type/object/session/
 * equipment/exposure/binning/temperature/filter/stacked copied from the raw row,
 * fitsFileOriginalCloudURL = raw fitsFileCloudURL, fitsFileSoftDelete=0, fitsFileHash =
 * output_sha256, fitsFileName = output_path, fitsFileMasterBias/Dark/Flat = the master
 * paths when those columns exist); the raw row marked fitsFileCalibrated=1 with its
 * calibration date, and soft-deleted (fitsFileSoftDelete=1) only when preserve_original
 * is false; astrocal_record upserted. The queue row is not touched: the daemon calls
 * ac_queue_record_calibrated (queue.h), which runs this and marks the row done in one
 * transaction.
 *
 * Exactly once: when astrocal_record already holds raw_file_id, nothing is inserted again
 * (the existing output id is returned); when a
 * fitsfile row already has fitsFileName = output_path and either the output's hash or the
 * raw light's session (the same output registered by someone else), that row is reused
 * instead of inserting a second one (looked up through the hash and session indexes: no
 * scan of fitsfile).
 * out_file_id (may be NULL) receives the output's fitsFileId. -ENOENT when the raw row
 * does not exist.
 */
int ac_catalog_record_calibrated(ac_db_t *db, const ac_calibrated_rec_t *rec,
                                 bool preserve_original, char out_file_id[AC_UUID_LEN + 1],
                                 ac_err_t *e);

/*
 * ac_catalog_record_recalibrated records a new calibration of a light recorded before
 * (astrocal_record holds it), in ONE transaction: the existing output row keeps its
 * fitsFileId and gets the new fitsFileHash, fitsFileName (output_path, normally the same
 * path), fitsFileCalibrationDate and fitsFileMasterBias/Dark/Flat; astrocal_record takes
 * the new masters, steps and figures. No row is inserted. out_file_id (may be NULL)
 * receives the output's fitsFileId. -ENOENT when the light has no record or its output
 * row is gone.
 */
int ac_catalog_record_recalibrated(ac_db_t *db, const ac_calibrated_rec_t *rec,
                                   char out_file_id[AC_UUID_LEN + 1], ac_err_t *e);

/* A FITS file to register, with values already in AstroFiler's text form (see
 * ac_pyfmt_text). NULL strings are stored as NULL. */
typedef struct ac_register_rec {
    const char *path;        /* absolute path -> fitsFileName (required) */
    const char *sha256;      /* fitsFileHash (required): duplicates by hash are skipped */
    const char *date_obs;    /* fitsFileDate: DATE-OBS as written */
    const char *imagetyp;    /* IMAGETYP as written; stored upper-cased (fitsFileType) */
    const char *object;      /* fitsFileObject: OBJECT, or 'Dark'/'Flat'/'Bias' */
    const char *exptime;     /* e.g. '300' or '300.0' */
    const char *xbin, *ybin; /* AstroFiler writes '1' when absent */
    const char *ccd_temp;    /* AstroFiler writes '0' when absent */
    const char *telescope, *instrument; /* AstroFiler writes 'Unknown' when absent */
    const char *filter;                 /* NULL for darks and biases, as AstroFiler */
    const char *gain, *offset;          /* AstroFiler's importer leaves these NULL */
    int calibrated; /* fitsFileCalibrated: 0, or 1 for pre-calibrated frames */
    /* Session: find or create a fitssession row with this object name and date and the
     * same telescope, imager, binning, gain and offset (numbers compared numerically),
     * plus exposure when session_by_exposure and filter when session_by_filter. A NULL
     * session_object leaves fitsFileSession NULL. The created row copies telescope,
     * imager, exposure, binning, temperature and filter from the file, gain and offset
     * from session_gain / session_offset, and is_auto_calibration = 0 when that column
     * exists. */
    const char *session_object; /* light: OBJECT; calibration: 'Bias', 'Dark', 'Flat' */
    const char *session_date;   /* 'YYYY-MM-DD' (the observing night) */
    const char *session_gain, *session_offset;
    bool session_by_exposure, session_by_filter;
} ac_register_rec_t;

typedef struct ac_register_result {
    char file_id[AC_UUID_LEN + 1];    /* the new row, or the existing duplicate */
    char session_id[AC_UUID_LEN + 1]; /* "" when none */
    bool duplicate;                   /* a row with this hash existed; nothing written */
    bool session_created;
} ac_register_result_t;

/* ac_catalog_register_file inserts a fitsfile row as AstroFiler's importer does
 * (fitsFileSoftDelete=0 when the column exists, fitsFileStacked NULL) and links its
 * session, in one transaction. */
int ac_catalog_register_file(ac_db_t *db, const ac_register_rec_t *rec,
                             ac_register_result_t *res, ac_err_t *e);

/* A master file to register in Masters (values in AstroFiler's text form). */
typedef struct ac_master_rec {
    const char *type;  /* 'bias' | 'dark' | 'flat' (required) */
    const char *path;  /* absolute path (required) */
    const char *md5;   /* hash_value: MD5 of the file */
    int64_t file_size; /* -1 when unknown */
    int file_count;    /* frames combined (NOT NULL in Masters) */
    const char *telescope, *instrument;
    const char *exposure; /* darks only, as AstroFiler */
    const char *xbin, *ybin, *ccd_temp, *gain, *offset;
    const char *filter; /* flats only, as AstroFiler */
    const char *source_session_id;
    const char *notes;
    double quality; /* NAN -> NULL */
    bool validated;
} ac_master_rec_t;

/* ac_catalog_register_master inserts a Masters row (creation_date now, soft_delete 0,
 * master_id '{type}_{telescope, spaces->_}_{YYYYmmdd_HHMMSS}' made unique with a '_N'
 * suffix when taken). A live row with the same path or MD5 is a duplicate: nothing is
 * written and *rowid is the existing one. rowid and duplicate may be NULL. -ENOENT when
 * the database has no Masters table. */
int ac_catalog_register_master(ac_db_t *db, const ac_master_rec_t *rec, int64_t *rowid,
                               bool *duplicate, ac_err_t *e);

/* ---- The history (catalog_event.c): event.h ----
 *
 * The light queue (astrocal_session / astrocal_file) has its own module: queue.h. */

/* ---- Master builds (catalog_build.c) ---- */

/*
 * Calibration sessions and the master build queue (astrocal_build, schema version 2); the
 * queue functions (ac_catalog_build_*) are in catalog_build_queue.c.
 *
 * A "build unit" is what one master is made from: the frames of one calibration session
 * (fitssession with fitsSessionObjectName exactly 'Bias', 'Dark' or 'Flat') of one kind.
 * The importer files flat-darks in 'Dark' sessions (AstroFiler has no flat-dark type), so a
 * 'Dark' session gives a dark unit for its DARK frames and a flat-dark unit for its frames
 * typed FLAT DARK / DARKFLAT / DARK FLAT (ac_meta_classify). The unit's build key, stored
 * in astrocal_build.session_id, is the session id, with AC_BUILD_FLATDARK_SUFFIX appended
 * for a flat-dark unit (so a 'Dark' session holding both kinds has two rows).
 *
 * A unit's frames are its session's fitsfile rows of the unit's kind that are not
 * soft-deleted, not calibrated (fitsFileCalibrated NULL or 0) and not calibrated outputs
 * (fitsFileOriginalFile NULL), ordered by fitsFileDate then id.
 *
 * "A master exists" for a unit when a live Masters row (soft_delete 0) has
 * source_session_id = the session id and master_type = the unit's Masters type ('dark'
 * for flat-darks, as AstroFiler and the importer store them). Only when the session holds
 * both darks and flat-darks is the master's file name used to tell them apart: a name
 * containing "flatdark" or "darkflat" (case and '-', '_', ' ' ignored) is the flat-dark's.
 *
 * Build states: pending --claim--> running --register--> done
 *                                          --finish--> done | failed | rejected
 *                                          --defer--> pending (not_before = back-off)
 *               running --recover at start-up--> pending (attempts + 1), or failed
 *               failed | rejected --retry--> pending (attempts 0)
 * 'rejected' is a master that was built but failed its quality check: it is never put in
 * Masters and error holds the reason (shown by `astrocalctl masters`).
 */

#define AC_BUILD_FLATDARK_SUFFIX ":flatdark"

/* Names as stored in astrocal_build.type ("bias", "dark", "flat", "flatdark") and back
 * (-1 when unknown); the Masters.master_type of a kind ("bias", "dark", "flat", "dark").
 * Any thread. */
const char *ac_catalog_cal_kind_name(ac_cal_kind_t k);
int ac_catalog_cal_kind_parse(const char *name);
const char *ac_catalog_cal_kind_master_type(ac_cal_kind_t k);

/* ac_catalog_name_is_flatdark says whether a master file name names a flat-dark (see
 * above). Any thread. */
bool ac_catalog_name_is_flatdark(const char *path);

/* A build unit with its frames (strings owned; NULL when the column is NULL). */
typedef struct ac_calsession {
    char *key;        /* build key (astrocal_build.session_id) */
    char *session_id; /* fitsSessionId */
    ac_cal_kind_t kind;
    char *date; /* fitsSessionDate ('YYYY-MM-DD', the observing night) */
    char *telescope, *imager, *filter;
    double exposure, ccd_temp, gain, offset; /* fitssession values, NAN when unknown */
    int xbin, ybin;                          /* 0 when unknown */
    ac_file_list_t frames;                   /* fitsfile rows (see above) */
    int64_t master_rowid; /* the live Masters row made from this unit, 0 when none */
    char *master_path;    /* its master_path, NULL when none */
} ac_calsession_t;

typedef struct ac_calsession_list {
    ac_calsession_t *items;
    size_t n;
} ac_calsession_list_t;

/* ac_catalog_cal_sessions lists every build unit that has at least one frame, except the
 * units of sessions recorded as decided (ac_catalog_cal_sessions_decided), ordered by
 * session date, session id, then kind. ac_catalog_cal_session reads the one unit named by
 * a build key (-ENOENT when the session does not exist or has no frame of that kind). */
int ac_catalog_cal_sessions(ac_db_t *db, ac_calsession_list_t *out, ac_err_t *e);
/* ac_catalog_cal_sessions_decided records sessions whose every unit is decided (see
 * ac_build_scan): ac_catalog_cal_sessions leaves them out from then on (a catalogue of
 * years then costs what its open sessions cost); ac_catalog_build_retry takes one back. */
int ac_catalog_cal_sessions_decided(ac_db_t *db, const char *const *session_ids, size_t n,
                                    ac_err_t *e);
int ac_catalog_cal_session(ac_db_t *db, const char *key, ac_calsession_t *out, ac_err_t *e);
void ac_catalog_calsession_clear(ac_calsession_t *s);
void ac_catalog_calsessions_free(ac_calsession_list_t *list);

typedef enum ac_build_state {
    AC_BUILD_PENDING = 0,
    AC_BUILD_RUNNING,
    AC_BUILD_DONE,
    AC_BUILD_FAILED,
    AC_BUILD_REJECTED,
    AC_BUILD_NSTATES
} ac_build_state_t;

/* Names as stored ("pending", ...) and back (-1 when unknown). Any thread. */
const char *ac_catalog_build_state_name(ac_build_state_t s);
int ac_catalog_build_state_parse(const char *name);

/* An astrocal_build row (strings owned, NULL when NULL). */
typedef struct ac_build_row {
    char *key; /* astrocal_build.session_id */
    ac_cal_kind_t kind;
    ac_build_state_t state;
    int attempts;
    double not_before; /* unix seconds, NAN when none */
    char *error, *master_path, *quality_json, *started_at, *finished_at, *updated_at;
    int64_t master_rowid; /* 0 when none */
} ac_build_row_t;

typedef struct ac_build_row_list {
    ac_build_row_t *items;
    size_t n;
} ac_build_row_list_t;

void ac_catalog_build_row_clear(ac_build_row_t *r);
void ac_catalog_build_rows_free(ac_build_row_list_t *list);

/* ac_catalog_build_enqueue adds a pending row for key (kind from the key's unit); a key
 * already in the queue keeps its row. *added (may be NULL) says whether a row was made. */
int ac_catalog_build_enqueue(ac_db_t *db, const char *key, ac_cal_kind_t kind, bool *added,
                             ac_err_t *e);

/* ac_catalog_build_claim takes the next pending row whose not_before has passed (<= now,
 * unix seconds): prerequisites first (bias, then flat-dark, dark, flat), then the order in
 * which they were queued. It is marked running (started_at set) in one transaction and
 * copied to *out; *found says whether there was one. */
int ac_catalog_build_claim(ac_db_t *db, double now, ac_build_row_t *out, bool *found,
                           ac_err_t *e);

/* ac_catalog_build_set_path records the output path chosen for a running build, so that a
 * restarted build writes the same file (ac_build_plan's reuse_path). -ENOENT. */
int ac_catalog_build_set_path(ac_db_t *db, const char *key, const char *path, ac_err_t *e);

/* ac_catalog_build_defer puts a running build back to pending, eligible from not_before
 * (unix seconds), with error recorded (may be NULL); attempts + 1 when count_attempt (a
 * transient failure), unchanged otherwise (waiting for a prerequisite, cancelled).
 * -ENOENT when the row is not running. */
int ac_catalog_build_defer(ac_db_t *db, const char *key, const char *error, double not_before,
                           bool count_attempt, ac_err_t *e);

/* ac_catalog_build_wake makes every pending build eligible now (a master was just
 * registered: builds waiting for a prerequisite may be ready). */
int ac_catalog_build_wake(ac_db_t *db, ac_err_t *e);

/* ac_catalog_build_finish ends a build: DONE (nothing to register, e.g. a master already
 * exists), FAILED (attempts + 1) or REJECTED, with error (may be NULL) and quality_json
 * (may be NULL: kept). -ENOENT, -EINVAL for PENDING/RUNNING. */
int ac_catalog_build_finish(ac_db_t *db, const char *key, ac_build_state_t state,
                            const char *error, const char *quality_json, ac_err_t *e);

/* ac_catalog_build_recover runs at start-up: every running build goes back to pending with
 * attempts + 1; those that reach max_attempts become failed ("interrupted N times").
 * Counts may be NULL. One transaction. */
int ac_catalog_build_recover(ac_db_t *db, int max_attempts, int *n_requeued, int *n_failed,
                             ac_err_t *e);

/* ac_catalog_build_retry puts failed and rejected builds back to pending (attempts 0,
 * error and not_before cleared): key, or all when key is NULL. *changed may be NULL. */
int ac_catalog_build_retry(ac_db_t *db, const char *key, int *changed, ac_err_t *e);

/* ac_catalog_build_get reads one row (-ENOENT); ac_catalog_build_list lists every row,
 * running first, then pending (each in claim order), then the others newest first. */
int ac_catalog_build_get(ac_db_t *db, const char *key, ac_build_row_t *out, ac_err_t *e);
int ac_catalog_build_list(ac_db_t *db, ac_build_row_list_t *out, ac_err_t *e);

/*
 * ac_catalog_build_register registers a built master in ONE transaction: the Masters row
 * (ac_catalog_register_master: every NOT NULL column, a unique master_id) and the build
 * row set done with master_rowid, master_path, quality_json and finished_at. This row is
 * the master creation event that releases waiting light sessions.
 * Exactly once: when the build row is already done with a master_rowid, nothing is
 * inserted and that rowid is returned (*duplicate true); a live Masters row with the same
 * path or MD5 is reused (*duplicate true) when it has the same MD5, and refused (-EEXIST)
 * when the same path carries another MD5 (a stale row for an older file). rowid and
 * duplicate may be NULL. -ENOENT when key is not in the queue or there is no Masters
 * table.
 */
int ac_catalog_build_register(ac_db_t *db, const char *key, const ac_master_rec_t *rec,
                              const char *quality_json, int64_t *rowid, bool *duplicate,
                              ac_err_t *e);

/* ---- Live ingest (catalog_ingest.c) ---- */

/* A list of paths (owned strings). */
typedef struct ac_path_list {
    char **items;
    size_t n;
} ac_path_list_t;

/*
 * ac_catalog_registered_paths lists the paths already in the catalogue under the folder
 * prefix (an absolute path; NULL: every path): fitsfile.fitsFileName of every row
 * (soft-deleted rows and calibrated outputs included) and Masters.master_path of every
 * row, so that live ingest skips them without reading them. fitsFileName has no index in
 * AstroFiler's schema, so this reads each table once: call it once, not per file.
 * The list is owned (ac_catalog_paths_free).
 */
int ac_catalog_registered_paths(ac_db_t *db, const char *prefix, ac_path_list_t *out,
                                ac_err_t *e);
void ac_catalog_paths_free(ac_path_list_t *list);

/*
 * ac_catalog_link_sessions links light sessions to calibration sessions as AstroFiler's
 * linkSessions does, in one transaction: for each light session (fitsSessionObjectName
 * not 'Bias', 'Dark' or 'Flat', with a date) dated since_date or later (NULL: all),
 * fitsBiasSession / fitsDarkSession / fitsFlatSession get the id of the most recent 'Bias'
 * / 'Dark' / 'Flat' session dated on or before the light session's date with the same
 * telescope, imager, binning, gain and offset, plus the exposure for darks and the filter
 * for flats (numbers compared numerically, unlike AstroFiler). A link that is set is kept,
 * unless it points to no session or to a session of another kind, or a more recent
 * matching session exists (calibration frames of the night registered after its lights).
 * A light session whose masters astrocald planned (ac_catalog_session_links) is left to
 * that decision. *n_linked (may be NULL) counts the light sessions updated.
 */
int ac_catalog_link_sessions(ac_db_t *db, const char *since_date, int *n_linked, ac_err_t *e);

/* ---- AstroFiler's session fields for astrocald's decisions (catalog_links.c) ----
 *
 * What AstroFiler's code reads (models/fits_session.py, migration 008, the sessions view
 * and services/telescope.py): on a light session, fitsBiasSession / fitsDarkSession /
 * fitsFlatSession name the calibration sessions it is calibrated with (the sessions view
 * looks up Masters rows by that source_session_id), auto_calibration_*_session_id the
 * sessions "used for calibration", master_*_created that a master of the kind exists for
 * it, is_auto_calibration that the session was calibrated automatically; on a calibration
 * session, master_*_created that its master was created. Each function writes the
 * columns the database has, only when a value changes, and joins an open transaction.
 */

/* A master chosen for a light session (borrowed strings). */
typedef struct ac_session_link {
    const char *master;         /* its path; NULL: no master of this kind */
    const char *source_session; /* Masters.source_session_id; NULL or "": none */
} ac_session_link_t;

/*
 * ac_catalog_session_links records the masters planned for light session session_id,
 * links[0..2] for bias, dark and flat: fitsXSession and auto_calibration_X_session_id =
 * the master's source session when a fitssession row has that id; a master without one
 * (no source_session_id, or one not in the catalogue) leaves fitsXSession as it was and
 * auto_calibration_X_session_id NULL, never a guessed session; master_X_created = whether
 * a master of the kind is used. astrocal_session.links_json gets per kind {"master",
 * "session" (null when none), "note" (why there is no session)}.
 */
int ac_catalog_session_links(ac_db_t *db, const char *session_id,
                             const ac_session_link_t links[3], ac_err_t *e);

/* ac_catalog_session_autocal sets is_auto_calibration = 1 on a light session whose lights
 * astrocald calibrated. */
int ac_catalog_session_autocal(ac_db_t *db, const char *session_id, ac_err_t *e);

/* ac_catalog_master_created sets master_<type>_created = 1 ('bias', 'dark', 'flat') on the
 * calibration session a built master came from (nothing when source_session is NULL or
 * ""). -EINVAL for another type. */
int ac_catalog_master_created(ac_db_t *db, const char *source_session, const char *type,
                              ac_err_t *e);

/*
 * ac_catalog_record_inferred records in astrocal_inferred that file file_id (at path) was
 * registered with frame type type ("light", ...) inferred from its path, and why (issue 9).
 * Replaces an earlier record of the same file. Loop thread; joins an open transaction.
 * 0 or a catalog error.
 */
int ac_catalog_record_inferred(ac_db_t *db, const char *file_id, const char *path,
                               const char *type, const char *why, ac_err_t *e);

/* One inferred type, for `astrocalctl plan`. */
typedef struct ac_inferred {
    char *path, *frame_type, *reason;
} ac_inferred_t;

typedef struct ac_inferred_list {
    ac_inferred_t *items;
    size_t n;
} ac_inferred_list_t;

/* ac_catalog_session_inferred lists the frames of session session_id whose type was
 * inferred (astrocal_inferred joined with fitsfile), in path order. Loop thread. */
int ac_catalog_session_inferred(ac_db_t *db, const char *session_id, ac_inferred_list_t *out,
                                ac_err_t *e);
void ac_catalog_inferred_free(ac_inferred_list_t *l);

#endif
