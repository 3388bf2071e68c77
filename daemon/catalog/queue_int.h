/*
 * queue_int.h - helpers shared by queue.c, queue_read.c and catalog_event.c only (not
 * part of the queue's contract; see queue.h).
 *
 * Thread: loop thread (the owner of the ac_db_t), like the queue itself.
 */
#ifndef AC_QUEUE_INT_H
#define AC_QUEUE_INT_H

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

#endif
