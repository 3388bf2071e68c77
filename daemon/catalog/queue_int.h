/*
 * queue_int.h - helpers shared by queue.c, queue_read.c and catalog_event.c only (not
 * part of the queue's contract; see queue.h).
 *
 * Thread: loop thread (the owner of the ac_db_t), like the queue itself.
 */
#ifndef AC_QUEUE_INT_H
#define AC_QUEUE_INT_H

#include <sqlite3.h>
#include <stdint.h>

#include "queue.h"

/* ---- Writes: constant SQL plus bound parameters ---- */

enum ac_qparam_type { AC_QP_NULL, AC_QP_TEXT, AC_QP_DOUBLE, AC_QP_INT };

typedef struct ac_qparam {
    enum ac_qparam_type t;
    const char *s;
    double d;
    int64_t i;
} ac_qparam_t;

#define QP_TXT(x)                                                                              \
    {                                                                                          \
        AC_QP_TEXT, (x), 0, 0                                                                  \
    }
#define QP_DBL(x)                                                                              \
    {                                                                                          \
        AC_QP_DOUBLE, NULL, (x), 0                                                             \
    }
#define QP_INT(x)                                                                              \
    {                                                                                          \
        AC_QP_INT, NULL, 0, (x)                                                                \
    }

/* One statement: sql with np parameters (?1 .. ?np), op naming it in errors; changes
 * receives sqlite3_changes after it ran. */
typedef struct ac_qstep {
    const char *sql;
    const ac_qparam_t *p;
    int np;
    const char *op;
    int changes; /* out */
} ac_qstep_t;

/* ac_queue_steps runs n steps in order on the open transaction (or savepoint); stops at
 * the first failure. Call it from a transaction body. */
int ac_queue_steps(ac_db_t *db, ac_qstep_t *s, int n, ac_err_t *e);

/* ac_queue_exec runs n steps in one transaction of their own (ac_db_transact). */
int ac_queue_exec(ac_db_t *db, ac_qstep_t *s, int n, ac_err_t *e);

/* ---- Rows ---- */

/* The columns ac_queue_file_from_row reads, in order. */
#define AC_QFILE_COLS                                                                          \
    "file_id, session_id, path, error, output_path, output_file_id, started_at, finished_at, " \
    "state, attempts, not_before, seconds, interrupted, crashes"

/* AC_QSUSPECT_SQL(t): whether the astrocal_file row t is a suspect (see queue.h, Crashes;
 * ac_queue_suspect says the same of a row read). */
#define AC_QSUSPECT_SQL(t) "(" t ".interrupted >= 2 OR " t ".crashes > 0)"

/* ac_queue_file_from_row fills *x (zeroed) from a row of AC_QFILE_COLS. 0 or -ENOMEM
 * (the strings copied so far stay for ac_queue_file_clear). */
int ac_queue_file_from_row(sqlite3_stmt *st, ac_qfile_t *x);

#endif
