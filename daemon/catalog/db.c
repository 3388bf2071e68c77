/*
 * db.c - the daemon's one read-write SQLite connection (see db.h).
 *
 * Design.
 *
 * One connection, opened SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX by the loop thread,
 * which is recorded (pthread_self) and checked by every entry point: SQLite's multi-thread
 * mode makes a second thread using the handle undefined behaviour, so a violation must
 * abort at once (style-anchors.md §9.1). Pool threads never see an ac_db_t.
 *
 * Locking and durability. AstroFiler keeps its database in WAL mode; readers never block
 * the writer and the writer never blocks readers, but there is one writer at a time.
 * Every write goes through ac_db_transact: BEGIN IMMEDIATE takes the write lock up front,
 * so no statement inside the transaction can meet SQLITE_BUSY half-way (in WAL mode), and
 * a commit is durable when it returns (synchronous=FULL syncs the WAL at each commit).
 * If BEGIN (or, in a rollback-journal database, a later statement or COMMIT) answers
 * BUSY/LOCKED, the transaction is rolled back and the whole body runs again after a
 * back-off sleep (50 ms doubling by default) until retry_budget_ms is used up, then the
 * caller gets AC_EBUSY, which it treats as transient. SQLite's own busy handler waits
 * first (busy_timeout), cut to what is left of the budget, so the loop thread never blocks
 * for more than about retry_budget_ms. After a crash at any point, SQLite's journal
 * guarantees each transaction is either entirely in the file or entirely absent.
 * The daemon sets a busy timeout of a few ms and no retry budget (ac_db_set_opts): one
 * short attempt, and work refused is deferred by its caller, never waited for here.
 *
 * Availability (ac_db_state): every BUSY/LOCKED answer, whatever the statement, passes
 * through ac_db_error, which marks the connection busy (with the wall-clock time the
 * episode began); a commit or a successful probe marks it OK again. A failed identity
 * check marks it lost for good: transactions are refused from then on without looking at
 * the file again, and SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE keeps sqlite3_close from
 * checkpointing into the orphaned file and from deleting the -wal and -shm files, which
 * by then sit beside another database. The owner learns of each change through the hook.
 *
 * Nesting: ac_db_transact inside a transaction runs its body in a SAVEPOINT, so catalog
 * functions compose (several files recorded in one commit) and a failing inner body undoes
 * only its own changes.
 *
 * Statements: prepared once (SQLITE_PREPARE_PERSISTENT) and kept in a hash table keyed by
 * their SQL text; ac_db_prepare marks one in use, ac_db_release resets it. Re-entrant use
 * of the same SQL gets a private statement finalised on release. Close finalises all.
 * SQL text is always constant or assembled from constant pieces; values are bound.
 */
#include "db.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "schema.h"
#include "util.h"

#define STMT_BUCKETS 128

struct stmt_entry {
    char *sql;
    uint32_t hash;
    sqlite3_stmt *st;
    bool in_use;
    struct stmt_entry *next;
};

struct ac_db {
    sqlite3 *h;
    char *path;
    pthread_t owner;
    ac_db_opts_t opts;
    bool fresh;
    bool wal;  /* journal_mode is wal */
    int depth; /* 0: no transaction; 1: BEGIN; >1: nested savepoints */
    dev_t dev; /* the file opened (ac_db_check_identity) */
    ino_t ino;
    ac_db_state_t state;
    double busy_since; /* unix seconds when busy began */
    char *lost_reason; /* when lost */
    ac_db_state_fn hook;
    void *hook_ud;
    struct stmt_entry *buckets[STMT_BUCKETS];
    ac_schema_info_t *schema;
};

void ac_db_opts_default(ac_db_opts_t *o)
{
    o->busy_timeout_ms = 5000;
    o->retry_budget_ms = 5000;
    o->retry_initial_ms = 50;
    o->create = true;
    o->read_only = false;
}

void ac_db_set_opts(ac_db_t *db, const ac_db_opts_t *o)
{
    AC_DB_OWNER_CHECK(db);
    db->opts.busy_timeout_ms = o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 0;
    db->opts.retry_budget_ms = o->retry_budget_ms > 0 ? o->retry_budget_ms : 0;
    db->opts.retry_initial_ms = o->retry_initial_ms > 1 ? o->retry_initial_ms : 1;
    if (db->h != NULL)
        sqlite3_busy_timeout(db->h, db->opts.busy_timeout_ms);
}

void ac_db_check_thread(const ac_db_t *db, const char *func)
{
    if (db == NULL) {
        ac_log_err("%s: called with a NULL database", func);
        abort();
    }
    if (!pthread_equal(db->owner, pthread_self())) {
        ac_log_err("%s: database connection used outside its owner thread", func);
        abort();
    }
}

static bool is_busy(int rc)
{
    int prim = rc & 0xff;

    return prim == SQLITE_BUSY || prim == SQLITE_LOCKED;
}

static double unix_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* set_state records a change of availability and tells the hook; lost is for good. */
static void set_state(ac_db_t *db, ac_db_state_t st)
{
    if (db->state == st || db->state == AC_DB_LOST)
        return;
    db->state = st;
    db->busy_since = st == AC_DB_BUSY ? unix_now() : 0;
    if (db->hook != NULL)
        db->hook(db->hook_ud, st);
}

void ac_db_set_state_hook(ac_db_t *db, ac_db_state_fn fn, void *ud)
{
    AC_DB_OWNER_CHECK(db);
    db->hook = fn;
    db->hook_ud = ud;
}

ac_db_state_t ac_db_state(const ac_db_t *db)
{
    AC_DB_OWNER_CHECK(db);
    return db->state;
}

double ac_db_busy_since(const ac_db_t *db)
{
    AC_DB_OWNER_CHECK(db);
    return db->state == AC_DB_BUSY ? db->busy_since : 0;
}

const char *ac_db_lost_reason(const ac_db_t *db)
{
    AC_DB_OWNER_CHECK(db);
    return db->lost_reason != NULL ? db->lost_reason : "";
}

bool ac_db_unavailable(int code)
{
    return code == AC_EBUSY || code == AC_ECATALOG;
}

uint64_t ac_db_retry_delay_ms(const ac_db_t *db, uint64_t base_ms)
{
    double busy_ms;

    AC_DB_OWNER_CHECK(db);
    if (db->state != AC_DB_BUSY)
        return base_ms;
    busy_ms = (unix_now() - db->busy_since) * 1000.0;
    if (busy_ms > AC_DB_RETRY_MAX_MS)
        busy_ms = AC_DB_RETRY_MAX_MS;
    return busy_ms > (double)base_ms ? (uint64_t)busy_ms : base_ms;
}

int ac_db_error(ac_db_t *db, int rc, const char *op, ac_err_t *e)
{
    const char *msg;

    AC_DB_OWNER_CHECK(db);
    msg = db->h != NULL ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc);

    if (is_busy(rc)) {
        ac_err_set(e, AC_EBUSY, "%s: %s: database is locked (%s)", db->path, op, msg);
        set_state(db, AC_DB_BUSY);
        return AC_EBUSY;
    }
    if ((rc & 0xff) == SQLITE_FULL) /* a pause, never the file's fault (queue.h) */
        return ac_err_set(e, AC_ENOSPACE, "%s: %s: %s", db->path, op, msg);
    return ac_err_set(e, AC_ESQLITE, "%s: %s: %s", db->path, op, msg);
}

static uint32_t hash_sql(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static int exec_raw(ac_db_t *db, const char *sql, const char *op, ac_err_t *e)
{
    int rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? 0 : ac_db_error(db, rc, op, e);
}

/* Reads one text value from a pragma into buf ("" when it returns no row). */
static int pragma_text(ac_db_t *db, const char *sql, char *buf, size_t size, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    buf[0] = '\0';
    rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return ac_db_error(db, rc, sql, e);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        ac_strlcpy(buf, t != NULL ? (const char *)t : "", size);
        rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE) {
        rc = ac_db_error(db, rc, sql, e);
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    return 0;
}

static int setup_pragmas(ac_db_t *db, ac_err_t *e)
{
    char buf[64];
    int rc;

    sqlite3_busy_timeout(db->h, db->opts.busy_timeout_ms);
    sqlite3_extended_result_codes(db->h, 1);
    if ((rc = exec_raw(db, "PRAGMA foreign_keys=ON", "set foreign_keys", e)) != 0)
        return rc;
    if ((rc = exec_raw(db, "PRAGMA synchronous=FULL", "set synchronous", e)) != 0)
        return rc;
    /* "Fresh" means no schema object at all: a database we are about to lay out. */
    if ((rc = pragma_text(db, "SELECT count(*) FROM sqlite_master", buf, sizeof buf, e)) != 0)
        return rc;
    db->fresh = strcmp(buf, "0") == 0;
    if (db->fresh && !db->opts.read_only) {
        if ((rc = pragma_text(db, "PRAGMA journal_mode=WAL", buf, sizeof buf, e)) != 0)
            return rc;
        if (strcmp(buf, "wal") != 0)
            return ac_err_set(e, AC_ESQLITE, "%s: cannot switch a new database to WAL (%s)",
                              db->path, buf);
        db->wal = true;
    } else {
        if ((rc = pragma_text(db, "PRAGMA journal_mode", buf, sizeof buf, e)) != 0)
            return rc;
        db->wal = strcmp(buf, "wal") == 0;
        if (!db->wal && !db->opts.read_only)
            ac_log_notice("%s: journal mode is %s, not wal; left unchanged", db->path, buf);
    }
    return 0;
}

ac_db_t *ac_db_open(const char *path, const ac_db_opts_t *opts, ac_err_t *e)
{
    ac_db_t *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    int rc;

    db = calloc(1, sizeof *db);
    if (db == NULL)
        goto oom;
    db->owner = pthread_self();
    db->path = strdup(path);
    if (db->path == NULL)
        goto oom;
    if (opts != NULL)
        db->opts = *opts;
    else
        ac_db_opts_default(&db->opts);
    if (db->opts.busy_timeout_ms < 0)
        db->opts.busy_timeout_ms = 0;
    if (db->opts.retry_initial_ms < 1)
        db->opts.retry_initial_ms = 1;
    if (db->opts.create && !db->opts.read_only)
        flags |= SQLITE_OPEN_CREATE;
    if (db->opts.read_only)
        flags = (flags & ~SQLITE_OPEN_READWRITE) | SQLITE_OPEN_READONLY;
    rc = sqlite3_open_v2(path, &db->h, flags, NULL);
    if (rc != SQLITE_OK) {
        ac_db_error(db, rc, "open", e);
        goto fail;
    }
    if (setup_pragmas(db, e) != 0)
        goto fail;
    {
        struct stat st;

        if (stat(path, &st) != 0) {
            ac_err_set(e, AC_ECATALOG, "%s: cannot stat the database just opened: %s", path,
                       strerror(errno));
            goto fail;
        }
        db->dev = st.st_dev;
        db->ino = st.st_ino;
    }
    return db;
oom:
    ac_err_set(e, -ENOMEM, "%s: out of memory opening the database", path);
fail:
    ac_db_close(db);
    return NULL;
}

void ac_db_close(ac_db_t *db)
{
    sqlite3_stmt *st;

    if (db == NULL)
        return;
    AC_DB_OWNER_CHECK(db);
    for (size_t i = 0; i < STMT_BUCKETS; i++) {
        struct stmt_entry *en = db->buckets[i], *next;
        for (; en != NULL; en = next) {
            next = en->next;
            sqlite3_finalize(en->st);
            free(en->sql);
            free(en);
        }
    }
    if (db->h != NULL) {
        /* Statements that were never released (a bug elsewhere) would keep the handle
         * open: finalise whatever is left. */
        while ((st = sqlite3_next_stmt(db->h, NULL)) != NULL)
            sqlite3_finalize(st);
        if (sqlite3_close(db->h) != SQLITE_OK)
            ac_log_err("%s: close: %s", db->path, sqlite3_errmsg(db->h));
    }
    free(db->schema);
    free(db->lost_reason);
    free(db->path);
    free(db);
}

bool ac_db_is_wal(const ac_db_t *db)
{
    return db->wal;
}

bool ac_db_is_fresh(const ac_db_t *db)
{
    AC_DB_OWNER_CHECK(db);
    return db->fresh;
}

const char *ac_db_path(const ac_db_t *db)
{
    AC_DB_OWNER_CHECK(db);
    return db->path;
}

sqlite3 *ac_db_handle(ac_db_t *db)
{
    AC_DB_OWNER_CHECK(db);
    return db->h;
}

bool ac_db_in_transaction(const ac_db_t *db)
{
    AC_DB_OWNER_CHECK(db);
    return db->depth > 0;
}

int ac_db_exec(ac_db_t *db, const char *sql, ac_err_t *e)
{
    AC_DB_OWNER_CHECK(db);
    return exec_raw(db, sql, "exec", e);
}

int ac_db_prepare(ac_db_t *db, const char *sql, sqlite3_stmt **out, ac_err_t *e)
{
    uint32_t h = hash_sql(sql);
    struct stmt_entry *en;
    sqlite3_stmt *st = NULL;
    int rc;

    AC_DB_OWNER_CHECK(db);
    *out = NULL;
    for (en = db->buckets[h % STMT_BUCKETS]; en != NULL; en = en->next) {
        if (en->hash == h && strcmp(en->sql, sql) == 0)
            break;
    }
    if (en != NULL && !en->in_use) {
        en->in_use = true;
        *out = en->st;
        return 0;
    }
    rc = sqlite3_prepare_v3(db->h, sql, -1, en == NULL ? SQLITE_PREPARE_PERSISTENT : 0, &st,
                            NULL);
    if (rc != SQLITE_OK) {
        char op[240];
        snprintf(op, sizeof op, "prepare (in: %.200s)", sql);
        rc = ac_db_error(db, rc, op, e); /* locked schema: AC_EBUSY */
        sqlite3_finalize(st);
        return rc;
    }
    if (en == NULL) {
        en = calloc(1, sizeof *en);
        if (en == NULL || (en->sql = strdup(sql)) == NULL) {
            free(en);
            sqlite3_finalize(st);
            return ac_err_set(e, -ENOMEM, "%s: out of memory caching a statement", db->path);
        }
        en->hash = h;
        en->st = st;
        en->in_use = true;
        en->next = db->buckets[h % STMT_BUCKETS];
        db->buckets[h % STMT_BUCKETS] = en;
    }
    *out = st; /* private statement when en was already in use; finalised by release */
    return 0;
}

void ac_db_release(ac_db_t *db, sqlite3_stmt *st)
{
    const char *sql;
    uint32_t h;

    AC_DB_OWNER_CHECK(db);
    if (st == NULL)
        return;
    sql = sqlite3_sql(st);
    h = hash_sql(sql != NULL ? sql : "");
    for (struct stmt_entry *en = db->buckets[h % STMT_BUCKETS]; en != NULL; en = en->next) {
        if (en->st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            en->in_use = false;
            return;
        }
    }
    sqlite3_finalize(st);
}

int ac_db_step(ac_db_t *db, sqlite3_stmt *st, const char *op, ac_err_t *e)
{
    int rc;

    AC_DB_OWNER_CHECK(db);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return AC_DB_ROW;
    if (rc == SQLITE_DONE)
        return AC_DB_DONE;
    return ac_db_error(db, rc, op, e);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int elapsed_ms(uint64_t start_ns)
{
    return (int)((ac_now_ns() - start_ns) / 1000000u);
}

/* Rolls back the open transaction unless SQLite already did (after some errors it does). */
static void rollback_top(ac_db_t *db)
{
    if (!sqlite3_get_autocommit(db->h)) {
        int rc = sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            ac_log_err("%s: rollback: %s", db->path, sqlite3_errmsg(db->h));
    }
    db->depth = 0;
}

static int run_savepoint(ac_db_t *db, ac_db_txn_fn fn, void *arg, ac_err_t *e)
{
    int rc;

    if ((rc = exec_raw(db, "SAVEPOINT ac_sp", "savepoint", e)) != 0)
        return rc;
    db->depth++;
    rc = fn(db, arg, e);
    db->depth--;
    if (rc == 0)
        return exec_raw(db, "RELEASE ac_sp", "release savepoint", e);
    if (!sqlite3_get_autocommit(db->h)) {
        sqlite3_exec(db->h, "ROLLBACK TO ac_sp", NULL, NULL, NULL);
        sqlite3_exec(db->h, "RELEASE ac_sp", NULL, NULL, NULL);
    } else {
        db->depth = 0; /* SQLite rolled the whole transaction back */
    }
    return rc;
}

/* One attempt: BEGIN IMMEDIATE, body, COMMIT. Returns 0, a busy code (AC_EBUSY, retry),
 * or another error (final). Busy waits inside SQLite are limited to wait_ms. */
static int attempt_txn(ac_db_t *db, ac_db_txn_fn fn, void *arg, int wait_ms, ac_err_t *e)
{
    int rc;

    sqlite3_busy_timeout(db->h, wait_ms);
    rc = sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = ac_db_error(db, rc, "begin transaction", e);
        goto out;
    }
    db->depth = 1;
    rc = fn(db, arg, e);
    if (rc == 0) {
        int src = sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL);
        if (src != SQLITE_OK)
            rc = ac_db_error(db, src, "commit", e);
    }
    if (rc != 0)
        rollback_top(db);
    db->depth = 0;
out:
    sqlite3_busy_timeout(db->h, db->opts.busy_timeout_ms);
    return rc;
}

/* identity_error checks the file at the path against the one opened: 0, or the reason in
 * e (any code; the caller returns AC_ECATALOG). */
static int identity_error(const ac_db_t *db, ac_err_t *e)
{
    struct stat st;

    if (stat(db->path, &st) != 0) {
        if (errno == ENOENT)
            return ac_err_set(e, AC_ECATALOG,
                              "%s: the catalogue was deleted while astrocald had it open: "
                              "nothing more is written to it",
                              db->path);
        return ac_err_set(e, AC_ECATALOG, "%s: cannot check the catalogue: %s", db->path,
                          strerror(errno));
    }
    if (st.st_dev != db->dev || st.st_ino != db->ino)
        return ac_err_set(e, AC_ECATALOG,
                          "%s: the catalogue was replaced by another file (inode %llu, was "
                          "%llu) while astrocald had it open: nothing more is written to it",
                          db->path, (unsigned long long)st.st_ino, (unsigned long long)db->ino);
    return 0;
}

int ac_db_check_identity(ac_db_t *db, ac_err_t *e)
{
    ac_err_t local = {0};

    AC_DB_OWNER_CHECK(db);
    if (db->state == AC_DB_LOST)
        return ac_err_set(e, AC_ECATALOG, "%s", db->lost_reason);
    if (identity_error(db, &local) == 0)
        return 0;
    /* For good: nothing more goes to this file, not even the checkpoint at close, and the
     * -wal and -shm files at the path stay where they are. */
    sqlite3_db_config(db->h, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    db->lost_reason = strdup(local.msg);
    if (db->lost_reason == NULL)
        db->lost_reason = strdup("the catalogue was replaced or deleted");
    set_state(db, AC_DB_LOST);
    return ac_err_set(e, AC_ECATALOG, "%s", local.msg);
}

int ac_db_probe(ac_db_t *db, ac_err_t *e)
{
    int rc;

    AC_DB_OWNER_CHECK(db);
    if (db->depth > 0)
        return ac_err_set(e, -EINVAL, "%s: probe inside a transaction", db->path);
    if ((rc = ac_db_check_identity(db, e)) != 0)
        return rc;
    sqlite3_busy_timeout(db->h, 0);
    rc = sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    sqlite3_busy_timeout(db->h, db->opts.busy_timeout_ms);
    if (rc != SQLITE_OK)
        return ac_db_error(db, rc, "probe the write lock", e);
    rollback_top(db);
    set_state(db, AC_DB_OK);
    return 0;
}

int ac_db_transact(ac_db_t *db, ac_db_txn_fn fn, void *arg, ac_err_t *e)
{
    uint64_t start = ac_now_ns();
    int delay = db->opts.retry_initial_ms;
    int attempts = 0;
    ac_err_t local;
    int rc0;

    AC_DB_OWNER_CHECK(db);
    if (db->depth > 0)
        return run_savepoint(db, fn, arg, e);
    if ((rc0 = ac_db_check_identity(db, e)) != 0)
        return rc0;
    for (;;) {
        int left = db->opts.retry_budget_ms - elapsed_ms(start);
        int wait = db->opts.busy_timeout_ms < left ? db->opts.busy_timeout_ms : left;
        int rc;

        if (db->opts.retry_budget_ms == 0) /* one attempt: SQLite's own short wait only */
            wait = db->opts.busy_timeout_ms;
        if (wait < 0)
            wait = 0;
        ac_err_clear(&local);
        attempts++;
        rc = attempt_txn(db, fn, arg, wait, &local);
        if (rc == 0) {
            set_state(db, AC_DB_OK);
            return 0;
        }
        if (rc != AC_EBUSY) {
            ac_err_set(e, rc, "%s", local.msg);
            return rc;
        }
        left = db->opts.retry_budget_ms - elapsed_ms(start);
        if (db->opts.retry_budget_ms == 0)
            return ac_err_set(e, AC_EBUSY, "%s", local.msg);
        if (left <= 0) {
            return ac_err_set(e, AC_EBUSY, "%s (gave up after %d attempts in %d ms)", local.msg,
                              attempts, elapsed_ms(start));
        }
        /* The last sleep is cut to the budget, then one more attempt is made. */
        ac_log_debug("%s: busy, retrying in %d ms", db->path, delay < left ? delay : left);
        sleep_ms(delay < left ? delay : left);
        if (delay < 1 << 20)
            delay *= 2;
    }
}

int ac_db_data_version(ac_db_t *db, int64_t *out, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    AC_DB_OWNER_CHECK(db);
    if ((rc = ac_db_prepare(db, "PRAGMA data_version", &st, e)) != 0)
        return rc;
    rc = ac_db_step(db, st, "read data_version", e);
    if (rc == AC_DB_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else if (rc == AC_DB_DONE) {
        rc = ac_err_set(e, AC_ESQLITE, "%s: PRAGMA data_version returned nothing", db->path);
    }
    ac_db_release(db, st);
    return rc;
}

int ac_db_changes(ac_db_t *db)
{
    AC_DB_OWNER_CHECK(db);
    return sqlite3_changes(db->h);
}

const struct ac_schema_info *ac_db_schema(const ac_db_t *db)
{
    AC_DB_OWNER_CHECK(db);
    return db->schema;
}

int ac_db_set_schema(ac_db_t *db, const struct ac_schema_info *info)
{
    AC_DB_OWNER_CHECK(db);
    if (db->schema == NULL) {
        db->schema = malloc(sizeof *db->schema);
        if (db->schema == NULL)
            return -ENOMEM;
    }
    *db->schema = *info;
    return 0;
}

double ac_db_parse_number(const char *s)
{
    char *end = NULL;
    double v;

    if (s == NULL)
        return NAN;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0')
        return NAN;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v))
        return NAN;
    while (*end == ' ' || *end == '\t')
        end++;
    return *end == '\0' ? v : NAN;
}

double ac_db_column_number(sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER:
        return (double)sqlite3_column_int64(st, col);
    case SQLITE_FLOAT:
        return sqlite3_column_double(st, col);
    case SQLITE_TEXT:
        return ac_db_parse_number((const char *)sqlite3_column_text(st, col));
    default:
        return NAN;
    }
}

int ac_db_column_int(sqlite3_stmt *st, int col, int def)
{
    double v = ac_db_column_number(st, col);

    if (isnan(v) || v < -2147483648.0 || v > 2147483647.0)
        return def;
    return (int)lround(v);
}

int ac_db_column_dup(sqlite3_stmt *st, int col, char **out)
{
    const unsigned char *t;

    *out = NULL;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return 0;
    t = sqlite3_column_text(st, col);
    if (t == NULL)
        return -ENOMEM; /* not NULL by type, so the conversion failed */
    *out = strdup((const char *)t);
    return *out != NULL ? 0 : -ENOMEM;
}

int ac_db_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    if (s == NULL)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
}

int ac_db_bind_double(sqlite3_stmt *st, int idx, double v)
{
    if (isnan(v))
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_double(st, idx, v);
}

char *ac_db_timestamp(char *buf, size_t size)
{
    return ac_now_format(buf, size, false, ' ', 6);
}
