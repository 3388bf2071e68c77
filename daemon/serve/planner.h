/*
 * planner.h - from the catalogue to the light queue: for every light session with
 * uncalibrated lights, describe the session and its master candidates (catalogue rows
 * completed from the FITS headers), match them (match.h) and record the outcome in the
 * queue (ac_queue_plan: queued with its masters and files, or waiting with a reason).
 * Planning changes nothing on disk and nothing in the catalogue but the queue.
 *
 * The planner keeps in memory what the scheduler needs to run a queued file (the plan of
 * each session: its masters with their expected MD5 and the dark scale), the masters found
 * broken, and a header cache. It knows nothing above it: it reports session state changes
 * through its hooks, and a pass somebody asked for (ac_planner_request) is run by its
 * owner, which also plans the master builds afterwards.
 *
 * Broken masters: a master that fails validation at any stage (its header here, its
 * header, checksum or pixels when the scheduler loads it: NaN-filled, all zero...) is
 * marked once, with the reason, and kept out of matching until its file changes (device,
 * inode, size or modification time): the next candidate is used, or the session waits
 * and its reason names the broken master. A set of masters that fails only together (no
 * single master at fault, e.g. sizes that disagree) is marked as a set: sessions whose
 * plan is exactly that set wait with the reason until one of its files changes or
 * another master is chosen. `astrocalctl masters` shows a marked master as not valid
 * with its reason, `astrocalctl plan` as a rejected candidate ("invalid: ...").
 *
 * Back-off: a pass that fails on the catalogue (busy, or an SQLite error) is not run
 * again at once: requests made meanwhile wait until 1 s x 2^(failures - 1), at most 60 s
 * (PLANNER_RETRY_*), have passed; ac_planner_deferred tells the scheduler when.
 *
 * Ownership: the owner (daemon.c) embeds an ac_planner_t, sets it up with ac_planner_init
 * and releases it with ac_planner_free; db, queue and cfg are borrowed and outlive it
 * (cfg may change in place on reload). JSON returned is owned by the caller.
 * Thread: loop thread only.
 */
#ifndef AC_PLANNER_H
#define AC_PLANNER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "backoff.h"
#include "config.h"
#include "db.h"
#include "err.h"
#include "match.h"
#include "mcache.h"
#include "meta.h"
#include "queue.h"

/* What the planner decided for a session (the durable copy is its astrocal_session row). */
typedef struct ac_plan {
    char session_id[64];
    int status;    /* AC_MATCH_READY / AC_MATCH_WAITING */
    ac_mkey_t key; /* masters (paths, expected MD5) and dark scale */
    char reason[512];
    char light_filter[72], object[128], date[40];
    /* While waiting: the largest Masters rowid when the wait began. Without
     * auto_calibrate_on_master_creation a master added after it (by another program: not
     * one astrocald built) does not release the session; astrocalctl enqueue does. */
    int64_t known_rowid;
} ac_plan_t;

/* A master found broken; matching skips it until its file changes. */
typedef struct ac_bad_master {
    char path[4096];
    char reason[1024];
    ac_mident_t ident; /* the file when it was found broken */
} ac_bad_master_t;

/* A set of masters unusable together (no single one at fault). */
typedef struct ac_bad_set {
    ac_mkey_t key;
    char reason[1024];
    ac_mident_t ident[AC_M_COUNT];
} ac_bad_set_t;

/* Cached header facts of a FITS file, keyed by path and modification time. */
typedef struct ac_hcache_entry {
    char *path;
    int64_t mtime, size;
    bool ok;
    ac_meta_t meta;
    char error[256];
} ac_hcache_entry_t;

/* Reports from the planner to its owner, on the loop thread. */
typedef struct ac_planner_hooks {
    /* event: an event for watchers (session_state when a session is planned for the first
     * time or its plan changes between ready and waiting); data is taken. */
    void (*event)(void *ud, const char *event, json_t *data);
    /* failed: a light queued as failed because it could not be read at planning (once,
     * when it joins the queue so; the scheduler reports the other failures). */
    void (*failed)(void *ud, const char *session_id, const char *file_id, const char *path,
                   const char *reason);
    /* fetch (may be NULL): a light whose file is missing (cloud sync, fetch.h): 1 with the
     * path of a downloaded copy in out (its header is read from there); 0 when there is
     * none yet (a download may have been asked for: a pass is requested when it ends). */
    int (*fetch)(void *ud, const char *file_id, const char *path, char *out, size_t size);
    /* fetch_master (may be NULL): a master whose file is missing and which has a cloud
     * URL (ac_fetcher_master: 1 with a downloaded copy in out, its header read from there;
     * 0 not in the cache yet, why says so, a download asked for when want; -EAGAIN its
     * download failed and is tried again after a back-off; -ENOENT with why when it cannot
     * be had). A master only in the cloud that the session would choose makes it wait
     * while it is fetched (or its back-off runs), the reason naming it. */
    int (*fetch_master)(void *ud, int64_t rowid, const char *path, const char *url, bool want,
                        char *out, size_t osize, char *why, size_t wsize);
    void *ud;
} ac_planner_hooks_t;

typedef struct ac_planner {
    ac_db_t *db;                 /* borrowed */
    ac_queue_t *queue;           /* borrowed */
    const struct ac_config *cfg; /* borrowed */
    ac_planner_hooks_t hooks;
    bool pending, pending_all; /* a pass was requested (all: of every session) */
    ac_plan_t *plans;
    size_t nplans, capplans;
    ac_bad_master_t *bad;
    size_t nbad, capbad;
    ac_bad_set_t *badsets;
    size_t nbadsets, capbadsets;
    ac_hcache_entry_t *hc;
    size_t nhc, caphc;
    /* Scratch of the session being matched: the lights whose header could not be read
     * (index in its file list, and why); they are queued as failed files (ac_queue_plan). */
    struct ac_unreadable {
        size_t index;
        char error[256];
    } * unread;
    size_t nunread, capunread;
    ac_backoff_t retry;          /* failed passes (monotonic seconds) */
    bool deferred, deferred_all; /* requests waiting for the back-off to pass */
} ac_planner_t;

void ac_planner_init(ac_planner_t *p, ac_db_t *db, ac_queue_t *queue,
                     const struct ac_config *cfg, const ac_planner_hooks_t *hooks);
void ac_planner_free(ac_planner_t *p);

/* ac_planner_request asks for a planning pass soon (all: every session, else only sessions
 * not already waiting); the owner runs it (ac_planner_take_request, ac_planner_run).
 * While a failed pass's back-off runs, the request is deferred (see ac_planner_deferred). */
void ac_planner_request(ac_planner_t *p, bool all);

/* ac_planner_deferred says whether a request waits for the back-off, and when it ends
 * (*when, monotonic seconds as ac_now_ns() / 1e9). */
bool ac_planner_deferred(const ac_planner_t *p, double *when);

/* ac_planner_wake turns a deferred request into a pending one once the back-off passed;
 * says whether a pass is pending now. */
bool ac_planner_wake(ac_planner_t *p);

/* ac_planner_take_request says whether a pass was requested (and of every session, *all),
 * and clears the request. */
bool ac_planner_take_request(ac_planner_t *p, bool *all);

/* ac_planner_run plans the sessions with uncalibrated lights: every one with all, else
 * those not already waiting (a new master releases them only at a full pass). Only
 * database failures are returned (AC_EBUSY: try again), and they start the back-off
 * (during which a call defers itself and returns 0); a session that cannot be planned
 * (no readable light...) waits with the reason, logged when it changes. */
int ac_planner_run(ac_planner_t *p, bool all, ac_err_t *e);

/* A pass in two halves, for a read on another thread: ac_planner_read reads what a pass
 * needs from db (any connection, on the thread that owns it; no planner state: callable
 * off the loop thread) into *in; ac_planner_apply (loop thread) plans from it as
 * ac_planner_run does and frees it. snapshot says the read was made on another
 * connection: a session calibrated since is skipped, not planned as empty. Both return
 * what ac_planner_run returns; after a failed read, ac_planner_failed starts the
 * back-off and returns the code. */
struct ac_planner_inputs;
int ac_planner_read(ac_db_t *db, bool build_masters, struct ac_planner_inputs *in, ac_err_t *e);
int ac_planner_apply(ac_planner_t *p, bool all, bool snapshot, struct ac_planner_inputs *in,
                     ac_err_t *e);
int ac_planner_failed(ac_planner_t *p, ac_err_t *e);

/* ac_planner_plan_session plans one session now and queues it when its masters are ready,
 * whatever enable_light_calibration says and even if the operator paused or cancelled it
 * (astrocalctl enqueue, resume). -ENOENT when it has no uncalibrated lights. */
int ac_planner_plan_session(ac_planner_t *p, const char *session_id, ac_err_t *e);

/* What `astrocalctl use` asks: masters for some of bias, dark, flat (spec[t]: a Masters id
 * "7" / "#7" or a master_path; NULL leaves the type as it is), and whether a mismatch that
 * is not fatal is accepted (force). Strings borrowed. */
typedef struct ac_planner_use {
    const char *session_id;
    const char *spec[3];
    bool force;
} ac_planner_use_t;

/* ac_planner_use checks each requested master against the session by the matching rules
 * (match.h, ac_match_pin_t) and stores them as pins (pin.h) only when every one passes
 * (or, with force, fails only in ways that are not fatal): *out receives the pins stored
 * ([{type, id, path, forced, override, verdict}], owned). The session may be done (its
 * raw lights describe it). -ENOENT (no such session or master), -EINVAL (a master of
 * another type), -EEXIST (a mismatch: the message says which, and whether --force would
 * accept it). The caller plans the session again. */
int ac_planner_use(ac_planner_t *pl, const ac_planner_use_t *u, json_t **out, ac_err_t *e);

/* ac_planner_unpin removes the session's astrocalctl pins (astrocalctl use --auto); *n
 * counts them. -ENOENT for an unknown session. */
int ac_planner_unpin(ac_planner_t *pl, const char *session_id, int *n, ac_err_t *e);

/* ac_planner_plan_recal plans a session for its recalibration now (matched on its raw
 * lights, with its pins; queue.h "Recalibration"), queued when ready (*ready) whatever
 * enable_light_calibration says. -ENOENT when no file of it is being recalibrated. */
int ac_planner_plan_recal(ac_planner_t *pl, const char *session_id, bool *ready, ac_err_t *e);

/* ac_planner_note_recal records the plan of a done session after some of its lights were
 * recalibrated elsewhere (a cluster's results, import_results.c), as a planning pass
 * records that of a session being recalibrated: the session row names the masters now
 * chosen (and AstroFiler's links), its state stays done. */
int ac_planner_note_recal(ac_planner_t *pl, const char *session_id, ac_err_t *e);

/* ac_planner_replan_session plans one session now as a planning pass would (queued only
 * when enable_light_calibration allows; its masters changed). -ENOENT as above. */
int ac_planner_replan_session(ac_planner_t *pl, const char *session_id, ac_err_t *e);

/* ac_planner_master_named finds the master spec names: a Masters id ("7" or "#7") or a
 * path. A path no longer in Masters is accepted as it is (the master may have been
 * removed since lights were calibrated with it; *id is then 0). Fills path (size bytes)
 * and *id. -ENOENT for an id not in Masters. */
int ac_planner_master_named(ac_planner_t *pl, const char *spec, char *path, size_t size,
                            int64_t *id, ac_err_t *e);

/* ac_planner_plan_now computes, without recording anything, the plans the n sessions
 * (done ones included) would get now: matched on their raw lights with their pins, as
 * for a recalibration. out[i] (the caller's) receives status, masters and reason; a
 * session that cannot be planned gets status AC_MATCH_WAITING with the reason. Errors of
 * the catalogue only. */
int ac_planner_plan_now(ac_planner_t *pl, const char *const *session_ids, size_t n,
                        ac_plan_t *out, ac_err_t *e);

/* ac_planner_find returns the plan of a session (borrowed until the next pass), or NULL. */
const ac_plan_t *ac_planner_find(const ac_planner_t *p, const char *session_id);

/* ac_planner_mark_bad_master keeps a master that failed validation out of matching until
 * its file changes; plans that use it are set aside (waiting, "planning again") until the
 * next pass. Returns true when the mark is new (then it is logged, once), false when the
 * master was marked already (nothing logged). */
bool ac_planner_mark_bad_master(ac_planner_t *p, const char *path, const char *reason);

/* ac_planner_mark_bad_set marks a set of masters unusable together (as above): sessions
 * planned with exactly that set wait with the reason until one of its files changes. */
bool ac_planner_mark_bad_set(ac_planner_t *p, const ac_mkey_t *key, const char *reason);

/* ac_planner_explain builds the `plan` result for one session (NULL: every session);
 * NULL with e set on failure (-ENOENT for an unknown session). */
json_t *ac_planner_explain(ac_planner_t *p, const char *session_id, ac_err_t *e);

/* ac_planner_masters_json builds the `masters` result: every master as matching sees it,
 * and the master builds. NULL with e set on failure. */
json_t *ac_planner_masters_json(ac_planner_t *p, ac_err_t *e);

#endif
