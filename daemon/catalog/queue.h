/*
 * queue.h - the light queue: which light files astrocald calibrates, in which order, and
 * what became of each (astrocald's tables astrocal_session and astrocal_file).
 *
 * Every change of a queued session or file goes through this module: it holds the rules
 * (which change is allowed from which state, the retry policy, when a session is done) and
 * the SQL. The planner records its plans here, the scheduler claims and ends files here,
 * and the operator's commands (enqueue, pause, resume, cancel, retry) land here.
 *
 * A session (astrocal_session.state):
 *
 *   (new) --plan--> queued (masters matched, calibration enabled) | waiting (reason says why)
 *   waiting <--plan--> queued       planning again follows the masters; a paused or
 *                                   cancelled session keeps its state, except that a forced
 *                                   plan (enqueue, resume) of a ready session queues it
 *   queued --pause--> paused --resume--> queued
 *   queued --settle: no file left pending or running--> done
 *   waiting | queued | paused --cancel (the session, or all)--> cancelled
 *   cancelled --enqueue--> queued   (other states stay; the forced plan that follows
 *                                   queues a ready session)
 *   done --enqueue--> refused (conflict: retry the failed files instead)
 *   done --recalibrate--> queued (its done files pending again: see Recalibration)
 *   done --retry of one of its files--> queued
 *
 * A file (astrocal_file.state):
 *
 *   (new) --plan of a ready session--> pending (a file already queued keeps its state)
 *   pending --claim--> running
 *   running --record_calibrated--> done
 *   running --fail, disk or catalogue full--> pending (NO attempt counted, error kept:
 *                                             the scheduler pauses until space returns)
 *   running --fail, transient and attempts left--> pending (attempts + 1, error kept,
 *                                                  not_before = now + back-off)
 *   running --fail, otherwise--> failed (attempts + 1)
 *   running --release--> pending (no attempt counted: not the file's fault)
 *   running --finish--> failed | skipped | cancelled
 *   running --recover at start-up--> pending (no attempt counted), or failed "crashes the
 *                                    daemon" (see Crashes)
 *   pending --cancel (the file, its session, or all)--> cancelled
 *   failed --retry--> pending (attempts 0, interrupted 0; crashes kept)
 *   failed | cancelled --enqueue--> pending (the same)
 *
 * Recalibration (ac_queue_recalibrate): a done session's done files go back to pending
 * with recal_output = their output; the scheduler writes the new output beside it, swaps
 * it in under the same name keeping the old one as recal_backup (sched_recal.c), and
 * ac_queue_record_recalibrated updates the output's existing fitsfile row and
 * astrocal_record (no second row) and marks the file done with recal_backup set, in one
 * transaction; the backup is removed afterwards (ac_queue_recal_backup_gone). A
 * recalibration that fails for good leaves the file done with its previous output and
 * the error. The files of a session whose recalibration is under way:
 *   done --recalibrate--> pending (recal_output set) --claim--> running
 *   running --record_recalibrated--> done (recal_output NULL, recal_backup set)
 *   running --fail, for good--> done (previous output kept, error says why)
 *
 * Crashes: a file running when the daemon died (a crash, a SIGKILL, a power cut) is not
 * to blame by itself. At start-up (ac_queue_recover) each file still running goes back to
 * pending without an attempt and its `interrupted` count grows; a file interrupted twice
 * or more, or blamed once, is a suspect: suspects are claimed first, fewest crashes first,
 * and the scheduler runs a suspect only alone (ac_queue_suspects). A death is blamed on a
 * file (`crashes` + 1) only when a crash handler named it (it ran on the thread that
 * crashed), or when it was being calibrated alone (the scheduler's marker: on the pool,
 * no other light, no master build) and had been interrupted before: a first death, and
 * deaths while it waited for its masters or ran beside others, count nothing. At
 * policy.crash_limit (3) crashes it fails as "crashes the daemon (SIGNAL; N crashes)". A
 * crash handler's record names the culprit; the other files running then are bystanders
 * and count nothing.
 *
 * Settling: every change that ends a file (record_calibrated, fail, finish) and every plan
 * of a ready session looks at the file's session in the same transaction: a queued session
 * with no file left pending or running becomes done; the queue logs it and calls on_done.
 * A done session stays done when it is planned again (a scan sees its failed lights),
 * unless the plan adds new lights: then it is queued again.
 *
 * Outcome: a session that became done gets an outcome, stored beside its state and shown
 * in its place (ac_queue_sess_shown): "done" when every light was calibrated (skipped =
 * calibrated by another tool counts as calibrated; so will a light rejected by grading,
 * once grading exists: AC_QUEUE_REJECTED_HOOK), "failed" when none was, "partial"
 * otherwise; for failed and partial a reason with the counts and the most common error.
 * Leaving done (enqueue, retry, new lights) clears it.
 *
 * History: every change below writes its event (event.h) in its own transaction: a plan
 * that changes a session's state, reason or masters (session_planned), a claim (attempt),
 * each end of an attempt (calibrated, retry, failed, skipped, cancelled, released,
 * interrupted), a light unreadable at planning (unreadable), an operator's request
 * (operator, cancelled) and a session that became done (session_done).
 *
 * Claim order: only pending files of queued sessions whose not_before has passed; highest
 * session priority first, then session date (policy.newest_first), then path.
 *
 * Durability: every function below is one transaction, committed before it returns
 * (synchronous=FULL), so a claim is durable before its job is submitted; after a crash
 * ac_queue_recover turns every running row back into pending (at-least-once), and
 * ac_catalog_record_calibrated's idempotence makes the catalogue exactly-once.
 *
 * Errors: 0 or a negative code with e set. The operator's requests answer -ENOENT ("no
 * session 'X'", "no file 'X'") and -EEXIST when the state forbids the change (the message
 * says why, as the control protocol shows it); besides AC_ESQLITE, AC_EBUSY, -ENOMEM,
 * -EINVAL (bad argument).
 *
 * Ownership: ac_queue_t borrows its connection (the daemon's); rows and lists returned are
 * owned by the caller (the matching *_clear / *_free, safe on zeroed values).
 * Thread: loop thread only (the owner of the ac_db_t, checked); the state names are
 * pure (any thread).
 */
#ifndef AC_QUEUE_H
#define AC_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "catalog.h"
#include "db.h"
#include "err.h"

typedef enum ac_sess_state {
    AC_SESS_WAITING = 0, /* masters missing (reason says which) */
    AC_SESS_QUEUED,
    AC_SESS_PAUSED,
    AC_SESS_DONE,
    AC_SESS_CANCELLED,
    AC_SESS_NSTATES
} ac_sess_state_t;

typedef enum ac_file_state {
    AC_FILE_PENDING = 0,
    AC_FILE_RUNNING,
    AC_FILE_DONE,
    AC_FILE_FAILED,
    AC_FILE_SKIPPED,
    AC_FILE_CANCELLED,
    AC_FILE_NSTATES
} ac_file_state_t;

/* Names as stored ("waiting", "pending", ...) and back (-1 when unknown). Any thread. */
const char *ac_queue_sess_state_name(ac_sess_state_t s);
int ac_queue_sess_state_parse(const char *name);
const char *ac_queue_file_state_name(ac_file_state_t s);
int ac_queue_file_state_parse(const char *name);

/* The retry and ordering rules ([QUEUE] in astrocald.conf; crash_limit is fixed). */
typedef struct ac_queue_policy {
    int max_attempts;    /* a file fails for good at its max_attempts-th failed attempt */
    int retry_backoff_s; /* first back-off; doubled per attempt, at most an hour */
    bool newest_first;   /* claim sessions by date, newest first (else oldest first) */
    int crash_limit;     /* crashes blamed on a file before it fails (see Crashes): 3 */
} ac_queue_policy_t;

/* A session that became done (see Settling, Outcome); borrowed for the callback. */
typedef struct ac_queue_done {
    const char *session_id;
    const char *state; /* "done", "partial" or "failed" */
    int counts[AC_FILE_NSTATES];
    int rejected;       /* lights rejected by grading: 0 until grading exists */
    const char *reason; /* partial / failed: counts and the most common error; else NULL */
} ac_queue_done_t;

/* Called after the commit that made a queued session done (see Settling). */
typedef void (*ac_queue_done_cb)(void *ud, const ac_queue_done_t *done);

/* ac_queue_outcome names the outcome of a finished session from its file counts and its
 * lights rejected by grading: "done", "partial" or "failed" (see Outcome). Any thread. */
const char *ac_queue_outcome(const int counts[AC_FILE_NSTATES], int rejected);

typedef struct ac_queue {
    ac_db_t *db; /* borrowed */
    ac_queue_policy_t policy;
    ac_queue_done_cb on_done; /* may be NULL */
    void *ud;
} ac_queue_t;

/* ac_queue_init sets up q over db with the default policy (3 attempts, 30 s back-off,
 * newest first, 3 crashes) and no on_done; the owner may change policy and on_done at any time.
 */
void ac_queue_init(ac_queue_t *q, ac_db_t *db);

/* ---- Rows ---- */

/* An astrocal_session row with its files counted per state. Strings owned. */
typedef struct ac_qsession {
    char *session_id;
    int priority;
    ac_sess_state_t state;
    char *reason, *bias_master, *dark_master, *flat_master, *flatdark_master, *plan_json;
    char *session_date, *updated_at;
    char *outcome;        /* done sessions: "done", "partial", "failed"; NULL before schema 4 */
    char *outcome_reason; /* partial / failed: counts and the most common error */
    char *links_json;     /* where its masters came from (see ac_queue_plan_t.links) */
    int counts[AC_FILE_NSTATES];
    double avg_seconds; /* mean seconds of its calibrated lights, NAN when none */
} ac_qsession_t;

/* ac_queue_sess_shown is the state a user sees: the outcome of a done session ("done",
 * "partial", "failed"), else the state's name. Any thread. */
const char *ac_queue_sess_shown(const ac_qsession_t *s);

typedef struct ac_qsession_list {
    ac_qsession_t *items;
    size_t n;
} ac_qsession_list_t;

/* An astrocal_file row. Strings owned. */
typedef struct ac_qfile {
    char *file_id, *session_id, *path;
    ac_file_state_t state;
    int attempts;
    double not_before; /* unix time, NAN when none */
    char *error, *output_path, *output_file_id, *started_at, *finished_at;
    double seconds;           /* NAN when unknown */
    int interrupted, crashes; /* see Crashes */
    char *recal_output;       /* see Recalibration: the output being replaced, or NULL */
    char *recal_backup;       /* the old output kept until removed, or NULL */
} ac_qfile_t;

/* ac_queue_suspect says whether f runs only alone (see Crashes). Any thread. */
bool ac_queue_suspect(const ac_qfile_t *f);

typedef struct ac_qfile_list {
    ac_qfile_t *items;
    size_t n;
} ac_qfile_list_t;

void ac_queue_session_clear(ac_qsession_t *s);
void ac_queue_sessions_free(ac_qsession_list_t *list);
void ac_queue_file_clear(ac_qfile_t *f);
void ac_queue_files_free(ac_qfile_list_t *list);

/* ---- The planner's outcome ---- */

/* A light file to queue (borrowed strings). error: the light could not be read at
 * planning; it is queued as failed with that reason (one attempt), whatever the session's
 * state, and a file already queued keeps its state. */
typedef struct ac_qfile_add {
    const char *file_id, *path;
    const char *error; /* NULL: readable */
} ac_qfile_add_t;

/* A session's plan (borrowed strings; NULL for none). */
typedef struct ac_queue_plan {
    const char *session_id;
    bool ready; /* masters matched and calibration enabled: queued, else waiting */
    bool force; /* astrocalctl enqueue / resume: a ready session is queued even when the
                 * operator paused or cancelled it */
    const char *reason;
    const char *bias_master, *dark_master, *flat_master, *flatdark_master; /* paths */
    const char *plan_json;
    const char *session_date;    /* for ordering ('YYYY-MM-DD' or a DATE-OBS) */
    const ac_qfile_add_t *files; /* the session's uncalibrated lights */
    size_t nfiles;
    /* Bias, dark and flat (in this order): where the chosen masters came from. With
     * has_links, a ready plan writes AstroFiler's fields of the light session
     * (ac_catalog_session_links) and astrocal_session.links_json, in the same transaction. */
    bool has_links;
    ac_session_link_t links[3];
} ac_queue_plan_t;

/* ac_queue_plan records a plan: inserts or updates the session (its state as the diagram
 * says; priority kept); queues the unreadable files as failed; when ready, queues its other
 * files as pending and settles the session. *added (may be NULL) counts the files new to
 * the queue (failed ones included). */
int ac_queue_plan(ac_queue_t *q, const ac_queue_plan_t *p, int *added, ac_err_t *e);

/* ---- The operator's requests ---- */

/* ac_queue_enqueue queues a session again: priority set when not NULL (larger runs
 * sooner), its cancelled and failed files pending (attempts 0), a cancelled session
 * queued. -ENOENT, -EEXIST for a done session. The caller plans it next (forced). */
int ac_queue_enqueue(ac_queue_t *q, const char *session_id, const int *priority, ac_err_t *e);

/* ac_queue_pause pauses a session with reason. -ENOENT, -EEXIST when done or cancelled. */
int ac_queue_pause(ac_queue_t *q, const char *session_id, const char *reason, ac_err_t *e);

/* ac_queue_resume queues a paused session again (reason cleared); any other state is left
 * as it is. *resumed says whether it was paused. -ENOENT. */
int ac_queue_resume(ac_queue_t *q, const char *session_id, bool *resumed, ac_err_t *e);

/* ac_queue_cancel cancels a session and its pending files; its running files are left to
 * the scheduler, which stops them and ends them with ac_queue_finish. *n (may be NULL)
 * counts the files cancelled now plus those running. -ENOENT, -EEXIST for a done session. */
int ac_queue_cancel(ac_queue_t *q, const char *session_id, int *n, ac_err_t *e);

/* ac_queue_cancel_file cancels one file: a pending one now (its session settles), a
 * running one is left to the scheduler, which stops it and ends it with ac_queue_finish
 * (*running, may be NULL, says which). -ENOENT, -EEXIST when it is neither pending nor
 * running. */
int ac_queue_cancel_file(ac_queue_t *q, const char *file_id, bool *running, ac_err_t *e);

/* ac_queue_cancel_all cancels every waiting, queued or paused session and their pending
 * files (running ones are left to the scheduler, as ac_queue_cancel); *n (may be NULL)
 * counts the files cancelled now plus those running. */
int ac_queue_cancel_all(ac_queue_t *q, int *n, ac_err_t *e);

/* ac_queue_retry puts failed files back to pending (attempts 0, error and not_before
 * cleared): the one file_id (-ENOENT; -EEXIST when it is not failed), or every failed file
 * of session_id (-ENOENT), or every failed file when both are NULL; done sessions that
 * have a pending file again become queued. *changed (may be NULL) counts files. */
int ac_queue_retry(ac_queue_t *q, const char *file_id, const char *session_id, int *changed,
                   ac_err_t *e);

/* ac_queue_recalibrate queues a done session again for recalibration: its done files
 * with an output (not being replaced by an import) become pending with recal_output set
 * (attempts 0, error cleared) and the session queued. *n (may be NULL) counts the files.
 * -ENOENT; -EEXIST when the session is not done (the message says its state) or has no
 * calibrated file. */
int ac_queue_recalibrate(ac_queue_t *q, const char *session_id, int *n, ac_err_t *e);

/* ---- The scheduler's changes ---- */

/* ac_queue_claim takes the next file in claim order whose not_before has passed (<= now,
 * unix seconds), marks it running (started_at set) and copies it to *out; *found says
 * whether there was one. only_session (may be NULL) restricts the choice to a session.
 * Suspects come first, fewest crashes first (see Crashes). */
int ac_queue_claim(ac_queue_t *q, double now, const char *only_session, ac_qfile_t *out,
                   bool *found, ac_err_t *e);

/* ac_queue_release puts a running file back to pending without counting an attempt (the
 * scheduler could not start it, or stopped it at shutdown), eligible again from not_before
 * (unix seconds). -ENOENT when it is not running. */
int ac_queue_release(ac_queue_t *q, const char *file_id, double not_before, ac_err_t *e);

/* ac_queue_record_calibrated records a calibrated file (ac_catalog_record_calibrated: the
 * output's fitsfile row, the raw row marked, astrocal_record) and marks its queue row done
 * with the output path and id, finished_at and seconds (rec->t_total), then settles its
 * session: all in ONE transaction. Idempotent like ac_catalog_record_calibrated.
 * out_file_id (may be NULL) receives the output's fitsFileId. */
int ac_queue_record_calibrated(ac_queue_t *q, const ac_calibrated_rec_t *rec,
                               bool preserve_original, char out_file_id[AC_UUID_LEN + 1],
                               ac_err_t *e);

/* ac_queue_record_recalibrated records a recalibrated file whose new output is in place
 * (ac_catalog_record_recalibrated: the existing output row and astrocal_record updated)
 * and marks its queue row done with recal_output cleared and recal_backup = backup (may
 * be NULL), then settles its session: ONE transaction. */
int ac_queue_record_recalibrated(ac_queue_t *q, const ac_calibrated_rec_t *rec,
                                 const char *backup, ac_err_t *e);

/* ac_queue_recal_backup_gone clears a file's recal_backup once the file is removed. */
int ac_queue_recal_backup_gone(ac_queue_t *q, const char *file_id, ac_err_t *e);

/* ac_queue_calibrated_with lists the done files (with an output, not being recalibrated,
 * not handed out to a cluster) whose calibration record used the master at master_path
 * (as bias, dark, flat or flat-dark), by session and path (docs/cluster.md). */
int ac_queue_calibrated_with(ac_queue_t *q, const char *master_path, ac_qfile_list_t *out,
                             ac_err_t *e);

/* ac_queue_recal_mark (on) marks the done file's output (which must be output) as being
 * replaced (recal_output = output) before a recalibrated file imported from a cluster is
 * swapped in: a crash before ac_queue_record_recalibrated then brings the old output back
 * at the next start (ac_sched_recal_recover), as for the daemon's own recalibrations;
 * (!on) clears the mark when nothing was swapped. -ENOENT when the file is not done with
 * that output, or (on) is marked already (an earlier import's swap, not recorded: the next
 * start undoes it). */
int ac_queue_recal_mark(ac_queue_t *q, const char *file_id, const char *output, bool on,
                        ac_err_t *e);

/* ac_queue_recal_files lists the files whose recalibration is under way (recal_output set)
 * or whose old output still waits to be removed (recal_backup set), any state. */
int ac_queue_recal_files(ac_queue_t *q, ac_qfile_list_t *out, ac_err_t *e);

/* What ac_queue_fail decided. */
typedef struct ac_queue_verdict {
    bool retry;       /* back to pending until now + backoff_s */
    bool full;        /* a full disk or catalogue: pending, no attempt counted, no back-off
                       * (the scheduler pauses until space returns) */
    int attempts;     /* attempts counted, this one included (unchanged when full) */
    double backoff_s; /* when retry */
} ac_queue_verdict_t;

/* ac_queue_transient says whether an error code may go away by itself (busy database, full
 * disk, I/O error, no memory, too many open files, interrupted): such failures are
 * retried. Any thread. */
bool ac_queue_transient(int code);

/* ac_queue_full says whether an error code means a full disk or catalogue (-ENOSPC,
 * -EDQUOT, AC_ENOSPACE: SQLite's "database or disk is full"): never the file's fault. Any
 * thread. */
bool ac_queue_full(int code);

/* ac_queue_fail ends an attempt of a running file that failed with code and error (the
 * message), after seconds (NAN when unknown): back to pending without an attempt when
 * full (ac_queue_full); retried after retry_backoff_s x 2^attempts (at most an hour) from
 * now when the error is transient and attempts are left; else failed (then settled). *v
 * (may be NULL) says which. -ENOENT. */
int ac_queue_fail(ac_queue_t *q, const char *file_id, int code, const char *error,
                  double seconds, double now, ac_queue_verdict_t *v, ac_err_t *e);

/* ac_queue_finish ends a file as FAILED (attempts + 1, no retry), SKIPPED or CANCELLED,
 * with error text (may be NULL) and seconds (NAN when unknown), then settles its session.
 * -ENOENT; -EINVAL for any other state. */
int ac_queue_finish(ac_queue_t *q, const char *file_id, ac_file_state_t state,
                    const char *error, double seconds, ac_err_t *e);

/* What the daemon knows of its last death (a crash handler's record; all zero when none:
 * a SIGKILL, a power cut, or a crash the handler could not record). */
typedef struct ac_queue_crash {
    int signal;          /* the signal that killed it, 0 when unknown */
    const char *culprit; /* the file that ran on the crashing thread, NULL when unknown */
    const char *alone;   /* the file being calibrated alone (the scheduler's marker), NULL */
} ac_queue_crash_t;

/* What ac_queue_recover did. */
typedef struct ac_queue_recovery {
    int requeued, failed;        /* files back to pending; failed "crashes the daemon" */
    int blamed;                  /* deaths counted against a file (0 or 1) */
    ac_qfile_list_t interrupted; /* the rows that were running, as they were (owned) */
} ac_queue_recovery_t;

/* ac_queue_recover runs at start-up: every file still running goes back to pending
 * without an attempt counted, or fails as "crashes the daemon" (see Crashes; crash may
 * be NULL). out (may be NULL) says what happened; the caller clears it
 * (ac_queue_recovery_clear). */
int ac_queue_recover(ac_queue_t *q, const ac_queue_crash_t *crash, ac_queue_recovery_t *out,
                     ac_err_t *e);
void ac_queue_recovery_clear(ac_queue_recovery_t *r);

/* ac_queue_suspects counts the suspects that are running, or pending in a queued session:
 * while there is one, the scheduler runs one thing at a time. */
int ac_queue_suspects(ac_queue_t *q, int *n, ac_err_t *e);

/* ---- Reading ---- */

/* ac_queue_session reads one session with its counts. -ENOENT ("no session 'X'"). */
int ac_queue_session(ac_queue_t *q, const char *session_id, ac_qsession_t *out, ac_err_t *e);

/* ac_queue_sessions lists every session with counts, in claim order (priority descending,
 * then session date newest first). */
int ac_queue_sessions(ac_queue_t *q, ac_qsession_list_t *out, ac_err_t *e);

/* ac_queue_file reads one file's row. -ENOENT ("no file 'X'"). */
int ac_queue_file(ac_queue_t *q, const char *file_id, ac_qfile_t *out, ac_err_t *e);

/* ac_queue_files lists a session's files with their states, by path. */
int ac_queue_files(ac_queue_t *q, const char *session_id, ac_qfile_list_t *out, ac_err_t *e);

/* ac_queue_files_in_state lists every file in a state (all sessions), by path. */
int ac_queue_files_in_state(ac_queue_t *q, ac_file_state_t state, ac_qfile_list_t *out,
                            ac_err_t *e);

/* ac_queue_counts counts files per state, for one session or all (NULL). */
int ac_queue_counts(ac_queue_t *q, const char *session_id, int counts[AC_FILE_NSTATES],
                    ac_err_t *e);

/* ac_queue_next_retry gives the earliest not_before still in the future (after now) of
 * pending files in queued sessions, or of pending master builds (*any false when none):
 * when the scheduler must look again. */
int ac_queue_next_retry(ac_queue_t *q, double now, double *when, bool *any, ac_err_t *e);

/* ac_queue_same_name counts the other queued files whose file name (the part after the
 * last '/') is base: with a single output_dir their outputs would collide. */
int ac_queue_same_name(ac_queue_t *q, const char *file_id, const char *base, int *n,
                       ac_err_t *e);

#endif
