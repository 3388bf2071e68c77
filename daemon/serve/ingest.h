/*
 * ingest.h - live ingest: registering FITS files as they land in watched folders
 * (orchestration, libuv), issue 4 "Live ingest".
 *
 * Each configured folder is watched recursively: one uv_fs_event per folder (Linux inotify
 * is not recursive), folders that appear later are watched as soon as they are seen, and a
 * folder whose watch cannot be set up (inotify limits: ENOSPC; EACCES; ...) is scanned
 * every rescan_interval_s instead, with a WARNING logged (the watch is tried again at each
 * rescan, and its recovery is logged). A full scan of every folder runs at start-up
 * (catching what arrived while the daemon was down) and every rescan_interval_s as a
 * safety net (events lost, network file systems whose writers inotify never sees).
 *
 * A FITS-named file (ac_import_is_fits_name; astrocald's temporary files and the excluded
 * folders ignored) is registered once it is
 *   - settled: its size and modification time (nanoseconds), as seen by stat(2), have not
 *     changed for settle_s (measured from the first time these values were seen, on the
 *     monotonic clock, so the writer's clock does not matter); until then it is only
 *     stat'ed, never opened; and
 *   - complete: its size covers the data its header declares (ac_import_scan_file reads
 *     the header first and reports "incomplete" otherwise, then hashes the file and
 *     reports "incomplete" again when it changed while it was read). An incomplete file
 *     is read again only once its size or time changes.
 * Reading runs on the pool (ac_import_scan_file, files_per_work files per uv_queue_work,
 * at most max_inflight at once); registering runs on the loop thread
 * (ac_import_register_item, one transaction per work item), exactly as `astrocalctl
 * import` registers (same columns, sessions by observing night, duplicates by hash
 * skipped). Paths already in the catalogue (ac_catalog_registered_paths, read once at
 * start) and paths registered since are never read again. Files that could not be
 * registered (unsupported, unreadable, duplicates) are retried only when they change.
 * After a batch that created sessions, light sessions are linked to calibration sessions
 * (ac_catalog_link_sessions); after a batch that added rows, on_registered(ud, n_new) runs
 * so that the daemon plans again.
 *
 * Ownership: ac_ingest_new copies opts (and its strings). The ingest is released only by
 * ac_ingest_stop, whose callback runs once every handle is closed and every pool work item
 * has returned; the loop must keep running until then, and db must stay open.
 * Thread: every function and callback here runs on the loop thread (the owner of db); the
 * pool threads only stat, list and read files.
 */
#ifndef AC_INGEST_H
#define AC_INGEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "db.h"
#include "err.h"

typedef struct ac_ingest_opts {
    const char *const *dirs; /* absolute folders, watched recursively (at least one) */
    size_t n_dirs;
    const char *const *exclude; /* absolute folders never ingested (e.g. the calibrated
                                   output and masters folders), may be NULL */
    size_t n_exclude;
    double settle_s;          /* [INGEST] settle_s (5.0) */
    double rescan_interval_s; /* [INGEST] rescan_interval_s (60) */
    double utc_offset_h;      /* [MATCHING] site_utc_offset_h for nights (0); SITELONG wins */
    int files_per_work;       /* files read per pool work item (4) */
    int max_inflight;         /* pool work items at once (2) */
    bool type_from_path;      /* [INGEST] type_from_path (true): importer.h */
} ac_ingest_opts_t;

/* ac_ingest_opts_default fills the defaults above (no folders). */
void ac_ingest_opts_default(ac_ingest_opts_t *o);

typedef struct ac_ingest ac_ingest_t;

/* ac_ingest_set_type_from_path applies a reloaded [INGEST] type_from_path to the files
 * read from now on (loop thread; the pool reads it only through work queued later). */
void ac_ingest_set_type_from_path(ac_ingest_t *ing, bool on);

/* Called on the loop thread after a batch added n_new rows (frames and masters). */
typedef void (*ac_ingest_registered_cb)(void *ud, int n_new);
/* Called once by ac_ingest_stop when everything is closed (the ingest is then freed). */
typedef void (*ac_ingest_stopped_cb)(void *ud);

/*
 * ac_ingest_new prepares an ingest of opts->dirs into db (nothing is watched or read yet).
 * NULL with e filled: -EINVAL (no folder, a relative folder, settle_s < 0,
 * rescan_interval_s <= 0), -ENOMEM. on_registered may be NULL.
 */
ac_ingest_t *ac_ingest_new(uv_loop_t *loop, ac_db_t *db, const ac_ingest_opts_t *opts,
                           ac_ingest_registered_cb on_registered, void *ud, ac_err_t *e);

/*
 * ac_ingest_start reads the registered paths, watches the folders that exist (a missing
 * folder is logged and looked for again at each rescan) and starts the first full scan.
 * 0, or a catalogue error (nothing started; ac_ingest_stop still releases the ingest).
 */
int ac_ingest_start(ac_ingest_t *ing, ac_err_t *e);

/* ac_ingest_rescan asks for a full scan soon (e.g. on SIGHUP or a control command). */
void ac_ingest_rescan(ac_ingest_t *ing);

/*
 * ac_ingest_stop stops watching and reading: timers and watches are closed, queued work
 * is cancelled, results of running work are dropped (their files are found again by the
 * next start's scan). done(ud) runs once, later, from the loop, with ud as given to
 * ac_ingest_new; then the ingest is freed. NULL ing is a no-op; done may be NULL.
 */
void ac_ingest_stop(ac_ingest_t *ing, ac_ingest_stopped_cb done);

/* What `astrocalctl status` shows. */
typedef struct ac_ingest_status {
    int dirs;                   /* configured folders */
    int dirs_missing;           /* configured folders that do not exist (now) */
    int watched;                /* folders with a working watch */
    int polled;                 /* folders scanned every rescan because their watch failed */
    bool fallback;              /* polled > 0 */
    int pending;                /* files waiting to settle, or being read */
    int incomplete;             /* files found incomplete, waiting for more data */
    int in_flight;              /* pool work items running or queued */
    bool scanning;              /* a scan is running */
    uint64_t events;            /* file system events received */
    uint64_t full_scans, scans; /* full scans, and every scan (full or of some folders) */
    uint64_t registered, masters, duplicates, rejected, sessions_created, sessions_linked;
    uint64_t untyped;    /* of rejected: no frame type in the header nor in the path */
    uint64_t inferred;   /* of registered: the frame type was inferred from the path */
    double last_scan_s;  /* duration of the last full scan, -1 before the first */
    double next_scan_in; /* seconds to the next full scan */
} ac_ingest_status_t;

void ac_ingest_status(const ac_ingest_t *ing, ac_ingest_status_t *out);

/* ac_ingest_status_json returns the status as a new JSON object, with "polled_dirs": the
 * first 20 polled folders and why their watch failed. NULL without memory. */
json_t *ac_ingest_status_json(const ac_ingest_t *ing);

/* Tests only: when set, called before each watch is set up; a negative errno makes that
 * watch fail as if uv_fs_event_start had returned it. Set it before ac_ingest_start. */
extern int (*ac_ingest_watch_hook)(const char *dir);

#endif
