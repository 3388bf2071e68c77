/*
 * ingest_int.h - what the parts of live ingest share (see ingest.h for the behaviour). Not
 * part of the ingest's contract. The parts, one seam each:
 *   ingest.c           life cycle (new, start, stop), the tick, the status;
 *   ingest_map.c       the string-keyed hash table of files and of folders;
 *   ingest_watch.c     watching: folders, their inotify watches, and the scans that list
 *                      them on the pool (through ac_walk);
 *   ingest_settle.c    settling: the table of files and their states, the probes that stat
 *                      them and read the settled ones on the pool;
 *   ingest_register.c  registering what the probes read (one transaction per probe), the
 *                      outcome of each file, and linking sessions.
 * Calls go watch -> settle -> register and all of them -> ingest.c's ac_ingest_maybe_finish;
 * ingest.c calls into each of them.
 *
 * Ownership: struct ac_ingest owns every file, watch, scan and probe; watches are freed once
 * their handle is closed, the ingest once every handle is closed and every work returned.
 * Thread: every function declared here runs on the loop thread. A pool thread (scan_work,
 * probe_work) reads the ingest's options (constant after ac_ingest_new) and the paths of the
 * files it was given (constant while they are PROBING), and writes only its own work struct;
 * uv_queue_work orders the hand-offs.
 */
#ifndef AC_INGEST_INT_H
#define AC_INGEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <uv.h>

#include "backoff.h"
#include "importer.h"
#include "ingest.h"

#define MAX_WATCH_WARNINGS 10 /* per scan; then one summary line */
/* Back-off of the catalogue's refusals (a batch of frames, linking sessions): 1 s, doubled
 * per consecutive refusal, at most 60 s; a success starts it over. */
#define INGEST_RETRY_FIRST_S 1.0
#define INGEST_RETRY_CAP_S 60.0
#define LINK_MAX_DELAY_NS 5000000000ull /* sessions are linked at least this often */

/* A string-keyed hash table of objects whose first member is their key (ingest_map.c). */
struct map {
    void **v;
    size_t cap, n;
};

/* File states (see ingest_settle.c). */
enum fstate { F_PENDING, F_PROBING, F_INCOMPLETE, F_DONE, F_REJECTED };

/* A FITS-named file seen under the folders: the key of ing->files. */
struct file {
    char *path;           /* the key */
    enum fstate st, prev; /* prev: the state a recheck returns to when nothing changed */
    bool have_obs, recheck, dirty;
    int64_t size, mtime_ns;
    uint64_t obs_ns;     /* when (size, mtime) were first seen */
    uint64_t due_ns;     /* PENDING: when to look again */
    uint64_t touched_ns; /* last event or observation */
    long pidx;           /* index in ing->pend, or -1 */
};

/* A folder and its watch: the key of ing->watches. */
struct watch {
    char *path; /* the key */
    struct ac_ingest *ing;
    uv_fs_event_t h;
    bool started, polled;
    int err;
    dev_t dev;
    ino_t ino;
    uint64_t gen, added_ns; /* the last full scan that saw it; when it was (re)watched */
};

/* What a scan saw: a FITS file or a folder. */
struct obs {
    char *path;
    bool dir;
    int64_t size, mtime_ns;
    dev_t dev;
    ino_t ino;
};

/* One scan of some folders, on the pool (ingest_watch.c). */
struct scan {
    uv_work_t w;
    struct ac_ingest *ing;
    char **roots;
    bool *recursive;
    size_t nroots;
    bool full;
    struct obs *o;
    size_t n, cap;
    int errors;
    char err[600];
    uint64_t t0, t1;
};

/* One file of a probe. */
struct slot {
    struct file *f;
    bool have_obs, want_scan; /* in */
    int64_t size, mtime_ns;   /* in: the last observation; out: this one */
    int rc;                   /* out: stat's error */
    bool changed;             /* out */
    uint64_t at;              /* out: when it was stat'ed */
    ac_import_item_t *item;   /* out: what reading found */
    int reg_rc;               /* registering */
    ac_import_outcome_t out;
    ac_err_t e;
};

/* One probe: a few files stat'ed and maybe read on the pool (ingest_settle.c). */
struct probe {
    uv_work_t w;
    struct ac_ingest *ing;
    struct probe *next;
    size_t n;
    struct slot s[];
};

/* The ingest. */
struct ac_ingest {
    uv_loop_t *loop;
    ac_db_t *db;
    ac_ingest_opts_t o;
    char **dirs, **excl, **real; /* owned copies; real: the resolved folders (or NULL) */
    ac_import_opts_t iopts;
    ac_ingest_registered_cb on_registered;
    ac_ingest_stopped_cb on_stopped;
    void *ud;
    uv_timer_t tick;
    struct map files, watches;
    struct file **pend;
    size_t npend, cappend;
    struct probe *probes;
    struct scan *scan;
    char **extra; /* folders to scan next, with extra_rec[i] */
    bool *extra_rec;
    size_t nextra, capextra;
    bool want_full, stopping;
    int open; /* handles open and work in flight */
    int inflight, warned, suppressed, missing;
    uint64_t settle_ns, next_full_ns, gen;
    char link_since[16];     /* the earliest night whose new sessions are still to link */
    uint64_t linked_ns;      /* when sessions were last linked */
    ac_backoff_t db_retry;   /* batches the catalogue refused (seconds of ac_now_ns) */
    ac_backoff_t link_retry; /* linking sessions the catalogue refused (same clock) */
    ac_ingest_status_t c;    /* counters */
};

/* ac_ingest_retry_ns returns when a file of a batch the catalogue refused is read again:
 * now plus the current back-off (db_retry). */
uint64_t ac_ingest_retry_ns(const struct ac_ingest *ing, uint64_t now);

/* ac_ingest_mtime_ns is a stat's modification time in nanoseconds. */
static inline int64_t ac_ingest_mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* ---- ingest_map.c ---- */

/* ac_ingest_map_get returns the item of key, or NULL. */
void *ac_ingest_map_get(const struct map *m, const char *key);
/* ac_ingest_map_put adds item, whose key is not in the table. 0 or -ENOMEM. */
int ac_ingest_map_put(struct map *m, void *item);
/* ac_ingest_map_del removes key (absent: nothing). */
void ac_ingest_map_del(struct map *m, const char *key);

/* ---- ingest_watch.c ---- */

/* ac_ingest_watch_dir watches a folder (again when it is another folder by now, its watch
 * had failed, or force): 1 when a watch was set up, 0 when it was already there, -1 when
 * it failed (the folder is then polled by the scans) or there was no memory. */
int ac_ingest_watch_dir(struct ac_ingest *ing, const char *path, dev_t dev, ino_t ino,
                        bool force, uint64_t now);
/* ac_ingest_unwatch_all closes every watch (stopping). */
void ac_ingest_unwatch_all(struct ac_ingest *ing);
/* ac_ingest_start_scan starts the full scan when it is due, else a scan of the folders
 * asked for (nothing while a scan runs). */
void ac_ingest_start_scan(struct ac_ingest *ing, uint64_t now);

/* ---- ingest_settle.c ---- */

/* ac_ingest_get_file returns the file of path, created (state REJECTED, for the caller to
 * set) when create; NULL when absent or without memory. */
struct file *ac_ingest_get_file(struct ac_ingest *ing, const char *path, bool create);
/* ac_ingest_drop_file forgets a file (deleted, or gone from the folders). */
void ac_ingest_drop_file(struct ac_ingest *ing, struct file *f);
/* ac_ingest_set_pending makes f PENDING, due at due. */
void ac_ingest_set_pending(struct ac_ingest *ing, struct file *f, uint64_t due);
/* ac_ingest_recheck makes an incomplete or rejected file pending: it is read again if it
 * changed. */
void ac_ingest_recheck(struct ac_ingest *ing, struct file *f, uint64_t now);
/* ac_ingest_observe records a scan's sighting of a file. */
void ac_ingest_observe(struct ac_ingest *ing, const struct obs *o, uint64_t now);
/* ac_ingest_touch records a file system event on a FITS-named file. */
void ac_ingest_touch(struct ac_ingest *ing, const char *path, uint64_t now);
/* ac_ingest_launch_probes hands the files that are due to the pool, a few per work item. */
void ac_ingest_launch_probes(struct ac_ingest *ing, uint64_t now);

/* ---- ingest_register.c ---- */

/* ac_ingest_register_probe registers what a probe read, in one transaction: 0, or the
 * transaction's error (logged; the files are then read again later). */
int ac_ingest_register_probe(struct ac_ingest *ing, struct probe *p);
/* ac_ingest_settle_read sets the state of a file from what reading (and registering) it
 * found, with the counters and the log line. */
void ac_ingest_settle_read(struct ac_ingest *ing, struct slot *s, int txn_rc, uint64_t now);
/* ac_ingest_link_sessions links light sessions to calibration sessions once a burst of
 * files is registered, or every LINK_MAX_DELAY_NS during a long one. */
void ac_ingest_link_sessions(struct ac_ingest *ing, uint64_t now);

/* ---- ingest.c ---- */

/* ac_ingest_release drops one of ing->open (a handle closed) and maybe frees the ingest. */
void ac_ingest_release(struct ac_ingest *ing);
/* ac_ingest_maybe_finish frees a stopping ingest once nothing is open. */
void ac_ingest_maybe_finish(struct ac_ingest *ing);

#endif
