/*
 * queue_int.h - helpers shared by queue.c, queue_read.c, queue_recover.c and
 * queue_outcome.c only (not part of the queue's contract; see queue.h).
 *
 * Thread: loop thread (the owner of the ac_db_t), like the queue itself.
 */
#ifndef AC_QUEUE_INT_H
#define AC_QUEUE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "catalog_int.h"
#include "queue.h"

/* ---- Writes: a list of statements sharing one array of bound values ---- */

/* One statement: sql (constant) and op naming it in errors; changes receives the rows it
 * changed (ac_catalog_exec). */
typedef struct ac_qstep {
    const char *sql;
    const char *op;
    int changes; /* out */
} ac_qstep_t;

/* ac_queue_steps runs s[0..n-1] in order through ac_catalog_exec, each with b[0..nb-1]
 * bound to ?1..?nb, on the open transaction (or savepoint); stops at the first failure.
 * Call it from a transaction body. */
int ac_queue_steps(ac_db_t *db, ac_qstep_t *s, int n, const ac_bind_t *b, size_t nb,
                   ac_err_t *e);

/* ---- Rows ---- */

/* The columns of a queued file row (ac_queue_file_cols), in order. */
#define AC_QFILE_COLS                                                                          \
    "file_id, session_id, path, error, output_path, output_file_id, started_at, finished_at, " \
    "state, attempts, not_before, seconds, interrupted, crashes, recal_output, recal_backup"

/* AC_QSUSPECT_SQL(t): whether the astrocal_file row t is a suspect (see queue.h, Crashes;
 * ac_queue_suspect says the same of a row read). */
#define AC_QSUSPECT_SQL(t) "(" t ".interrupted >= 2 OR " t ".crashes > 0)"

/* The row table of AC_QFILE_COLS (ac_catalog_row_read; ac_queue_file_clear frees it). */
#define AC_QFILE_NCOLS 16
extern const ac_row_col_t ac_queue_file_cols[AC_QFILE_NCOLS];

/* ---- Settling and history (queue_outcome.c) ---- */

/* A session settled by a change: filled inside the transaction, reported after it (a
 * transaction body may run more than once). */
typedef struct ac_qsettled {
    char *session_id;    /* owned; NULL when nothing became done */
    const char *outcome; /* static: ac_queue_outcome */
    char *reason;        /* owned; NULL when done */
    int rejected;        /* lights rejected by grading (hook: 0) */
    int counts[AC_FILE_NSTATES];
} ac_qsettled_t;

void ac_queue_settled_reset(ac_qsettled_t *st);

/* ac_queue_settle marks done the queued session named by key (a session id, or with
 * by_file the id of one of its files) when none of its files is pending or running, with
 * its outcome, its session_done event and AstroFiler's is_auto_calibration; st says which
 * session (for ac_queue_report after the commit). */
int ac_queue_settle(ac_queue_t *q, const char *key, bool by_file, const char *now,
                    ac_qsettled_t *st, ac_err_t *e);

/* ac_queue_report logs a session settled by a committed change, calls on_done and forgets
 * it. */
void ac_queue_report(ac_queue_t *q, ac_qsettled_t *st);

/* ac_queue_file_event writes a history row of kind for a queued file, its detail read from
 * the file's row as it is now (message NULL: the row's error); ac_queue_session_event the
 * same for a session (message NULL: its reason). now is the change's timestamp. */
int ac_queue_file_event(ac_db_t *db, const char *file_id, const char *kind, const char *message,
                        const char *now, ac_err_t *e);
int ac_queue_session_event(ac_db_t *db, const char *session_id, const char *kind,
                           const char *message, const char *now, ac_err_t *e);

/* ac_queue_changed_event writes a history row of kind for every file this transaction put
 * in state (those whose updated_at is now). */
int ac_queue_changed_event(ac_db_t *db, const char *now, const char *state, const char *kind,
                           const char *message, ac_err_t *e);

#endif
