/*
 * test-db.c - the SQLite connection layer (daemon/catalog/db.c) on real database files in the
 * test's temporary directory: pragmas and journal mode, statement cache, transactions and
 * savepoints, BUSY retry against a second process holding the write lock, data_version,
 * the owner-thread check, the value helpers, and the catalogue's availability (the
 * daemon's short attempts, busy episodes and the probe, a lost catalogue).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "afdb.h"
#include "db.h"
#include "harness.h"
#include "test.h"
#include "util.h"

static long long pragma_int(ac_db_t *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -999;

    ASSERT_OK(ac_db_prepare(db, sql, &st, NULL));
    ASSERT_EQ(ac_db_step(db, st, sql, NULL), AC_DB_ROW);
    v = sqlite3_column_int64(st, 0);
    ac_db_release(db, st);
    return v;
}

static const char *pragma_text(ac_db_t *db, const char *sql, char *buf, size_t size)
{
    sqlite3_stmt *st = NULL;

    ASSERT_OK(ac_db_prepare(db, sql, &st, NULL));
    ASSERT_EQ(ac_db_step(db, st, sql, NULL), AC_DB_ROW);
    ac_strlcpy(buf, (const char *)sqlite3_column_text(st, 0), size);
    ac_db_release(db, st);
    return buf;
}

TEST(db_open_fresh_is_wal_with_pragmas)
{
    ac_err_t e = {0};
    char buf[32];
    ac_db_t *db = ac_db_open("new.db", NULL, &e);

    ASSERT_NOT_NULL(db);
    ASSERT(ac_db_is_fresh(db));
    ASSERT_STR_EQ(pragma_text(db, "PRAGMA journal_mode", buf, sizeof buf), "wal");
    ASSERT_EQ(pragma_int(db, "PRAGMA synchronous"), 2); /* FULL */
    ASSERT_EQ(pragma_int(db, "PRAGMA foreign_keys"), 1);
    ASSERT_EQ(pragma_int(db, "PRAGMA busy_timeout"), 5000);
    ASSERT_STR_EQ(ac_db_path(db), "new.db");
    ac_db_close(db);
}

TEST(db_open_existing_keeps_journal_mode)
{
    sqlite3 *h = NULL;
    ac_err_t e = {0};
    char buf[32];
    ac_db_t *db;

    ASSERT_EQ(sqlite3_open("old.db", &h), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(h, "PRAGMA journal_mode=DELETE; CREATE TABLE t (x)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    db = ac_db_open("old.db", NULL, &e);
    ASSERT_NOT_NULL(db);
    ASSERT(!ac_db_is_fresh(db));
    ASSERT_STR_EQ(pragma_text(db, "PRAGMA journal_mode", buf, sizeof buf), "delete");
    ac_db_close(db);
}

TEST(db_open_missing_without_create_fails)
{
    ac_db_opts_t o;
    ac_err_t e = {0};

    ac_db_opts_default(&o);
    o.create = false;
    ASSERT_NULL(ac_db_open("missing.db", &o, &e));
    ASSERT_EQ(e.code, AC_ESQLITE);
    ASSERT_CONTAINS(e.msg, "missing.db");
    ASSERT_CONTAINS(e.msg, "open");
    ASSERT_EQ(access("missing.db", F_OK), -1);
}

TEST(db_parse_number_quirks)
{
    ASSERT_NEAR(ac_db_parse_number("300"), 300.0, 0);
    ASSERT_NEAR(ac_db_parse_number("300.0"), 300.0, 0);
    ASSERT_NEAR(ac_db_parse_number("-10.1"), -10.1, 1e-12);
    ASSERT_NEAR(ac_db_parse_number(" 5 "), 5.0, 0);
    ASSERT_NEAR(ac_db_parse_number("1e3"), 1000.0, 0);
    ASSERT(isnan(ac_db_parse_number(NULL)));
    ASSERT(isnan(ac_db_parse_number("")));
    ASSERT(isnan(ac_db_parse_number("   ")));
    ASSERT(isnan(ac_db_parse_number("abc")));
    ASSERT(isnan(ac_db_parse_number("300s")));
    ASSERT(isnan(ac_db_parse_number("nan")));
    ASSERT(isnan(ac_db_parse_number("inf")));
}

TEST(db_column_helpers_read_text_numbers)
{
    ac_db_t *db = ac_db_open("c.db", NULL, NULL);
    sqlite3_stmt *st = NULL;
    char *s = NULL;

    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_db_prepare(db, "SELECT '300.0', 300, 2.5, NULL, '1', '', 'x'", &st, NULL));
    ASSERT_EQ(ac_db_step(db, st, "select", NULL), AC_DB_ROW);
    ASSERT_NEAR(ac_db_column_number(st, 0), 300.0, 0);
    ASSERT_NEAR(ac_db_column_number(st, 1), 300.0, 0);
    ASSERT_NEAR(ac_db_column_number(st, 2), 2.5, 0);
    ASSERT(isnan(ac_db_column_number(st, 3)));
    ASSERT_EQ(ac_db_column_int(st, 4, 0), 1);
    ASSERT_EQ(ac_db_column_int(st, 5, -7), -7);
    ASSERT_EQ(ac_db_column_int(st, 6, -7), -7);
    ASSERT_OK(ac_db_column_dup(st, 0, &s));
    ASSERT_STR_EQ(s, "300.0");
    free(s);
    ASSERT_OK(ac_db_column_dup(st, 3, &s));
    ASSERT_NULL(s);
    ac_db_release(db, st);
    ac_db_close(db);
}

static int count_stmts(ac_db_t *db)
{
    int n = 0;

    for (sqlite3_stmt *st = sqlite3_next_stmt(ac_db_handle(db), NULL); st != NULL;
         st = sqlite3_next_stmt(ac_db_handle(db), st))
        n++;
    return n;
}

TEST(db_statement_cache_reuses_and_handles_reentry)
{
    ac_db_t *db = ac_db_open("s.db", NULL, NULL);
    sqlite3_stmt *a = NULL, *b = NULL, *c = NULL;

    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_db_prepare(db, "SELECT 1", &a, NULL));
    ac_db_release(db, a);
    ASSERT_OK(ac_db_prepare(db, "SELECT 1", &b, NULL));
    ASSERT(a == b); /* the cached statement is reused */
    ASSERT_OK(ac_db_prepare(db, "SELECT 1", &c, NULL));
    ASSERT(c != b); /* in use: a private statement */
    ASSERT_EQ(count_stmts(db), 2);
    ac_db_release(db, c);
    ASSERT_EQ(count_stmts(db), 1); /* the private one is finalised */
    ac_db_release(db, b);
    ASSERT_EQ(count_stmts(db), 1); /* the cached one stays prepared */
    ac_err_t e = {0};
    ASSERT_EQ(ac_db_prepare(db, "SELEC nonsense", &a, &e), AC_ESQLITE);
    ASSERT_CONTAINS(e.msg, "syntax error");
    ASSERT_NULL(a);
    ac_db_close(db);
}

static int insert_value(ac_db_t *db, const char *v, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if ((rc = ac_db_prepare(db, "INSERT INTO t (v) VALUES (?1)", &st, e)) != 0)
        return rc;
    ac_db_bind_text(st, 1, v);
    rc = ac_db_step(db, st, "insert", e);
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

static long long count_rows(ac_db_t *db, const char *v)
{
    sqlite3_stmt *st = NULL;
    long long n;

    ASSERT_OK(ac_db_prepare(db, "SELECT COUNT(*) FROM t WHERE v = ?1", &st, NULL));
    ac_db_bind_text(st, 1, v);
    ASSERT_EQ(ac_db_step(db, st, "count", NULL), AC_DB_ROW);
    n = sqlite3_column_int64(st, 0);
    ac_db_release(db, st);
    return n;
}

static int body_ok(ac_db_t *db, void *arg, ac_err_t *e)
{
    ASSERT(ac_db_in_transaction(db));
    return insert_value(db, arg, e);
}

static int body_fail(ac_db_t *db, void *arg, ac_err_t *e)
{
    int rc = insert_value(db, arg, e);

    return rc != 0 ? rc : ac_err_set(e, -EIO, "body failed on purpose");
}

static ac_db_t *open_with_table(const char *path, const ac_db_opts_t *o)
{
    ac_db_t *db = ac_db_open(path, o, NULL);

    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_db_exec(db, "CREATE TABLE IF NOT EXISTS t (v TEXT)", NULL));
    return db;
}

TEST(db_transact_commits_or_rolls_back)
{
    ac_db_t *db = open_with_table("t.db", NULL);
    ac_err_t e = {0};

    ASSERT_OK(ac_db_transact(db, body_ok, "a", NULL));
    ASSERT(!ac_db_in_transaction(db));
    ASSERT_EQ(count_rows(db, "a"), 1);
    ASSERT_EQ(ac_db_transact(db, body_fail, "b", &e), -EIO);
    ASSERT_STR_EQ(e.msg, "body failed on purpose");
    ASSERT_EQ(count_rows(db, "b"), 0);
    ASSERT(!ac_db_in_transaction(db));
    ac_db_close(db);
}

static int body_nested(ac_db_t *db, void *arg, ac_err_t *e)
{
    ac_err_t inner = {0};
    int rc;

    if ((rc = insert_value(db, "outer1", e)) != 0)
        return rc;
    rc = ac_db_transact(db, body_fail, "inner", &inner);
    ASSERT_EQ(rc, -EIO);              /* the inner failure is reported... */
    ASSERT(ac_db_in_transaction(db)); /* ...and the outer transaction goes on */
    if ((rc = ac_db_transact(db, body_ok, "inner_ok", e)) != 0)
        return rc;
    return insert_value(db, "outer2", e);
}

TEST(db_transact_nested_uses_savepoints)
{
    ac_db_t *db = open_with_table("n.db", NULL);

    ASSERT_OK(ac_db_transact(db, body_nested, NULL, NULL));
    ASSERT_EQ(count_rows(db, "outer1"), 1);
    ASSERT_EQ(count_rows(db, "inner"), 0);
    ASSERT_EQ(count_rows(db, "inner_ok"), 1);
    ASSERT_EQ(count_rows(db, "outer2"), 1);
    ac_db_close(db);
}

/* Forks a process that runs begin on path (taking a lock), tells us, holds it ms,
 * commits. */
static pid_t hold_lock(const char *path, const char *begin, int ms)
{
    int p[2];
    char c = 0;
    pid_t pid;

    ASSERT_OK(pipe(p));
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        sqlite3 *h = NULL;
        close(p[0]);
        if (sqlite3_open(path, &h) != SQLITE_OK ||
            sqlite3_exec(h, begin, NULL, NULL, NULL) != SQLITE_OK)
            _exit(2);
        if (write(p[1], "x", 1) != 1)
            _exit(3);
        usleep((useconds_t)ms * 1000);
        sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(h);
        _exit(0);
    }
    close(p[1]);
    ASSERT_EQ(read(p[0], &c, 1), 1);
    close(p[0]);
    return pid;
}

/* Forks a process that takes the write lock on path, tells us, holds it ms, commits. */
static pid_t hold_write_lock(const char *path, int ms)
{
    return hold_lock(path, "BEGIN IMMEDIATE; INSERT INTO t (v) VALUES ('other')", ms);
}

static void wait_ok(pid_t pid)
{
    int status = 0;

    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(db_busy_retry_with_backoff_succeeds)
{
    ac_db_opts_t o;
    ac_db_t *db;
    uint64_t t0;
    pid_t pid;
    int ms;

    ac_db_opts_default(&o);
    o.busy_timeout_ms = 0; /* only our back-off retries: 50, 100, 200 ms... */
    o.retry_budget_ms = 3000;
    db = open_with_table("b.db", &o);
    pid = hold_write_lock("b.db", 200);
    t0 = ac_now_ns();
    ASSERT_OK(ac_db_transact(db, body_ok, "mine", NULL));
    ms = (int)((ac_now_ns() - t0) / 1000000u);
    ASSERT(ms >= 150); /* it had to wait for the other writer... */
    ASSERT(ms < 2500); /* ...but not for the whole budget */
    wait_ok(pid);
    ASSERT_EQ(count_rows(db, "mine"), 1);
    ASSERT_EQ(count_rows(db, "other"), 1);
    ac_db_close(db);
}

TEST(db_busy_sqlite_handler_waits_within_budget)
{
    ac_db_t *db = open_with_table("h.db", NULL); /* defaults: 5 s busy timeout */
    uint64_t t0;
    pid_t pid;
    int ms;

    pid = hold_write_lock("h.db", 200);
    t0 = ac_now_ns();
    ASSERT_OK(ac_db_transact(db, body_ok, "mine", NULL));
    ms = (int)((ac_now_ns() - t0) / 1000000u);
    ASSERT(ms >= 150);
    wait_ok(pid);
    ASSERT_EQ(count_rows(db, "mine"), 1);
    ac_db_close(db);
}

TEST(db_busy_longer_than_budget_is_ebusy)
{
    ac_db_opts_t o;
    ac_err_t e = {0};
    ac_db_t *db;
    uint64_t t0;
    pid_t pid;
    int ms;

    ac_db_opts_default(&o);
    o.busy_timeout_ms = 100;
    o.retry_budget_ms = 400;
    db = open_with_table("x.db", &o);
    pid = hold_write_lock("x.db", 1200);
    t0 = ac_now_ns();
    ASSERT_EQ(ac_db_transact(db, body_ok, "mine", &e), AC_EBUSY);
    ms = (int)((ac_now_ns() - t0) / 1000000u);
    ASSERT(ms >= 350); /* the budget was used... */
    ASSERT(ms < 1000); /* ...and not much more: the loop thread is not held */
    ASSERT_CONTAINS(e.msg, "locked");
    ASSERT_CONTAINS(e.msg, "x.db");
    ASSERT(!ac_db_in_transaction(db));
    wait_ok(pid);
    ASSERT_EQ(count_rows(db, "mine"), 0);
    ac_db_close(db);
}

TEST(db_data_version_sees_other_connections_only)
{
    ac_db_t *db = open_with_table("d.db", NULL);
    sqlite3 *other = NULL;
    int64_t v0 = 0, v1 = 0, v2 = 0;

    ASSERT_OK(ac_db_data_version(db, &v0, NULL));
    ASSERT_OK(ac_db_transact(db, body_ok, "own", NULL));
    ASSERT_OK(ac_db_data_version(db, &v1, NULL));
    ASSERT_EQ(v1, v0); /* our own commit does not count */
    ASSERT_EQ(sqlite3_open("d.db", &other), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(other, "INSERT INTO t (v) VALUES ('theirs')", NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(other);
    ASSERT_OK(ac_db_data_version(db, &v2, NULL));
    ASSERT_NE(v2, v1);
    ac_db_close(db);
}

static void *use_from_other_thread(void *arg)
{
    ac_db_exec(arg, "SELECT 1", NULL);
    return NULL;
}

TEST(db_use_from_another_thread_aborts)
{
    int status = 0;
    pid_t pid = fork();

    ASSERT(pid >= 0);
    if (pid == 0) {
        ac_db_t *db = ac_db_open("th.db", NULL, NULL);
        pthread_t th;
        if (db == NULL || pthread_create(&th, NULL, use_from_other_thread, db) != 0)
            _exit(2);
        pthread_join(th, NULL);
        _exit(0); /* not reached when the check works */
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGABRT);
}

TEST(db_timestamp_is_astrofiler_format)
{
    char ts[32];

    ac_db_timestamp(ts, sizeof ts);
    ASSERT_EQ(strlen(ts), 26);
    for (int i = 0; i < 26; i++) {
        if (i == 4 || i == 7)
            ASSERT(ts[i] == '-');
        else if (i == 10)
            ASSERT(ts[i] == ' ');
        else if (i == 13 || i == 16)
            ASSERT(ts[i] == ':');
        else if (i == 19)
            ASSERT(ts[i] == '.');
        else
            ASSERT(ts[i] >= '0' && ts[i] <= '9');
    }
}

TEST(db_replaced_or_deleted_catalogue_refuses_writes)
{
    ac_err_t e = {0};
    ac_db_t *db = open_with_table("t.db", NULL);
    FILE *f;

    ASSERT_OK(ac_db_check_identity(db, &e));
    ASSERT_OK(ac_db_transact(db, body_ok, NULL, &e));
    /* `mv new.db t.db`: the path names another file; nothing may go to the orphan. */
    f = fopen("new.db", "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    ASSERT_OK(rename("new.db", "t.db"));
    ASSERT_EQ(ac_db_check_identity(db, &e), AC_ECATALOG);
    ASSERT_CONTAINS(e.msg, "replaced");
    memset(&e, 0, sizeof e);
    ASSERT_EQ(ac_db_transact(db, body_ok, NULL, &e), AC_ECATALOG);
    ac_db_close(db);
    /* Deleted. */
    db = open_with_table("u.db", NULL);
    ASSERT_OK(unlink("u.db"));
    memset(&e, 0, sizeof e);
    ASSERT_EQ(ac_db_transact(db, body_ok, NULL, &e), AC_ECATALOG);
    ASSERT_CONTAINS(e.msg, "deleted");
    ac_db_close(db);
}

/* ---- availability: busy, probe, lost ---- */

struct states {
    int n;
    ac_db_state_t seen[8];
};

static void note_state(void *ud, ac_db_state_t st)
{
    struct states *s = ud;

    if (s->n < 8)
        s->seen[s->n] = st;
    s->n++;
}

static int ms_since(uint64_t t0)
{
    return (int)((ac_now_ns() - t0) / 1000000u);
}

/* The daemon's options: SQLite's own short wait, no retry loop. */
static ac_db_t *open_short(const char *path, struct states *seen)
{
    ac_db_opts_t o;
    ac_db_t *db;

    ac_db_opts_default(&o);
    db = open_with_table(path, &o);
    o.busy_timeout_ms = 10;
    o.retry_budget_ms = 0;
    ac_db_set_opts(db, &o);
    ASSERT_EQ(pragma_int(db, "PRAGMA busy_timeout"), 10);
    ac_db_set_state_hook(db, note_state, seen);
    return db;
}

TEST(db_short_attempt_refuses_at_once_and_probe_clears_busy)
{
    struct states seen = {0};
    ac_db_t *db = open_short("b.db", &seen);
    ac_err_t e = {0};
    uint64_t t0;
    double now = (double)time(NULL);
    pid_t pid;

    ASSERT_EQ(ac_db_state(db), AC_DB_OK);
    ASSERT_EQ(ac_db_busy_since(db), 0);
    ASSERT_EQ(ac_db_retry_delay_ms(db, 100), 100);
    pid = hold_write_lock("b.db", 1500);
    t0 = ac_now_ns();
    ASSERT_EQ(ac_db_transact(db, body_ok, "mine", &e), AC_EBUSY);
    ASSERT(ms_since(t0) < 500); /* one short attempt, no waiting for the 1.5 s lock */
    ASSERT_CONTAINS(e.msg, "locked");
    ASSERT(ac_db_unavailable(e.code));
    ASSERT_EQ(ac_db_state(db), AC_DB_BUSY);
    ASSERT_EQ(seen.n, 1);
    ASSERT_EQ(seen.seen[0], AC_DB_BUSY);
    ASSERT(ac_db_busy_since(db) >= now - 1 && ac_db_busy_since(db) <= now + 2);
    /* Refused again: still one episode. The probe does not wait either. */
    ASSERT_EQ(ac_db_transact(db, body_ok, "mine", NULL), AC_EBUSY);
    t0 = ac_now_ns();
    ASSERT_EQ(ac_db_probe(db, NULL), AC_EBUSY);
    ASSERT(ms_since(t0) < 200);
    ASSERT_EQ(seen.n, 1);
    /* The delay before a retry grows with the episode. */
    usleep(300000);
    ASSERT(ac_db_retry_delay_ms(db, 50) >= 250);
    ASSERT(ac_db_retry_delay_ms(db, 50) <= AC_DB_RETRY_MAX_MS);
    ASSERT(ac_db_retry_delay_ms(db, 5000) == 5000);
    wait_ok(pid);
    ASSERT_OK(ac_db_probe(db, &e));
    ASSERT_EQ(ac_db_state(db), AC_DB_OK);
    ASSERT_EQ(ac_db_busy_since(db), 0);
    ASSERT_EQ(seen.n, 2);
    ASSERT_EQ(seen.seen[1], AC_DB_OK);
    ASSERT_EQ(count_rows(db, "mine"), 0);
    ASSERT_EQ(count_rows(db, "other"), 1);
    ac_db_close(db);
}

TEST(db_commit_ends_a_busy_episode)
{
    struct states seen = {0};
    ac_db_t *db = open_short("c.db", &seen);
    pid_t pid = hold_write_lock("c.db", 300);

    ASSERT_EQ(ac_db_transact(db, body_ok, "early", NULL), AC_EBUSY);
    ASSERT_EQ(ac_db_state(db), AC_DB_BUSY);
    wait_ok(pid);
    ASSERT_OK(ac_db_transact(db, body_ok, "late", NULL));
    ASSERT_EQ(ac_db_state(db), AC_DB_OK);
    ASSERT_EQ(seen.n, 2);
    ASSERT_EQ(seen.seen[0], AC_DB_BUSY);
    ASSERT_EQ(seen.seen[1], AC_DB_OK);
    ASSERT_EQ(count_rows(db, "late"), 1);
    ac_db_close(db);
}

TEST(db_probe_writes_nothing)
{
    struct states seen = {0};
    ac_db_t *db = open_short("p.db", &seen);
    sqlite3 *other = NULL;
    long long v0, v1;

    ASSERT_EQ(sqlite3_open("p.db", &other), SQLITE_OK);
    v0 = afdb_int(other, "PRAGMA data_version", NULL, -1);
    ASSERT_OK(ac_db_probe(db, NULL));
    ASSERT_OK(ac_db_probe(db, NULL));
    v1 = afdb_int(other, "PRAGMA data_version", NULL, -1);
    ASSERT_EQ(v1, v0); /* no commit by anybody else */
    ASSERT_EQ(seen.n, 0);
    sqlite3_close(other);
    ac_db_close(db);
}

TEST(db_rollback_journal_read_refused_while_locked)
{
    struct states seen = {0};
    sqlite3 *h = NULL;
    ac_db_t *db;
    ac_err_t e = {0};
    sqlite3_stmt *st = NULL;
    uint64_t t0;
    pid_t pid;

    ASSERT_EQ(sqlite3_open("r.db", &h), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(h, "PRAGMA journal_mode=DELETE; CREATE TABLE t (v TEXT)", NULL, NULL,
                           NULL),
              SQLITE_OK);
    sqlite3_close(h);
    db = open_short("r.db", &seen);
    ASSERT_EQ(count_rows(db, "x"), 0);
    /* Another program locks the file exclusively (a rollback journal: readers wait too). */
    pid = hold_lock("r.db", "BEGIN EXCLUSIVE; INSERT INTO t (v) VALUES ('x')", 1000);
    t0 = ac_now_ns();
    ASSERT_OK(ac_db_prepare(db, "SELECT count(*) FROM t WHERE v = ?1", &st, NULL));
    ASSERT_EQ(ac_db_step(db, st, "count", &e), AC_EBUSY);
    ac_db_release(db, st);
    ASSERT(ms_since(t0) < 500);
    ASSERT_CONTAINS(e.msg, "locked");
    ASSERT_EQ(ac_db_state(db), AC_DB_BUSY);
    ASSERT_EQ(seen.n, 1);
    wait_ok(pid);
    ASSERT_EQ(count_rows(db, "x"), 1);      /* reads work again... */
    ASSERT_EQ(ac_db_state(db), AC_DB_BUSY); /* ...but only a write or a probe says OK */
    ASSERT_OK(ac_db_probe(db, NULL));
    ASSERT_EQ(ac_db_state(db), AC_DB_OK);
    ac_db_close(db);
}

static off_t file_size(const char *path)
{
    struct stat st;

    ASSERT_OK(stat(path, &st));
    return st.st_size;
}

TEST(db_lost_catalogue_is_for_good_and_close_leaves_its_files)
{
    struct states seen = {0};
    ac_db_t *db = open_short("t.db", &seen);
    ac_err_t e = {0};
    char *newdb, *wal, *now;
    off_t newdb_n, wal_n;
    sqlite3 *h = NULL;

    ASSERT_OK(ac_db_transact(db, body_ok, "before", NULL)); /* frames in t.db-wal */
    ASSERT_EQ(access("t.db-wal", F_OK), 0);
    /* A restore: another database is moved over it. */
    ASSERT_EQ(sqlite3_open("new.db", &h), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(h, "CREATE TABLE restored (x); INSERT INTO restored VALUES (1)",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(h);
    ASSERT_OK(link("t.db", "old.db")); /* keep the orphan reachable */
    ASSERT_OK(rename("new.db", "t.db"));
    newdb = ac_harness_read_file("t.db");
    newdb_n = file_size("t.db");
    wal = ac_harness_read_file("t.db-wal");
    wal_n = file_size("t.db-wal");
    ASSERT_EQ(ac_db_transact(db, body_ok, "after", &e), AC_ECATALOG);
    ASSERT_CONTAINS(e.msg, "replaced");
    ASSERT_EQ(ac_db_state(db), AC_DB_LOST);
    ASSERT_CONTAINS(ac_db_lost_reason(db), "replaced");
    ASSERT_EQ(seen.n, 1);
    ASSERT_EQ(seen.seen[0], AC_DB_LOST);
    ASSERT(ac_db_unavailable(e.code));
    /* For good: the original back at its path changes nothing. */
    ASSERT_OK(rename("t.db", "restored.db"));
    ASSERT_OK(link("old.db", "t.db"));
    memset(&e, 0, sizeof e);
    ASSERT_EQ(ac_db_check_identity(db, &e), AC_ECATALOG);
    ASSERT_EQ(ac_db_transact(db, body_ok, "after", NULL), AC_ECATALOG);
    ASSERT_EQ(ac_db_probe(db, NULL), AC_ECATALOG);
    ASSERT_EQ(ac_db_state(db), AC_DB_LOST);
    ASSERT_EQ(seen.n, 1);
    ASSERT_OK(unlink("t.db"));
    ASSERT_OK(rename("restored.db", "t.db"));
    /* Reads still see the file opened. */
    ASSERT_EQ(count_rows(db, "before"), 1);
    ac_db_close(db);
    /* Closing neither checkpointed into a file nor deleted the -wal beside the new one. */
    ASSERT_EQ(file_size("t.db"), newdb_n);
    now = ac_harness_read_file("t.db");
    ASSERT(memcmp(now, newdb, (size_t)newdb_n) == 0);
    free(now);
    ASSERT_EQ(file_size("t.db-wal"), wal_n);
    now = ac_harness_read_file("t.db-wal");
    ASSERT(memcmp(now, wal, (size_t)wal_n) == 0);
    free(now);
    free(newdb);
    free(wal);
}
