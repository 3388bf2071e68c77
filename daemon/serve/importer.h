/*
 * importer.h - registering FITS files found under a folder into AstroFiler's catalogue,
 * as AstroFiler's importer would, without moving them (orchestration, libuv): the work
 * behind `astrocalctl import DIR`, and the per-file steps that live ingest (issue 4)
 * reuses for single files.
 *
 * One import runs in three overlapping steps:
 *   1. pool thread (uv_queue_work): DIR is walked recursively (ac_walk, walk.h: directory
 *      symlinks are not followed, file symlinks are; entries in name order; hidden names
 *      included; a folder that cannot be listed is an error entry), listing every
 *      .fit/.fits/.fts file, optionally .fz or .gz, any case, and .xisf and .zip files;
 *      The files whose names or folders' names say bias, dark, flat or flat-dark
 *      (ac_meta_type_from_path, as for a header without a type) are then put first, each
 *      group in the walk's order: the import's order. Masters and the frames they are built
 *      from are so registered before the lights that need them;
 *   2. pool threads, one job per file, opts.readers (4) in flight: each file is read
 *      (ac_import_scan_file; an .xisf image is first converted to "<stem>.fits" beside it
 *      and a .fit.zip/.fits.zip archive's first FITS member extracted beside it, as
 *      AstroFiler's importer does, unpack.h; the FITS file is then what is read and
 *      registered; any other .zip is skipped as unsupported): header and metadata
 *      (ac_imgio_read_header), then SHA-256 of the whole file (plus MD5 for master files,
 *      from the same read; ac_digest_fd_n: one 1 MiB buffer, read-ahead asked for 8 MiB
 *      ahead), its size. The result is a small record (a few hundred bytes), no pixel
 *      data;
 *   3. loop thread: the records are registered in the import's order (so the first of
 *      two equal files is the one registered, as with one reader), as soon as batch_rows
 *      of them are read in order, or every file is, or read files waited 100 ms (more
 *      when a transaction takes long: 20 times the last one's, at most 500 ms): at most
 *      batch_rows rows and about batch_budget_ms per loop iteration, one transaction per
 *      batch, one batch per loop iteration so clients are served in between: frames
 *      through ac_catalog_register_file, master files through ac_catalog_register_master,
 *      each skipping duplicates (fitsFileHash; Masters path or MD5). A batch whose
 *      transaction fails (database busy) is retried after a second, three times, then
 *      its files are reported as errors and the import goes on. After each batch that
 *      registered something, opts.progress lets the owner plan it (the daemon calibrates
 *      the lights of a long import while the rest is read).
 * Then cb(ud, result) runs once, on the loop thread.
 *
 * What is registered, and how (astrofiler-db.md; AstroFiler 1.2's importer):
 * - The header facts are read through core's one keyword table (meta.h, ac_meta_keys:
 *   AstroFiler's keyword first, then the aliases).
 * - The frame type comes from IMAGETYP, else FRAME, else FRAMETYP (ac_meta_classify);
 *   a header with none of them gets its type from the file's and its folders' names
 *   (ac_meta_type_from_path: the file name and up to 3 folders, never above the imported
 *   or watched folder) when opts.type_from_path, stored as 'LIGHT', 'DARK', 'FLAT', 'BIAS'
 *   or 'DARKFLAT' and recorded in astrocal_inferred with why; a name that says nothing
 *   skips the file as "untyped", counted apart.
 *   fitsFileType is that text upper-cased ('LIGHT FRAME', 'DARKFLAT'), except for types
 *   AstroFiler's substring tests would not recognise ('Object', 'Science', 'Zero',
 *   'Offset'): those are stored as 'LIGHT' / 'BIAS' so that `LIKE '%LIGHT%'` finds them.
 * - Numbers are stored as Python prints the header value (ac_pyfmt_text): '300.0'
 *   for EXPTIME = 300., '300' for 300, strings as written. Aliases are read when the
 *   AstroFiler keyword is absent (EXPOSURE, BINX/BINY, CCD_TEMP/CCDTEMP/TEMPERAT,
 *   BLKLEVEL); then AstroFiler's defaults: binning '1', temperature '0', telescope and
 *   instrument 'Unknown'. fitsFileGain/fitsFileOffset stay NULL as AstroFiler leaves them.
 * - fitsFileObject: OBJECT for lights; 'Bias', 'Dark' or 'Flat' for calibration frames.
 *   fitsFileFilter: FILTER for lights and flats, NULL for darks, biases and flat-darks.
 * - fitsFileCalibrated = 1 for frames that are already calibrated: AstroFiler's rule
 *   (TELESCOP containing 'iTelescope', INSTRUME containing 'SeeStar'), lights whose
 *   header says bias, dark or flat was already applied (ac_meta provenance: CALIBRAT,
 *   BIASSUB, HISTORY lines of Siril/ccdproc/PixInsight...), and stacked lights (NCOMBINE
 *   > 1 or 'Master Light'), so that no tool calibrates them again. Otherwise 0.
 * - Sessions by observing night (night.h; SITELONG overrides opts.utc_offset_h), found or
 *   created by key, so interleaved frames (LRGB cycling, flats in several filters within
 *   a minute) never fragment:
 *     lights:     OBJECT, night, filter, exposure, telescope, instrument, binning, gain,
 *                 offset (exposure too, as issue 4 says: a session's master dark is
 *                 chosen by its one exposure);
 *     bias:       'Bias', night, telescope, instrument, binning, gain, offset;
 *     darks:      'Dark', the same plus exposure;
 *     flat-darks: 'Dark' with exposure, like darks (AstroFiler has no flat-dark type; the
 *                 type stays as written, e.g. 'FLAT DARK', so they remain recognisable);
 *     flats:      'Flat', night, ..., plus filter.
 *   Gain and offset of a session come from GAIN and OFFSET/BLKLEVEL.
 * - Master files (ac_meta is_master: 'Master Dark' etc., or NCOMBINE > 1 on a calibration
 *   frame) go to Masters as AstroFiler's registerMasters writes them: master_type 'bias' /
 *   'dark' / 'flat' (a master flat-dark is 'dark'), telescope/instrument 'Unknown' when
 *   absent, binning '1', temperature, gain and offset '' when absent, exposure_time for
 *   darks only and filter_name for flats only ('' when absent), file_count NCOMBINE (else
 *   NIMAGES, else 0), hash_value the MD5, file_size, is_validated 0 (astrocald validates a
 *   master when it uses it). They are not also put in fitsfile, as AstroFiler does.
 * - Skipped, with a reason: files still being written ("incomplete": shorter than the
 *   data its header declares, an XISF shorter than its header or data block, empty, a
 *   header without END yet, or size/mtime changed while hashing), files modified less
 *   than settle_s ago ("settling"), astrocald's own temporary files ("temporary"), and
 *   files AstroFiler would refuse ("unsupported": no DATE-OBS or one that is not an ISO
 *   date, no or an unknown frame type, no exposure on a non-bias frame, a light without
 *   OBJECT) or that cannot be converted (an XISF astrocald does not read, e.g. colour;
 *   its "<stem>.fits" taken by another file; a .zip not named *.fit.zip / *.fits.zip, or
 *   holding no FITS file).
 * - Errors (the import goes on): a file that cannot be read or is not FITS (a corrupt
 *   XISF or ZIP), a folder that
 *   cannot be listed, a row the database refuses. The list keeps the first max_errors.
 *
 * Ownership: the import owns everything it allocates; the result passed to cb is borrowed
 * for the duration of the call. ac_import_item_t values are owned by the caller of
 * ac_import_scan_file (ac_import_item_free).
 * Thread: ac_import_start, ac_import_register_item and the callback: loop thread (the
 * owner of db). ac_import_scan_file: any thread (file I/O only, no SQLite). The database
 * must stay open and the loop running until cb has run; to stop early, set *opts.cancel.
 */
#ifndef AC_IMPORTER_H
#define AC_IMPORTER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <uv.h>

#include "catalog.h"
#include "db.h"
#include "err.h"
#include "meta.h"
#include "night.h"

struct ac_import_item; /* below */

typedef struct ac_import_opts {
    double utc_offset_h;      /* [MATCHING] site_utc_offset_h (0); SITELONG overrides it */
    int batch_rows;           /* rows registered per loop iteration at most (200) */
    int batch_budget_ms;      /* time per loop iteration, at least one row (25) */
    int readers;              /* files read at once, each on a pool thread (4) */
    int max_errors;           /* error entries kept in the result (100); counts stay exact */
    int max_skips;            /* skipped entries kept in the result (100) */
    double settle_s;          /* skip files modified less than this ago (0: off; live ingest) */
    bool type_from_path;      /* [INGEST] type_from_path (true): a header without a frame type
                                 gets one from the file's or its folders' names */
    const char *const *roots; /* the imported or watched folders: names above them are never
                                 read for a type (may be NULL) */
    size_t n_roots;
    atomic_int *cancel; /* may be NULL; set non-zero (any thread) to stop the import */
    /* progress (may be NULL): called with hooks_ud on the loop thread after each
     * committed batch that registered a new frame or master while files are still left
     * (the last batch is followed by the import's callback instead), so that its owner can
     * plan what is registered already: the daemon calibrates during a long import. */
    void (*progress)(void *ud);
    /* master_hashed (may be NULL): called with hooks_ud on the loop thread for each master
     * file registered or found a duplicate in a committed batch that stayed the same file
     * while it was read and hashed (it->same_file): the daemon's master cache takes its
     * MD5 without reading it again (mcache.h, ac_mcache_vouch). */
    void (*master_hashed)(void *ud, const struct ac_import_item *it);
    void *hooks_ud;
} ac_import_opts_t;

/* ac_import_opts_default fills the defaults above. */
void ac_import_opts_default(ac_import_opts_t *o);

/* A file, or folder, that was skipped or failed, with why. */
typedef struct ac_import_entry {
    char *path;
    char *message;
} ac_import_entry_t;

/* Why a file was skipped. */
typedef enum ac_import_skip {
    AC_IMPORT_SKIP_NONE = 0,
    AC_IMPORT_SKIP_INCOMPLETE,  /* still being written */
    AC_IMPORT_SKIP_SETTLING,    /* modified less than settle_s ago */
    AC_IMPORT_SKIP_TEMPORARY,   /* astrocald's own temporary file */
    AC_IMPORT_SKIP_UNSUPPORTED, /* AstroFiler would refuse it (see above) */
    AC_IMPORT_SKIP_UNTYPED      /* no frame type in the header, and none in its path */
} ac_import_skip_t;

typedef struct ac_import_result {
    int code;                     /* 0; AC_ECANCELED; or why the import could not run */
    char message[AC_ERR_MSG_MAX]; /* "" when code is 0 */
    char dir[4096];               /* the folder as resolved (realpath), or as given */
    int files;                    /* FITS-named files found (temporary files included) */
    int registered;               /* new fitsfile rows */
    int masters;                  /* new Masters rows */
    int duplicates;               /* frames and masters already in the catalogue */
    int sessions_created;         /* new fitssession rows */
    int skipped;                  /* sum of the five counts below */
    int skipped_incomplete, skipped_settling, skipped_temporary, skipped_unsupported;
    int skipped_untyped;           /* no frame type in the header nor in the path */
    int inferred;                  /* registered with a frame type inferred from the path */
    int errors;                    /* total errors (entries may be fewer) */
    ac_import_entry_t *error_list; /* the first max_errors errors */
    size_t n_error_list;
    ac_import_entry_t *skip_list; /* the first max_skips skipped files */
    size_t n_skip_list;
    double scan_seconds;     /* from the start until the last file was read */
    double register_seconds; /* from then to the end (registering overlaps reading) */
} ac_import_result_t;

/* Called once when the import ends (also when cancelled or failed), on the loop thread.
 * res is borrowed for the call. */
typedef void (*ac_import_done_cb)(void *ud, const ac_import_result_t *res);

/*
 * ac_import_start begins importing dir (an absolute path) into db. Returns 0 when the
 * import started (cb will run exactly once, later, never from inside this call), or
 * -EINVAL (relative or empty dir, no cb), -ENOMEM, or a libuv error as -errno, with e
 * filled; cb is then never called. A folder that does not exist is reported through cb
 * (code -ENOENT). opts may be NULL (defaults); it is copied.
 */
int ac_import_start(uv_loop_t *loop, ac_db_t *db, const char *dir, const ac_import_opts_t *opts,
                    ac_import_done_cb cb, void *ud, ac_err_t *e);

/* ---- The per-file steps (live ingest reuses them) ---- */

typedef enum ac_import_kind {
    AC_IMPORT_FRAME = 0, /* register with ac_catalog_register_file */
    AC_IMPORT_MASTER,    /* register with ac_catalog_register_master */
    AC_IMPORT_SKIPPED,   /* not registered: skip and reason say why */
    AC_IMPORT_FAILED,    /* could not be read: reason is the error */
} ac_import_kind_t;

/*
 * What reading one file found: the values in AstroFiler's text form (NULL when the
 * column is to be NULL). One allocation; strings point into it.
 */
typedef struct ac_import_item {
    ac_import_kind_t kind;
    ac_import_skip_t skip;
    int code;                 /* FAILED: the error code */
    const char *path;         /* as given to ac_import_scan_file */
    const char *reason;       /* SKIPPED / FAILED: why; else NULL */
    ac_frame_type_t type;     /* FRAME / MASTER: the frame type */
    int64_t size;             /* bytes */
    char sha256[65], md5[33]; /* md5 only for masters ("" otherwise) */
    struct stat st;           /* FRAME / MASTER: the file after it was hashed */
    bool same_file;           /* ...and the same file, unchanged, before (device, inode,
                                 size, modification and change times) */
    int calibrated;           /* fitsFileCalibrated */
    int file_count;           /* masters: NCOMBINE / NIMAGES / 0 */
    const char *type_why;     /* FRAME: the type was inferred from the path, and why (e.g.
                                 "folder 'Darks'"); NULL when the header gave it */
    const char *date_obs, *imagetyp, *object, *exptime, *xbin, *ybin, *ccd_temp;
    const char *telescope, *instrument, *filter;
    const char *gain, *offset;  /* GAIN, OFFSET/BLKLEVEL: frames: the session's (the
                                   fitsfile columns stay NULL); masters: '' when absent */
    const char *session_object; /* FRAME: 'Bias' / 'Dark' / 'Flat' or OBJECT */
    const char *master_type;    /* MASTER: 'bias' / 'dark' / 'flat' */
    char night[AC_NIGHT_LEN + 1];
} ac_import_item_t;

/*
 * ac_import_scan_file reads one file (no SQLite; any thread) and returns its record in
 * *out (owned: ac_import_item_free): kind FRAME or MASTER when it can be registered, or
 * SKIPPED / FAILED with the reason. opts gives utc_offset_h and settle_s (may be NULL:
 * defaults). 0, or -ENOMEM (then *out is NULL).
 */
int ac_import_scan_file(const char *path, const ac_import_opts_t *opts, ac_import_item_t **out);
void ac_import_item_free(ac_import_item_t *it);

/* The outcome of registering one item. */
typedef struct ac_import_outcome {
    bool duplicate;           /* already in the catalogue: nothing written */
    bool session_created;     /* frames: a new fitssession row */
    char id[AC_UUID_LEN + 1]; /* frames: fitsFileId (new or existing) */
    int64_t master_rowid;     /* masters: Masters.id (new or existing) */
} ac_import_outcome_t;

/* ac_import_register_item registers a FRAME or MASTER item (loop thread; joins an outer
 * transaction as a savepoint). -EINVAL for other kinds; catalog errors otherwise. */
int ac_import_register_item(ac_db_t *db, const ac_import_item_t *it, ac_import_outcome_t *out,
                            ac_err_t *e);

/* ac_import_is_fits_name says whether a base name is one import and ingest read: .fit,
 * .fits or .fts, optionally followed by .fz or .gz, or .xisf or .zip (converted or
 * unpacked first, or skipped with the reason), in any case. Any thread. */
bool ac_import_is_fits_name(const char *base);

#endif
