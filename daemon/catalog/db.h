/*
 * db.h - the daemon's one read-write SQLite connection (adapter): open with the pragmas
 * astrocald needs, transactions with BUSY retry and back-off, cached prepared statements,
 * PRAGMA data_version for noticing other processes' commits, the catalogue's availability
 * (busy while another program holds its lock, lost once replaced or deleted), and small
 * column helpers.
 *
 * Ownership: ac_db_open returns an ac_db_t owned by the caller (ac_db_close). Statements
 * from ac_db_prepare are borrowed and must be handed back with ac_db_release before the
 * function that prepared them returns.
 *
 * Thread: the connection belongs to the thread that opened it (the loop thread). Every
 * ac_db_* function (and every ac_schema_* / ac_catalog_* function, through
 * AC_DB_OWNER_CHECK) aborts with a message when called from another thread: the connection
 * is opened with SQLITE_OPEN_NOMUTEX, so misuse must crash in tests rather than race.
 * ac_db_parse_number, ac_db_timestamp and the column helpers touch no connection state
 * and are safe on any thread.
 */
#ifndef AC_DB_H
#define AC_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct ac_db ac_db_t;
struct ac_schema_info;

typedef struct ac_db_opts {
    /* SQLite's own busy handler wait for one attempt (PRAGMA busy_timeout), in ms: how long
     * any statement (a read too, in a rollback-journal database) waits for a lock. */
    int busy_timeout_ms;
    /* Total time one transaction may spend getting the write lock (busy waits inside
     * SQLite plus our back-off sleeps), in ms; then AC_EBUSY. Each attempt's busy wait is
     * cut to what is left of this budget. 0: one attempt, no sleep (the daemon: its loop
     * thread never sleeps here; callers defer refused work, see ac_db_state). */
    int retry_budget_ms;
    /* First back-off sleep after a BUSY/LOCKED answer, doubled per retry, in ms. */
    int retry_initial_ms;
    /* Create the file when it does not exist (SQLITE_OPEN_CREATE). */
    bool create;
    /* Open read-only (a reader beside the daemon's connection; says nothing of the
     * journal mode, which the writer's connection reports). */
    bool read_only;
} ac_db_opts_t;

/* ac_db_opts_default fills 5000 ms busy timeout, 5000 ms budget, 50 ms first back-off,
 * create = true: for tools and start-up, which may wait. */
void ac_db_opts_default(ac_db_opts_t *o);

/* ac_db_set_opts changes the timeouts of an open connection (o->create is ignored): the
 * daemon opens with the defaults and switches to short attempts before serving. */
void ac_db_set_opts(ac_db_t *db, const ac_db_opts_t *o);

/*
 * ac_db_open opens path read-write (NOMUTEX) and records the calling thread as the owner.
 * Pragmas: busy_timeout, foreign_keys=ON, synchronous=FULL. A database with no schema
 * objects at all ("fresh": just created, or an empty file) is switched to WAL; an existing
 * database keeps its journal mode (AstroFiler's is already WAL), with a notice if it is not
 * WAL. Returns NULL with AC_ESQLITE in e on failure. opts may be NULL (defaults).
 */
ac_db_t *ac_db_open(const char *path, const ac_db_opts_t *opts, ac_err_t *e);

/* ac_db_close finalises every statement (cached or leaked) and closes; NULL is a no-op. */
void ac_db_close(ac_db_t *db);

/* ac_db_is_fresh says whether the database had no schema objects when it was opened. */
bool ac_db_is_fresh(const ac_db_t *db);
/* ac_db_is_wal says whether the database's journal mode was wal when it was opened
 * (readers on other connections then never block its writer). */
bool ac_db_is_wal(const ac_db_t *db);

/* ac_db_path returns the path given to ac_db_open (borrowed, valid until close). */
const char *ac_db_path(const ac_db_t *db);

/* ac_db_handle returns the sqlite3 handle (borrowed), for schema/catalog modules only. */
sqlite3 *ac_db_handle(ac_db_t *db);

/* ac_db_check_thread aborts (after logging func) unless called on the owner thread. */
void ac_db_check_thread(const ac_db_t *db, const char *func);
#define AC_DB_OWNER_CHECK(db) ac_db_check_thread((db), __func__)

/* ac_db_check_identity checks that the database path still names the file opened (same
 * device and inode): AC_ECATALOG with the reason when it was deleted or replaced (`mv new
 * old`, a restore), since writing on would go to an orphaned file nobody reads. Called by
 * ac_db_transact before every transaction, and by the daemon on a timer. The first failure
 * makes the connection lost for good (AC_DB_LOST below). */
int ac_db_check_identity(ac_db_t *db, ac_err_t *e);

/*
 * The catalogue's availability, as this connection last saw it.
 *   AC_DB_OK    nothing refused since the last write that went through.
 *   AC_DB_BUSY  a statement or transaction was refused because another connection holds a
 *               lock (AC_EBUSY from any function here: the write lock, or in a
 *               rollback-journal database even a read); until a transaction commits or
 *               ac_db_probe gets the write lock. Work refused meanwhile is deferred by its
 *               caller; the owner (daemon.c) probes with a back-off and re-kicks it.
 *   AC_DB_LOST  the file was replaced or deleted (ac_db_check_identity): for good. Every
 *               transaction is refused with AC_ECATALOG and the reason; reads still see the
 *               file opened; closing neither checkpoints into it nor deletes its -wal and
 *               -shm files (they may be the new file's by now).
 * The hook (one, may be NULL) is called on every change, on the thread that caused it,
 * possibly deep inside a caller's work: it must only note the state and arm timers.
 */
typedef enum ac_db_state { AC_DB_OK = 0, AC_DB_BUSY, AC_DB_LOST } ac_db_state_t;
typedef void (*ac_db_state_fn)(void *ud, ac_db_state_t state);

void ac_db_set_state_hook(ac_db_t *db, ac_db_state_fn fn, void *ud);
ac_db_state_t ac_db_state(const ac_db_t *db);

/* ac_db_busy_since gives when (unix seconds, wall clock) the current busy episode began;
 * 0 unless busy. */
double ac_db_busy_since(const ac_db_t *db);

/* ac_db_lost_reason gives the message of the identity check that failed ("" unless
 * lost; borrowed until close). */
const char *ac_db_lost_reason(const ac_db_t *db);

/* ac_db_probe tries to take the write lock without waiting (BEGIN IMMEDIATE, ROLLBACK;
 * nothing is written): 0 and the state back to OK when it could, AC_EBUSY when another
 * connection holds it, AC_ECATALOG when lost, AC_ESQLITE. Outside a transaction only. */
int ac_db_probe(ac_db_t *db, ac_err_t *e);

/* ac_db_unavailable says whether code means the catalogue refused the work for now or for
 * good (AC_EBUSY, AC_ECATALOG) rather than the work being wrong: the caller puts the work
 * aside without counting it as a failure. Any thread. */
bool ac_db_unavailable(int code);

/* ac_db_retry_delay_ms is the delay before work refused by a busy catalogue is tried
 * again: base_ms when not busy, else as long as the catalogue has been busy so far, at
 * least base_ms and at most AC_DB_RETRY_MAX_MS (the delays double while a lock lasts). */
#define AC_DB_RETRY_MAX_MS 10000
uint64_t ac_db_retry_delay_ms(const ac_db_t *db, uint64_t base_ms);

/* ac_db_in_transaction says whether a transaction (from ac_db_transact) is open. */
bool ac_db_in_transaction(const ac_db_t *db);

/*
 * ac_db_error turns a SQLite result code into ours, recording "<path>: <op>: <errmsg>" in
 * e: AC_EBUSY for SQLITE_BUSY/SQLITE_LOCKED (transient; the state becomes AC_DB_BUSY),
 * AC_ENOSPACE for SQLITE_FULL ("database or disk is full"), AC_ESQLITE otherwise. Returns
 * the code.
 */
int ac_db_error(ac_db_t *db, int rc, const char *op, ac_err_t *e);

/* ac_db_exec runs constant SQL (no values from users: bind those with ac_db_prepare).
 * 0, AC_EBUSY or AC_ESQLITE. */
int ac_db_exec(ac_db_t *db, const char *sql, ac_err_t *e);

/*
 * ac_db_prepare returns in *out a statement for sql from the cache (prepared once with
 * SQLITE_PREPARE_PERSISTENT, keyed by the SQL text). If the cached statement is already
 * in use (re-entrant use of the same SQL), a private one is prepared instead. The
 * statement is borrowed: give it back with ac_db_release. 0, AC_EBUSY (the schema could
 * not be read: locked), AC_ESQLITE or -ENOMEM.
 */
int ac_db_prepare(ac_db_t *db, const char *sql, sqlite3_stmt **out, ac_err_t *e);

/* ac_db_release resets a statement from ac_db_prepare and clears its bindings (cached) or
 * finalises it (private). NULL is a no-op. */
void ac_db_release(ac_db_t *db, sqlite3_stmt *st);

/* Results of ac_db_step besides errors. */
enum { AC_DB_DONE = 0, AC_DB_ROW = 1 };

/* ac_db_step steps st: AC_DB_ROW, AC_DB_DONE, or AC_EBUSY / AC_ESQLITE with op named in e
 * (a constraint violation is AC_ESQLITE). */
int ac_db_step(ac_db_t *db, sqlite3_stmt *st, const char *op, ac_err_t *e);

/*
 * A transaction body: runs with the write lock held; returns 0 to commit or a negative
 * code to roll back. It must have no effects outside the database, because it may run
 * several times (it is retried from the start after a BUSY/LOCKED answer).
 */
typedef int (*ac_db_txn_fn)(ac_db_t *db, void *arg, ac_err_t *e);

/*
 * ac_db_transact runs fn inside BEGIN IMMEDIATE ... COMMIT. When the write lock cannot be
 * had (SQLITE_BUSY/LOCKED, also from fn or COMMIT) it rolls back, sleeps (back-off from
 * retry_initial_ms, doubling) and starts again, until retry_budget_ms is spent: then
 * AC_EBUSY (with retry_budget_ms 0: after the one attempt). Any other failure of fn rolls
 * back and returns fn's code and message. A lost catalogue is AC_ECATALOG before anything
 * runs. Called inside a transaction, fn runs in a SAVEPOINT of the outer one: its failure
 * undoes only its own changes and is returned (no retry). Returns 0 when committed (the
 * state is then AC_DB_OK again).
 */
int ac_db_transact(ac_db_t *db, ac_db_txn_fn fn, void *arg, ac_err_t *e);

/* ac_db_data_version reads PRAGMA data_version: it changes when another connection
 * commits (not for our own commits). 0 or an error code. */
int ac_db_data_version(ac_db_t *db, int64_t *out, ac_err_t *e);

/* ac_db_changes is sqlite3_changes of the last statement. */
int ac_db_changes(ac_db_t *db);

/* ac_db_schema returns the schema description recorded by schema.c (borrowed until the
 * next ac_db_set_schema or close), or NULL. ac_db_set_schema stores a copy; 0 or -ENOMEM. */
const struct ac_schema_info *ac_db_schema(const ac_db_t *db);
int ac_db_set_schema(ac_db_t *db, const struct ac_schema_info *info);

/* Helpers (any thread). */

/* ac_db_parse_number parses AstroFiler's numbers stored as TEXT ('300', '300.0', '-10.1',
 * ' 5 ', '1e3'): NAN for NULL, empty, or anything that is not entirely a finite number. */
double ac_db_parse_number(const char *s);

/* ac_db_column_number reads column col as a number: INTEGER and REAL as they are, TEXT
 * through ac_db_parse_number, NULL and BLOB as NAN. */
double ac_db_column_number(sqlite3_stmt *st, int col);

/* ac_db_column_int reads a whole number (e.g. binning '1' or 1.0): def when NULL or not a
 * number. */
int ac_db_column_int(sqlite3_stmt *st, int col, int def);

/* ac_db_column_dup stores in *out a copy of a TEXT column (owned, free()), NULL for SQL
 * NULL. 0 or -ENOMEM. */
int ac_db_column_dup(sqlite3_stmt *st, int col, char **out);

/* ac_db_bind_text binds s (copied by SQLite), or NULL when s is NULL. ac_db_bind_double
 * binds v, or NULL when v is NaN. Both return the SQLite code. */
int ac_db_bind_text(sqlite3_stmt *st, int idx, const char *s);
int ac_db_bind_double(sqlite3_stmt *st, int idx, double v);

/* ac_db_timestamp writes the local time as AstroFiler writes datetime.now():
 * "YYYY-MM-DD HH:MM:SS.ffffff" (27 bytes with NUL). Returns buf. */
char *ac_db_timestamp(char *buf, size_t size);

#endif
