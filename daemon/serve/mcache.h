/*
 * mcache.h - prepared master sets, shared by calibration jobs, loaded on the thread pool
 * within a memory budget.
 *
 * A set is identified by its masters (bias, dark, flat, flat-dark paths, each with the
 * MD5 the catalogue expects, or "" when unknown) and the dark scale k. The first job that
 * needs a set starts loading it on the pool: each master's pixels read
 * (ac_masters_load_one) and its file's MD5 checked (ac_masters_hash_one; not for a file
 * this process hashed a moment before, ac_mcache_vouch) as two works, all
 * of them at the same time (the pool has room for them beside the workers, daemon.c); once
 * the reads have ended the set is prepared on one (ac_masters_prepare: the one master
 * loader of masters.h; its error names the master and why) while the MD5s go on, and it is
 * ready only when both have ended and every MD5 matched (a mismatch fails it, as before);
 * jobs wait (the scheduler simply does not start them) until it is ready, then share the
 * immutable ac_calset_t read-only. Sets no job uses are evicted, least recently used
 * first, when a new one needs room.
 *
 * Failures are remembered, so a broken master is never re-read in a loop. A set that
 * failed (a master unreadable, its header included, a checksum mismatch, a master the
 * preparation refused: NaN-filled, all zero...) keeps its error and is loaded again only
 * when one of its masters' files changes (device, inode, size or modification time), or,
 * when the error may go away by itself (ac_mcache_transient: no memory, I/O error...),
 * after an exponential back-off: 10 s doubled per consecutive failure, at most 10 minutes
 * (MCACHE_RETRY_*). ac_mcache_forget_failures clears them (a new master, a reload).
 *
 * Where a master's pixels are: its path, or, when the owner's resolve says so, a copy
 * (a master fetched from the cloud, fetch.h); headers, identities and loads use the copy,
 * while the key, errors' master kinds and marks keep the catalogue's path.
 *
 * Memory accounting: a loading set reserves the size of its masters as float32 (the peak
 * while preparing, which works in place); a ready set holds what its planes take.
 *
 * Ownership: the cache owns its sets; acquire/release count users.
 * Thread: loop thread only, except the load itself, which runs on pool threads: each read
 * touches only its own master's image, each MD5 only its own master's hash and result, the
 * preparation (after the reads, beside the MD5s) only the images and its set.
 */
#ifndef AC_MCACHE_H
#define AC_MCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <uv.h>

#include "backoff.h"
#include "calib.h"
#include "err.h"
#include "masters.h" /* AC_M_BIAS ... AC_M_COUNT */

/* What identifies a file's content cheaply: a file that changed has another (a write
 * changes the change time even when the modification time is set back). */
typedef struct ac_mident {
    bool exists;
    int64_t dev, ino, size, mtime_ns, ctime_ns;
} ac_mident_t;

/* ac_mcache_ident stats path into *id (exists false when it cannot be stat'ed). */
void ac_mcache_ident(const char *path, ac_mident_t *id);

/* ac_mcache_ident_equal says whether a and b describe the same file content. */
bool ac_mcache_ident_equal(const ac_mident_t *a, const ac_mident_t *b);

typedef struct ac_mkey {
    char path[AC_M_COUNT][4096]; /* "" when absent */
    char md5[AC_M_COUNT][33];    /* expected MD5, "" when the catalogue has none */
    double k;
} ac_mkey_t;

enum ac_mset_state { AC_MSET_LOADING, AC_MSET_READY, AC_MSET_FAILED };

typedef struct ac_mset {
    ac_mkey_t key;
    int state;          /* loop thread's view; LOADING until load_done */
    int outcome;        /* written by the load on the pool, read in load_done */
    ac_calset_t cs;     /* READY: immutable, shared read-only */
    ac_err_t err;       /* FAILED: why */
    int bad_master;     /* FAILED: which master (AC_M_*), -1 when not one in particular */
    bool transient;     /* FAILED: ac_mcache_transient(err.code): retried after `retry` */
    ac_backoff_t retry; /* FAILED: consecutive failures (seconds, monotonic) */
    ac_mident_t ident[AC_M_COUNT]; /* the masters' files when the load started */
    ac_mkey_t files;               /* where they are read (key's paths, resolved) */
    int refs;
    size_t bytes;
    uint64_t last_used_ns;
    uint64_t load_ns;     /* when the load started */
    ac_calib_opts_t opts; /* snapshot used for the load */
    /* LOADING: two pool works per master, its pixels read (part i) and its MD5 (part
     * AC_M_COUNT + i), all at once; then req prepares. */
    ac_masters_t m;
    uv_work_t part[2 * AC_M_COUNT];
    int part_rc[2 * AC_M_COUNT];
    bool md5_vouched[AC_M_COUNT]; /* master i's MD5 taken from a vouch: no work queued */
    ac_err_t part_err[2 * AC_M_COUNT];
    int loads_left, hashes_left;
    bool prep_started, prep_done; /* req: prepare_work, queued once the reads ended */
    bool part_cancelled;
    uv_work_t req;
    struct ac_mcache *mc;
    struct ac_mset *next;
} ac_mset_t;

typedef void (*ac_mcache_cb)(void *ud, ac_mset_t *set);

/* A master file this process hashed itself a moment ago (ac_mcache_vouch). */
#define AC_MCACHE_VOUCHES 16    /* the last ones kept */
#define AC_MCACHE_VOUCH_S 600.0 /* how long one counts (monotonic seconds) */
typedef struct ac_mvouch {
    char *path; /* NULL: a free entry */
    ac_mident_t id;
    char md5[33];
    double at; /* monotonic seconds */
} ac_mvouch_t;

typedef struct ac_mcache {
    uv_loop_t *loop;
    ac_mset_t *sets;
    size_t budget, used;
    int loading;
    bool closing;
    ac_mcache_cb on_loaded; /* called on the loop thread when a load ends (ready or failed) */
    void *ud;
    /* resolve (may be NULL; set by the owner after init): 1 with the path of a copy of
     * master path in out (a cloud download), else 0: the path itself. Loop thread. */
    int (*resolve)(void *ud, const char *path, char *out, size_t size);
    void *resolve_ud;
    ac_mvouch_t vouch[AC_MCACHE_VOUCHES]; /* ac_mcache_vouch, oldest replaced first */
    int vouch_next;
    double vouch_s;        /* how long a vouch counts (AC_MCACHE_VOUCH_S; tests change it) */
    uint64_t md5s_vouched; /* MD5s taken from a vouch instead of read again (counted) */
} ac_mcache_t;

/* ac_mcache_init prepares an empty cache. budget: bytes for sets (the caller subtracts
 * what jobs' strip buffers need). */
void ac_mcache_init(ac_mcache_t *mc, uv_loop_t *loop, size_t budget, ac_mcache_cb on_loaded,
                    void *ud);

/* ac_mcache_estimate returns the bytes a set for key needs while loading (its masters as
 * float32), reading only the masters' headers; 0 with e set when a header is unreadable
 * (*bad, may be NULL, then names that master: AC_M_*). */
size_t ac_mcache_estimate(const ac_mkey_t *key, int *bad, ac_err_t *e);

/* ac_mcache_transient says whether a load failure may go away by itself (no memory, I/O
 * error, busy, cancelled): retried after a back-off, never blamed on a master. */
bool ac_mcache_transient(int code);

/* ac_mcache_acquire returns in *out a READY set for key (one more user: release it), or:
 * AC_EBUSY while it loads (on_loaded follows), -ENOMEM when it does not fit in the budget
 * even after evicting unused sets (try again after jobs finish), or the error of a FAILED
 * set (AC_EMASTER, AC_EGEOMETRY, ...; *out then points at it so the caller can see
 * bad_master, transient and retry.until), also for a master whose header is unreadable
 * here. A FAILED set is loaded again (AC_EBUSY) once one of its masters' files changed or,
 * when transient, once its back-off has passed. */
int ac_mcache_acquire(ac_mcache_t *mc, const ac_mkey_t *key, const ac_calib_opts_t *opts,
                      size_t extra_reserved, ac_mset_t **out, ac_err_t *e);

void ac_mcache_release(ac_mcache_t *mc, ac_mset_t *set);

/* ac_mcache_vouch records that this process has just read the whole file at path to hash
 * it, the file st (its stat after the read; the caller saw the same before it, e.g.
 * ac_digest_unchanged), and found md5: a set loaded
 * within vouch_s (600 s) whose master is that file, with that identity still and that MD5
 * expected (or none), takes it instead of reading the file again to hash it. The import
 * vouches for the masters it registers (their pages were read a moment before: hashing
 * them again checks the same cached bytes). path is copied. */
void ac_mcache_vouch(ac_mcache_t *mc, const char *path, const struct stat *st, const char *md5);

/* ac_mcache_forget_failures drops failed sets (after a master changed or on reload). */
void ac_mcache_forget_failures(ac_mcache_t *mc);

/* ac_mcache_trim frees every unused ready set. */
void ac_mcache_trim(ac_mcache_t *mc);

/* ac_mcache_close frees everything not in use; loads still running free themselves when
 * they end. Returns the number of sets still busy (loading or referenced). */
int ac_mcache_close(ac_mcache_t *mc);

#endif
