/*
 * test-catalogue.c - the real daemon when its catalogue is not simply there (issue 8, items
 * 3 and 4): another program holds the catalogue's lock for seconds (in WAL mode, and in a
 * rollback-journal catalogue where even reads wait), the catalogue is replaced by `mv`
 * while the daemon runs, or deleted (while it runs, and while it is stopped).
 *
 * The lock is held by this test process through its own SQLite connection; the daemon is
 * another process. Lights are registered with `astrocalctl import`, so the daemon's own
 * import path writes the catalogue.
 */
#include <sqlite3.h>
#include <sys/time.h>

#include "afdb.h"
#include "fitsgen.h"
#include "harness.h"
#include "support.h"

/* The status latency target (bench/daemon.md: p99 under 50 ms); the sanitizers' builds
 * are several times slower at everything, so they get more. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STATUS_LIMIT_MS 250
#else
#define STATUS_LIMIT_MS 50
#endif

/* make_lights writes a night of n lights (w x h) with AstroFiler masters under night/. */
static ac_gen_t *make_lights(int n, int w, int h)
{
    ac_gen_camera_t cam;
    ac_gen_night_t gn;
    ac_err_t e = {0};
    ac_gen_t *g;

    ac_gen_camera_default(&cam, 5);
    cam.width = w;
    cam.height = h;
    g = ac_gen_new(&cam, &e);
    ASSERT_NOT_NULL(g);
    ac_gen_night_default(&gn, &cam);
    gn.n_lights = n;
    if (ac_gen_write_night(g, &gn, "night", &e) != 0)
        AC_TEST_FAIL("night: %s", e.msg);
    return g;
}

/* import_night registers night/ through astrocalctl import. */
static void import_night(ac_harness_t *h, int n)
{
    char dir[1200], want[64], *out = NULL;

    snprintf(dir, sizeof dir, "%s/night", ac_test_tmpdir());
    ASSERT_EQ(ac_harness_ctl(h, &out, NULL, "--json", "import", dir, NULL), 0);
    snprintf(want, sizeof want, "\"registered\":%d", n);
    ASSERT_CONTAINS(out, want);
    free(out);
}

/* status asks for `status` on one connection kept for the whole run of a daemon
 * (status_close before a restart): a connection per request would make descriptor numbers
 * churn while files are written, which ThreadSanitizer, blind to the raw close(2) system
 * calls of an uninstrumented libuv, reports as races. Returns the result (owned). */
static FILE *status_conn;

static json_t *status(ac_harness_t *h)
{
    static const char req[] = "{\"v\":1,\"id\":1,\"cmd\":\"status\"}\n";
    char *line = NULL;
    size_t cap = 0;
    json_t *reply, *r;

    if (status_conn == NULL) {
        struct timeval tv = {10, 0};
        int fd = ac_harness_connect(h->socket);
        ASSERT(fd >= 0);
        ASSERT_OK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
        status_conn = fdopen(fd, "r");
        ASSERT_NOT_NULL(status_conn);
    }
    ASSERT_EQ(send(fileno(status_conn), req, sizeof req - 1, MSG_NOSIGNAL),
              (ssize_t)(sizeof req - 1));
    if (getline(&line, &cap, status_conn) <= 0)
        AC_TEST_FAIL("status: no reply (%s)",
                     feof(status_conn) ? "connection closed" : strerror(errno));
    reply = json_loads(line, 0, NULL);
    free(line);
    r = json_incref(ac_harness_result(reply));
    json_decref(reply);
    return r;
}

static void status_close(void)
{
    if (status_conn != NULL)
        fclose(status_conn);
    status_conn = NULL;
}

static long long done_files(json_t *st)
{
    return json_integer_value(json_object_get(json_object_get(st, "files"), "done"));
}

/* wait_done polls status until at least n files are done; returns the status (owned). */
static json_t *wait_done(ac_harness_t *h, long long n, int timeout_ms)
{
    long long t0 = ac_harness_now_ms();

    for (;;) {
        json_t *st = status(h);
        if (done_files(st) >= n)
            return st;
        json_decref(st);
        if (ac_harness_now_ms() - t0 > timeout_ms) {
            ac_harness_dump_log(h);
            AC_TEST_FAIL("fewer than %lld files done after %d ms", n, timeout_ms);
        }
        ac_harness_notify_poll(h, 20); /* drained: a full notify queue blocks the daemon */
    }
}

static const char *catalogue_field(json_t *st, const char *key)
{
    return json_string_value(json_object_get(json_object_get(st, "catalogue"), key));
}

/* count_lines counts the lines of text that contain both a and b (b may be NULL). */
static int count_lines(const char *text, const char *a, const char *b)
{
    int n = 0;

    for (const char *p = text; *p != '\0';) {
        const char *end = strchr(p, '\n');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char *line = strndup(p, len);
        n += strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL);
        free(line);
        p += len + (end != NULL);
    }
    return n;
}

/* assert_exactly_once checks that each of the n lights has exactly one calibrated row. */
static void assert_exactly_once(ac_harness_t *h, int n)
{
    sqlite3 *db = NULL;

    ASSERT_EQ(sqlite3_open_v2(h->database, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM fitsfile WHERE fitsFileOriginalFile IS NOT NULL",
                       NULL, -1),
              n);
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(DISTINCT fitsFileOriginalFile) FROM fitsfile WHERE "
                       "fitsFileOriginalFile IS NOT NULL",
                       NULL, -1),
              n);
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM fitsfile WHERE fitsFileCalibrated = 1 AND "
                       "fitsFileOriginalFile IS NULL",
                       NULL, -1),
              n); /* every raw light marked */
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_record", NULL, -1), n);
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_file WHERE state = 'done'", NULL, -1),
              n);
    sqlite3_close(db);
}

/* lock_test: n lights are being calibrated when another program takes the catalogue's
 * lock (BEGIN EXCLUSIVE) and holds it for about 3 s, longer if a file is still running. */
static void lock_test(const char *journal_mode)
{
    ac_harness_t h;
    ac_gen_t *g;
    sqlite3 *other = NULL;
    long long t0, worst = 0, nreq = 0, nslow = 0, busy_seen = 0, in_flight_at_lock;
    char *out = NULL, *log;
    json_t *st, *r;
    const int n = 12;

    ac_harness_init(&h);
    g = make_lights(n, 1024, 768);
    other = afdb_create(h.database, AFDB_MIGRATED);
    if (strcmp(journal_mode, "wal") != 0)
        afdb_exec(other, "PRAGMA journal_mode=DELETE");
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){"WORKERS.workers=1", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    import_night(&h, n);
    json_decref(wait_done(&h, 1, 60000));

    /* Another program takes the lock while the next file is being calibrated. */
    ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    t0 = ac_harness_now_ms();
    st = status(&h);
    in_flight_at_lock = json_integer_value(json_object_get(st, "in_flight"));
    printf("%s: %lld done, %lld in flight when the lock was taken\n", journal_mode,
           done_files(st), in_flight_at_lock);
    json_decref(st);
    while (ac_harness_now_ms() - t0 < 3000 ||
           (busy_seen == 0 && ac_harness_now_ms() - t0 < 20000)) {
        long long q0 = ac_harness_now_ms(), ms;
        st = status(&h);
        ms = ac_harness_now_ms() - q0;
        worst = ms > worst ? ms : worst;
        nslow += ms >= STATUS_LIMIT_MS;
        nreq++;
        if (catalogue_field(st, "state") != NULL &&
            strcmp(catalogue_field(st, "state"), "busy") == 0) {
            busy_seen++;
            ASSERT_EQ(strlen(catalogue_field(st, "busy_since")), 8); /* HH:MM:SS */
            ASSERT_CONTAINS(catalogue_field(st, "message"), "catalogue busy since ");
            ASSERT(json_is_object(json_object_get(st, "files"))); /* from memory if need be */
        }
        json_decref(st);
        ac_harness_notify_poll(&h, 50); /* drained: a full notify queue blocks the daemon */
    }
    printf("%s: %lld status requests during the lock, %lld of them %d ms or more, the "
           "slowest %lld ms, %lld said busy\n",
           journal_mode, nreq, nslow, STATUS_LIMIT_MS, worst, busy_seen);
    /* Within the target, but for one answer in this many (a machine shared with other
     * work); the daemon's loop never waits for the 5 s busy timeout it used to. */
    ASSERT(nslow <= 1);
    ASSERT(worst < 4 * STATUS_LIMIT_MS);
    ASSERT(busy_seen > 0);
    /* Other commands answer at once too: version from memory, a change with `busy`. */
    t0 = ac_harness_now_ms();
    json_decref(ac_harness_result(ac_harness_request(&h, "version", NULL, 5000)));
    r = ac_harness_request(&h, "retry", json_pack("{s:b}", "all_failed", 1), 5000);
    ASSERT_NOT_NULL(r);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
                  "busy");
    json_decref(r);
    ASSERT(ac_harness_now_ms() - t0 < 4 * STATUS_LIMIT_MS);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "status", NULL), 0);
    ASSERT_CONTAINS(out, "catalogue busy since ");
    free(out);
    for (t0 = ac_harness_now_ms(); ac_harness_now_ms() - t0 < 3000;) { /* once a second */
        const char *sd = ac_harness_notify_last(&h, "STATUS=");
        if (sd != NULL && strstr(sd, "catalogue busy since ") != NULL)
            break;
        ac_harness_notify_poll(&h, 100);
    }
    ASSERT_CONTAINS(ac_harness_notify_last(&h, "STATUS="), "catalogue busy since ");
    ASSERT_EQ(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);

    /* The lock is gone: the work completes, every light exactly once. */
    st = wait_done(&h, n, 120000);
    ASSERT_STR_EQ(catalogue_field(st, "state"), "ok");
    ASSERT(json_is_null(json_object_get(json_object_get(st, "catalogue"), "busy_since")));
    json_decref(st);
    status_close();
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    assert_exactly_once(&h, n);
    log = ac_harness_read_file(h.log_path);
    ASSERT(count_lines(log, "catalogue busy since", NULL) >= 1);
    ASSERT(count_lines(log, "catalogue available again", NULL) >= 1);
    ASSERT_EQ(count_lines(log, "<3>", NULL), 0);     /* no error... */
    ASSERT_EQ(count_lines(log, "<4>", "locked"), 0); /* ...nor warning about the lock */
    ASSERT(count_lines(log, "catalogue busy since", NULL) <= 3); /* one per episode */
    free(log);
    ac_gen_free(g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(catalogue_locked_wal_status_answers_and_work_completes, 240)
{
    lock_test("wal");
}

TEST_TIMEOUT(catalogue_locked_rollback_journal_status_from_memory, 240)
{
    lock_test("delete");
}

/* A file's bytes, to show that nothing wrote to it. */
struct snapshot {
    const char *path;
    char *bytes;
    off_t n;
};

static off_t file_size(const char *path)
{
    struct stat st;

    ASSERT_OK(stat(path, &st));
    return st.st_size;
}

static void snap(struct snapshot *s, const char *path)
{
    s->path = path;
    s->n = file_size(path);
    s->bytes = ac_harness_read_file(path);
}

static void assert_unchanged(struct snapshot *s)
{
    char *now = ac_harness_read_file(s->path);

    ASSERT_EQ(file_size(s->path), s->n);
    ASSERT(memcmp(now, s->bytes, (size_t)s->n) == 0);
    free(now);
    free(s->bytes);
}

/* wait_paused polls status until the queue is paused; returns the status (owned). */
static json_t *wait_paused(ac_harness_t *h, int timeout_ms)
{
    long long t0 = ac_harness_now_ms();

    for (;;) {
        json_t *st = status(h);
        if (strcmp(json_string_value(json_object_get(st, "state")), "paused") == 0)
            return st;
        json_decref(st);
        if (ac_harness_now_ms() - t0 > timeout_ms) {
            ac_harness_dump_log(h);
            AC_TEST_FAIL("not paused after %d ms", timeout_ms);
        }
        ac_harness_notify_poll(h, 50);
    }
}

TEST_TIMEOUT(catalogue_replaced_pauses_and_writes_nothing, 180)
{
    ac_harness_t h;
    ac_gen_t *g;
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *b;
    struct snapshot newdb, oldwal, olddb;
    char wal[1200], *log, *err = NULL;
    const char *reason;
    json_t *st, *r;

    ac_harness_init(&h);
    g = make_lights(2, 64, 48);
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    ASSERT_OK(ac_harness_start(&h, NULL)); /* first start: creates the catalogue */
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    import_night(&h, 2);
    json_decref(wait_done(&h, 2, 60000));
    /* A restore: a copy of the catalogue is moved over it (its -wal stays the old one's). */
    ASSERT_EQ(sqlite3_open(h.database, &src), SQLITE_OK);
    ASSERT_EQ(sqlite3_open("restored.db", &dst), SQLITE_OK);
    b = sqlite3_backup_init(dst, "main", src, "main");
    ASSERT_NOT_NULL(b);
    ASSERT_EQ(sqlite3_backup_step(b, -1), SQLITE_DONE);
    sqlite3_backup_finish(b);
    sqlite3_close(dst);
    sqlite3_close(src);
    ASSERT_OK(link(h.database, "orphan.db"));
    ASSERT_OK(rename("restored.db", h.database));
    snprintf(wal, sizeof wal, "%s-wal", h.database);
    snap(&newdb, h.database);
    snap(&oldwal, wal);
    snap(&olddb, "orphan.db");

    /* The timer notices: paused, with the reason, in status and STATUS=. */
    st = wait_paused(&h, 10000);
    reason = json_string_value(json_object_get(st, "pause_reason"));
    ASSERT_CONTAINS(reason, "replaced");
    ASSERT_CONTAINS(reason, "restart astrocald once the catalogue is back");
    ASSERT_STR_EQ(catalogue_field(st, "state"), "lost");
    json_decref(st);
    ASSERT_CONTAINS(ac_harness_notify_last(&h, "STATUS="), "replaced");
    /* It keeps answering; what would write is refused with the reason. */
    json_decref(ac_harness_result(ac_harness_request(&h, "sessions", NULL, 5000)));
    r = ac_harness_request(&h, "retry", json_pack("{s:b}", "all_failed", 1), 5000);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
                  "conflict");
    json_decref(r);
    ASSERT_EQ(ac_harness_ctl(&h, NULL, &err, "resume", NULL), 1);
    ASSERT_CONTAINS(err, "restart astrocald");
    free(err);
    for (long long t0 = ac_harness_now_ms(); ac_harness_now_ms() - t0 < 2500;)
        ac_harness_notify_poll(&h, 100); /* another identity check and status period */
    status_close();
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    /* Nothing was written to the new file, the old one, or the -wal beside them, not even
     * at close; the error was logged once. */
    assert_unchanged(&newdb);
    assert_unchanged(&oldwal);
    assert_unchanged(&olddb);
    log = ac_harness_read_file(h.log_path);
    ASSERT_EQ(count_lines(log, "<3>", NULL), 1);
    ASSERT_EQ(count_lines(log, "<3>", "replaced by another file"), 1);
    free(log);
    ac_gen_free(g);
    ac_harness_free(&h);
}

/* restart starts the daemon (args) again; READY=1 of earlier runs is forgotten. */
static void restart(ac_harness_t *h, const char *const *args)
{
    status_close();
    for (size_t i = 0; i < h->nnotify; i++)
        free(h->notify[i]);
    h->nnotify = 0;
    ASSERT_OK(ac_harness_start(h, args));
}

/* start_expect_exit starts the daemon (args) and expects it to exit with code. */
static void start_expect_exit(ac_harness_t *h, const char *const *args, int code)
{
    restart(h, args);
    ASSERT_EQ(ac_harness_wait(h, h->pid, 20000, &h->status), code);
    h->pid = -1;
}

TEST_TIMEOUT(catalogue_deleted_restart_refuses_without_create, 180)
{
    ac_harness_t h;
    ac_gen_t *g;
    sqlite3 *db = NULL;
    char wal[1200], *log, *out = NULL;
    json_t *st;

    ac_harness_init(&h);
    g = make_lights(2, 64, 48);
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    {
        const char *argv[] = {AC_ASTROCALD_BIN, "--help", NULL};
        ASSERT_EQ(ac_harness_run(&h, argv, 10000, &out, NULL), 0);
        ASSERT_CONTAINS(out, "--create");
        free(out);
    }
    /* First start: no catalogue, no marker: created. */
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    import_night(&h, 2);
    json_decref(wait_done(&h, 2, 60000));
    /* Deleted while it runs: paused with the reason. */
    ASSERT_OK(unlink(h.database));
    st = wait_paused(&h, 10000);
    ASSERT_CONTAINS(json_string_value(json_object_get(st, "pause_reason")), "deleted");
    json_decref(st);
    status_close();
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    snprintf(wal, sizeof wal, "%s-wal", h.database);
    ASSERT(file_exists(wal)); /* left alone */
    /* A restart does not make an empty catalogue in its place. */
    start_expect_exit(&h, NULL, 78);
    ASSERT(!file_exists(h.database));
    log = ac_harness_read_file(h.log_path);
    ASSERT_CONTAINS(log, "is missing but astrocald used it before (marker ");
    ASSERT_CONTAINS(log, "restore it, or start once with --create to make a new one");
    free(log);
    /* --create makes a new one; the old -wal is moved aside, not replayed into it. */
    restart(&h, (const char *[]){"--create", NULL});
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    st = status(&h);
    ASSERT_EQ(done_files(st), 0);
    ASSERT_STR_EQ(catalogue_field(st, "state"), "ok");
    json_decref(st);
    status_close();
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    ASSERT_EQ(sqlite3_open_v2(h.database, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM fitsfile", NULL, -1), 0);
    {
        char buf[64];
        ASSERT_STR_EQ(afdb_text(db, "PRAGMA quick_check", NULL, buf, sizeof buf), "ok");
    }
    sqlite3_close(db);
    log = ac_harness_read_file(h.log_path);
    ASSERT_CONTAINS(log, "was left by a catalogue that is gone: moved to ");
    free(log);
    /* Deleted while stopped: refused, and without a -wal to move. A normal start follows
     * once it is back. */
    ASSERT_OK(rename(h.database, "saved.db"));
    start_expect_exit(&h, NULL, 78);
    ASSERT_OK(rename("saved.db", h.database));
    restart(&h, NULL);
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    status_close();
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    ac_gen_free(g);
    ac_harness_free(&h);
}
