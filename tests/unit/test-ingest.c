/*
 * test-ingest.c - live ingest (daemon/serve/ingest.c) with a real libuv loop driven by the test
 * (wait_ms runs the loop for a while, so the test writes files between two waits as a
 * slow copier would), a fresh database given AstroFiler's schema by ac_schema_prepare,
 * and frames from tests/support/fitsgen.h. Expected values: hashes from the sha256sum
 * tool, sessions and links worked out by hand from the dates and filters written
 * (SITELONG = 11 -> UTC+1, so every frame below belongs to the night of 2024-03-15).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "afdb.h"
#include "catalog.h"
#include "db.h"
#include "dbtest.h"
#include "fitsgen.h"
#include "fsutil.h"
#include "importtest.h"
#include "ingest.h"
#include "log.h"
#include "schema.h"
#include "test.h"
#include "tools.h"
#include "util.h"
#include "xisfgen.h"

/* ---- Fixture ---- */

struct fx {
    uv_loop_t loop;
    uv_timer_t timer;
    ac_db_t *db;
    ac_ingest_t *ing;
    int calls, n_new, stopped;
    const char *exclude; /* a folder not to ingest, relative (NULL: none) */
    uint64_t t_reg[16];  /* when on_registered ran */
};

static void on_registered(void *ud, int n_new)
{
    struct fx *fx = ud;

    if (fx->calls < 16)
        fx->t_reg[fx->calls] = ac_now_ns();
    fx->calls++;
    fx->n_new += n_new;
}

static void on_stopped(void *ud)
{
    struct fx *fx = ud;

    fx->stopped++;
}

static void fx_init(struct fx *fx)
{
    ac_err_t e = {0};

    memset(fx, 0, sizeof *fx);
    ASSERT_OK(uv_loop_init(&fx->loop));
    ASSERT_OK(uv_timer_init(&fx->loop, &fx->timer));
    fx->db = ac_db_open(abspath("astrofiler.db"), NULL, &e);
    if (fx->db == NULL || ac_schema_prepare(fx->db, NULL, &e) != 0)
        AC_TEST_FAIL("database: %s", e.msg);
}

/* fx_start watches the folders (relative to the test directory, created first). */
static void fx_start(struct fx *fx, const char *const *rel, size_t n, double settle,
                     double rescan)
{
    const char *dirs[5];
    ac_ingest_opts_t o;
    ac_err_t e = {0};

    ac_ingest_opts_default(&o);
    for (size_t i = 0; i < n; i++) {
        dirs[i] = abspath(rel[i]);
        ASSERT_OK(ac_fsutil_mkdirs(dirs[i], NULL));
    }
    o.dirs = dirs;
    o.n_dirs = n;
    if (fx->exclude != NULL) {
        dirs[n] = abspath(fx->exclude);
        o.exclude = &dirs[n];
        o.n_exclude = 1;
    }
    o.settle_s = settle;
    o.rescan_interval_s = rescan;
    o.utc_offset_h = 0;
    fx->ing = ac_ingest_new(&fx->loop, fx->db, &o, on_registered, fx, &e);
    if (fx->ing == NULL || ac_ingest_start(fx->ing, &e) != 0)
        AC_TEST_FAIL("ingest: %s", e.msg);
}

static void on_wait(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* wait_ms runs the loop for ms milliseconds. */
static void wait_ms(struct fx *fx, int ms)
{
    uv_timer_start(&fx->timer, on_wait, (uint64_t)ms, 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
}

static ac_ingest_status_t status(struct fx *fx)
{
    ac_ingest_status_t s;

    ac_ingest_status(fx->ing, &s);
    return s;
}

/* WAIT_UNTIL runs the loop until cond holds, failing after timeout_ms. */
#define WAIT_UNTIL(fx, cond, timeout_ms)                                                       \
    do {                                                                                       \
        int waited_ = 0;                                                                       \
        while (!(cond)) {                                                                      \
            if (waited_ >= (timeout_ms))                                                       \
                AC_TEST_FAIL("timed out waiting for %s", #cond);                               \
            wait_ms((fx), 20);                                                                 \
            waited_ += 20;                                                                     \
        }                                                                                      \
    } while (0)

/* fx_end stops the ingest and checks that nothing is left on the loop. */
static void fx_end(struct fx *fx)
{
    if (fx->ing != NULL)
        ac_ingest_stop(fx->ing, on_stopped);
    ASSERT_EQ(fx->stopped, 0); /* never from inside the call */
    uv_close((uv_handle_t *)&fx->timer, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    ASSERT_EQ(fx->stopped, fx->ing != NULL ? 1 : 0);
    ASSERT_OK(uv_loop_close(&fx->loop));
    ac_db_close(fx->db);
}

static long long rows_for(struct fx *fx, const char *rel)
{
    return q_int(fx->db, "SELECT count(*) FROM fitsfile WHERE fitsFileName = ?1", abspath(rel));
}

/* slurp reads a whole file. */
static char *slurp(const char *rel, size_t *n)
{
    FILE *fp = fopen(abspath(rel), "rb");
    char *buf;
    long len;

    ASSERT_NOT_NULL(fp);
    ASSERT_OK(fseek(fp, 0, SEEK_END));
    len = ftell(fp);
    rewind(fp);
    ASSERT_NOT_NULL(buf = malloc((size_t)len));
    ASSERT_EQ(fread(buf, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return buf;
}

/* append writes bytes at the end of rel, opening and closing it as a copier would. */
static void append(const char *rel, const char *bytes, size_t n)
{
    int fd = open(abspath(rel), O_WRONLY | O_CREAT | O_APPEND, 0644);

    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, bytes, n), (long long)n);
    close(fd);
}

/* ---- Log capture ---- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[16384];

static void log_sink(int level, const char *file, int line, const char *func, const char *msg)
{
    size_t n;

    pthread_mutex_lock(&log_mu);
    n = strlen(log_buf);
    snprintf(log_buf + n, sizeof log_buf - n, "<%d>%s\n", level, msg);
    pthread_mutex_unlock(&log_mu);
}

/* ---- Settling and completeness ---- */

TEST(ingest_slow_copy_registered_once_complete_and_settled)
{
    static const char *const root[] = {"watch"};
    const double settle = 0.25;
    ac_gen_t *g = camera(NULL, 1);
    struct fx fx;
    char *a, *b;
    size_t na, nb, chunk;
    uint64_t t_done_a = 0, t_done_b;

    /* Two different lights, written elsewhere first: 2880 header + 6144 data -> 11520. */
    frame(g, AC_GEN_LIGHT, "stage/a.fits", "2024-03-15T22:00:00.000", "L", 300, 1);
    frame(g, AC_GEN_LIGHT, "stage/b.fits", "2024-03-15T22:05:05.000", "L", 300, 2);
    a = slurp("stage/a.fits", &na);
    b = slurp("stage/b.fits", &nb);
    ASSERT_EQ(na, 11520);
    ASSERT_EQ(nb, 11520);
    fx_init(&fx);
    fx_start(&fx, root, 1, settle, 30);
    wait_ms(&fx, 100);

    /* a: six chunks, 80 ms apart (less than settle_s): never settled until complete. */
    chunk = na / 6;
    for (size_t off = 0; off < na; off += chunk) {
        append("watch/a.fits", a + off, off + chunk <= na ? chunk : na - off);
        t_done_a = ac_now_ns();
        wait_ms(&fx, 80);
        ASSERT_EQ(rows_for(&fx, "watch/a.fits"), 0);
    }
    WAIT_UNTIL(&fx, fx.n_new == 1, 3000);
    ASSERT_EQ(rows_for(&fx, "watch/a.fits"), 1);
    /* Registered only once its final size and time had been stable for settle_s. */
    ASSERT((double)(fx.t_reg[0] - t_done_a) / 1e9 >= settle - 0.005);
    ASSERT_STR_EQ(q_text(fx.db, "SELECT fitsFileHash FROM fitsfile WHERE fitsFileName = ?1",
                         abspath("watch/a.fits")),
                  ac_tools_hash("sha256sum", abspath("watch/a.fits")));

    /* b: the header and part of the data, then a pause much longer than settle_s: it is
     * settled but incomplete, so it is not registered; then the rest. */
    append("watch/b.fits", b, 2880 + 3000);
    WAIT_UNTIL(&fx, status(&fx).incomplete == 1, 3000);
    wait_ms(&fx, 250);
    ASSERT_EQ(rows_for(&fx, "watch/b.fits"), 0);
    ASSERT_EQ(status(&fx).incomplete, 1);
    append("watch/b.fits", b + 5880, nb - 5880);
    t_done_b = ac_now_ns();
    WAIT_UNTIL(&fx, fx.n_new == 2, 3000);
    ASSERT((double)(fx.t_reg[1] - t_done_b) / 1e9 >= settle - 0.005);
    ASSERT_EQ(rows_for(&fx, "watch/b.fits"), 1);
    ASSERT_STR_EQ(q_text(fx.db, "SELECT fitsFileHash FROM fitsfile WHERE fitsFileName = ?1",
                         abspath("watch/b.fits")),
                  ac_tools_hash("sha256sum", abspath("watch/b.fits")));
    ASSERT_EQ(status(&fx).incomplete, 0);

    /* A copy of a under another name: read, found to be a duplicate, not registered. */
    append("watch/copy_of_a.fits", a, na);
    WAIT_UNTIL(&fx, status(&fx).duplicates == 1, 3000);
    wait_ms(&fx, 100);
    ASSERT_EQ(q_int(fx.db, "SELECT count(*) FROM fitsfile", NULL), 2);
    ASSERT_EQ(fx.calls, 2);
    ASSERT_EQ(fx.n_new, 2);
    ASSERT_EQ(status(&fx).registered, 2);
    ASSERT_EQ(status(&fx).rejected, 0);
    ASSERT_EQ(status(&fx).pending, 0);
    ASSERT_EQ(status(&fx).full_scans, 1);
    fx_end(&fx);
    free(a);
    free(b);
    ac_gen_free(g);
}

/* XISF images (issue 9): converted to <stem>.fits beside them and that file registered, as
 * `import` does (test-importer-xisf.c); one that cannot be converted is counted as
 * rejected with its reason in the log, never passed over in silence. */
TEST(ingest_xisf_converted_and_refusals_reported)
{
    static const char *const root[] = {"watch"};
    static uint16_t px[3 * 8 * 6];
    ac_xisfgen_t rgb = {.w = 8,
                        .h = 6,
                        .channels = 3,
                        .color_space = "RGB",
                        .sample = "UInt16",
                        .sbytes = 2,
                        .px = px};
    ac_gen_t *g = camera(NULL, 2);
    struct fx fx;

    frame(g, AC_GEN_LIGHT, "stage/a.fits", "2024-03-15T22:00:00.000", "L", 300, 1);
    ASSERT_OK(ac_xisfgen_from_fits("stage/a.fits", "stage/a.xisf", "zstd", true));
    ASSERT_OK(ac_xisfgen_write("stage/rgb.xisf", &rgb));
    ac_log_set_sink(log_sink);
    fx_init(&fx);
    fx_start(&fx, root, 1, 0.1, 30);
    wait_ms(&fx, 100);
    ASSERT_OK(rename("stage/a.xisf", "watch/a.xisf"));
    ASSERT_OK(rename("stage/rgb.xisf", "watch/rgb.xisf"));
    WAIT_UNTIL(&fx, fx.n_new == 1 && status(&fx).rejected == 1, 5000);
    ASSERT_EQ(rows_for(&fx, "watch/a.fits"), 1);
    ASSERT_EQ(q_int(fx.db, "SELECT count(*) FROM fitsfile", NULL), 1);
    ASSERT_STR_EQ(q_text(fx.db, "SELECT fitsFileHash FROM fitsfile WHERE fitsFileName = ?1",
                         abspath("watch/a.fits")),
                  ac_tools_hash("sha256sum", abspath("watch/a.fits")));
    /* The conversion appearing in the folder is read too: the same content. */
    WAIT_UNTIL(&fx, status(&fx).duplicates == 1, 5000);
    pthread_mutex_lock(&log_mu);
    ASSERT_CONTAINS(log_buf, "rgb.xisf: XISF: a colour image (colorSpace RGB, 3 channels)");
    pthread_mutex_unlock(&log_mu);
    ASSERT_EQ(status(&fx).registered, 1);
    fx_end(&fx);
    ac_log_set_sink(NULL);
    ac_gen_free(g);
}

/* ---- Folders ---- */

TEST(ingest_folders_created_after_start_are_watched)
{
    static const char *const root[] = {"watch"};
    ac_gen_t *g = camera(NULL, 2);
    struct fx fx;
    ac_ingest_status_t s;

    fx_init(&fx);
    fx_start(&fx, root, 1, 0.2, 60);
    wait_ms(&fx, 100);
    ASSERT_EQ(status(&fx).watched, 1);
    /* Two levels at once, a file written at once into the deeper one. */
    frame(g, AC_GEN_LIGHT, "watch/2024-03-15/lights/l1.fits", "2024-03-15T22:00:00.000", "L",
          300, 1);
    WAIT_UNTIL(&fx, fx.n_new == 1, 3000);
    /* Later, a third folder, and a file in it a little after. */
    ASSERT_OK(mkdir(abspath("watch/2024-03-15/flats"), 0755));
    wait_ms(&fx, 100);
    frame(g, AC_GEN_FLAT, "watch/2024-03-15/flats/f1.fits", "2024-03-16T05:30:00.000", "L", 2,
          1);
    WAIT_UNTIL(&fx, fx.n_new == 2, 3000);
    s = status(&fx);
    ASSERT_EQ(rows_for(&fx, "watch/2024-03-15/lights/l1.fits"), 1);
    ASSERT_EQ(rows_for(&fx, "watch/2024-03-15/flats/f1.fits"), 1);
    ASSERT_EQ(s.full_scans, 1); /* found through the watches, not the periodic scan */
    ASSERT_EQ(s.watched, 4);    /* watch, 2024-03-15, lights, flats */
    ASSERT_EQ(s.polled, 0);
    ASSERT(!s.fallback);
    ASSERT(s.events > 0);
    fx_end(&fx);
    ac_gen_free(g);
}

static int fail_blocked(const char *dir)
{
    size_t n = strlen(dir);

    return n >= 8 && strcmp(dir + n - 8, "/blocked") == 0 ? UV_ENOSPC : 0;
}

TEST(ingest_failed_watch_falls_back_to_scanning_with_a_warning)
{
    static const char *const root[] = {"watch"};
    ac_gen_t *g = camera(NULL, 3);
    struct fx fx;
    ac_ingest_status_t s;
    char expect[1200];

    ASSERT_OK(ac_fsutil_mkdirs(abspath("watch/blocked"), NULL));
    ac_log_set_sink(log_sink);
    ac_ingest_watch_hook = fail_blocked;
    fx_init(&fx);
    fx_start(&fx, root, 1, 0.2, 0.5);
    WAIT_UNTIL(&fx, status(&fx).full_scans >= 1, 3000);
    s = status(&fx);
    ASSERT_EQ(s.watched, 1);
    ASSERT_EQ(s.polled, 1);
    ASSERT(s.fallback);
    snprintf(expect, sizeof expect,
             "<4>ingest: cannot watch folder %s (no space left on device, raise "
             "fs.inotify.max_user_watches): scanning it every 0.5 s instead",
             abspath("watch/blocked"));
    ASSERT_CONTAINS(log_buf, expect);
    {
        json_t *j = ac_ingest_status_json(fx.ing);
        ASSERT_NOT_NULL(j);
        ASSERT_STR_EQ(json_string_value(json_object_get(
                          json_array_get(json_object_get(j, "polled_dirs"), 0), "path")),
                      abspath("watch/blocked"));
        ASSERT(json_is_true(json_object_get(j, "fallback")));
        json_decref(j);
    }
    /* A file in the unwatched folder is still registered: by the periodic scan. */
    frame(g, AC_GEN_LIGHT, "watch/blocked/l1.fits", "2024-03-15T22:00:00.000", "L", 300, 1);
    WAIT_UNTIL(&fx, fx.n_new == 1, 4000);
    ASSERT_EQ(rows_for(&fx, "watch/blocked/l1.fits"), 1);
    ASSERT(status(&fx).full_scans >= 2);
    /* Once watches can be set up again, the next scan watches it. */
    ac_ingest_watch_hook = NULL;
    WAIT_UNTIL(&fx, status(&fx).polled == 0, 2000);
    ASSERT_EQ(status(&fx).watched, 2);
    snprintf(expect, sizeof expect, "<5>ingest: watching folder %s again",
             abspath("watch/blocked"));
    ASSERT_CONTAINS(log_buf, expect);
    fx_end(&fx);
    ac_log_set_sink(NULL);
    ac_gen_free(g);
}

TEST(ingest_stop_closes_everything)
{
    static const char *const root[] = {"watch", "other"};
    ac_gen_t *g = camera(NULL, 4);
    struct fx fx;
    ac_ingest_opts_t o;
    ac_err_t e = {0};
    const char *dirs[1];
    ac_ingest_t *ing;
    char *a;
    size_t na;

    /* Created and stopped without being started. */
    fx_init(&fx);
    ac_ingest_opts_default(&o);
    dirs[0] = abspath("watch");
    o.dirs = dirs;
    o.n_dirs = 1;
    ASSERT_NOT_NULL(ing = ac_ingest_new(&fx.loop, fx.db, &o, NULL, &fx, &e));
    fx.ing = ing;
    fx_end(&fx);

    /* Stopped while folders are watched, a scan may run and files are half written. */
    frame(g, AC_GEN_LIGHT, "stage/a.fits", "2024-03-15T22:00:00.000", "L", 300, 1);
    a = slurp("stage/a.fits", &na);
    for (int i = 0; i < 3; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "watch/d%d/e/f", i);
        ASSERT_OK(ac_fsutil_mkdirs(abspath(rel), NULL));
        snprintf(rel, sizeof rel, "watch/d%d/e/f/x.fits", i);
        append(rel, a, na);
    }
    fx_init(&fx);
    fx_start(&fx, root, 2, 0.05, 30);
    wait_ms(&fx, 30);
    append("watch/half.fits", a, 4000);
    wait_ms(&fx, 5);
    fx_end(&fx);
    free(a);
    ac_gen_free(g);
}

/* ---- The catalogue ---- */

TEST(ingest_skips_registered_paths_without_reading_them)
{
    static const char *const root[] = {"watch"};
    ac_gen_t *g = camera(NULL, 5);
    ac_gen_frame_t mf;
    ac_err_t e = {0};
    struct fx fx;
    sqlite3 *h;
    char sql[2048];

    frame(g, AC_GEN_LIGHT, "watch/known.fits", "2024-03-15T22:00:00.000", "L", 300, 1);
    frame(g, AC_GEN_LIGHT, "watch/dup.fits", "2024-03-15T22:05:05.000", "L", 300, 2);
    frame(g, AC_GEN_LIGHT, "watch/new.fits", "2024-03-15T22:10:10.000", "L", 300, 3);
    /* An excluded folder (e.g. the calibrated outputs) and a master file (to Masters). */
    frame(g, AC_GEN_LIGHT, "watch/out/l.fits", "2024-03-15T22:15:15.000", "L", 300, 4);
    ac_gen_frame_default(&mf, AC_GEN_BIAS);
    mf.master = AC_GEN_MASTER_ASTROFILER;
    ASSERT_OK(ac_fsutil_mkdirs(abspath("watch/Masters"), NULL));
    ASSERT_OK(ac_gen_write_frame(g, &mf, abspath("watch/Masters/master_bias.fits"), &e));
    fx_init(&fx);
    fx.exclude = "watch/out";
    h = ac_db_handle(fx.db);
    /* known.fits is registered by path (with a hash that is not its own: reading it would
     * register it again); dup.fits's content is registered under another path. */
    snprintf(sql, sizeof sql,
             "INSERT INTO fitsfile (fitsFileId, fitsFileName, fitsFileHash) VALUES "
             "('11111111-1111-4111-8111-111111111111', '%s', 'not-its-hash'), "
             "('22222222-2222-4222-8222-222222222222', '/elsewhere/dup.fits', '%s')",
             abspath("watch/known.fits"),
             ac_tools_hash("sha256sum", abspath("watch/dup.fits")));
    afdb_exec(h, sql);
    fx_start(&fx, root, 1, 0.2, 30);
    WAIT_UNTIL(&fx, fx.n_new == 2 && status(&fx).duplicates == 1, 3000);
    wait_ms(&fx, 300);
    ASSERT_EQ(rows_for(&fx, "watch/known.fits"), 1);
    ASSERT_STR_EQ(q_text(fx.db, "SELECT fitsFileHash FROM fitsfile WHERE fitsFileName = ?1",
                         abspath("watch/known.fits")),
                  "not-its-hash");
    ASSERT_EQ(rows_for(&fx, "watch/dup.fits"), 0);
    ASSERT_EQ(rows_for(&fx, "watch/new.fits"), 1);
    ASSERT_EQ(q_int(fx.db, "SELECT count(*) FROM fitsfile", NULL), 3);
    ASSERT_EQ(rows_for(&fx, "watch/out/l.fits"), 0);
    ASSERT_EQ(count(fx.db, "Masters", "master_path = ?1 AND master_type = 'bias'",
                    abspath("watch/Masters/master_bias.fits")),
              1);
    ASSERT_EQ(status(&fx).registered, 1);
    ASSERT_EQ(status(&fx).masters, 1);
    ASSERT_EQ(status(&fx).duplicates, 1);
    ASSERT_EQ(status(&fx).rejected, 0);
    fx_end(&fx);
    ac_gen_free(g);
}

/* ---- Sessions by observing night ---- */

struct staged {
    char rel[64][128];
    int n;
};

static void stage_one(struct staged *st, ac_gen_t *g, ac_gen_type_t type, const char *base,
                      const char *date, const char *filter, double exptime, const char *object,
                      int index)
{
    snprintf(st->rel[st->n], sizeof st->rel[0], "%s", base);
    frame_obj(g, type, st->rel[st->n], date, filter, exptime, object, index);
    st->n++;
}

/* sess reads the session of the file rel ("" when none). */
static const char *sess(struct fx *fx, const char *rel)
{
    return q_text(fx->db, "SELECT fitsFileSession FROM fitsfile WHERE fitsFileName = ?1",
                  abspath(rel));
}

static const char *link_of(struct fx *fx, const char *sid, const char *col)
{
    char sql[256];

    snprintf(sql, sizeof sql, "SELECT %s FROM fitssession WHERE fitsSessionId = ?1", col);
    return q_text(fx->db, sql, sid);
}

TEST(ingest_sessions_by_night_filter_and_links)
{
    static const char *const root[] = {"watch"};
    static const char *const lrgb[4] = {"L", "R", "G", "B"};
    ac_gen_t *g = camera(NULL, 6);
    struct staged st = {.n = 0};
    struct fx fx;
    char date[40], rel[128], dst[1200];

    /* M 31: 6 L lights of 300 s crossing 00:00 UTC. */
    for (int i = 0; i < 6; i++) {
        ASSERT_OK(ac_gen_date_add("2024-03-15T23:45:00.000", i * 305.0, date, sizeof date));
        snprintf(rel, sizeof rel, "stage/m31_%d.fits", i);
        stage_one(&st, g, AC_GEN_LIGHT, rel, date, "L", 300, "M 31", i + 1);
    }
    /* M 42: 8 lights cycling L, R, G, B, 305 s apart. */
    for (int i = 0; i < 8; i++) {
        ASSERT_OK(ac_gen_date_add("2024-03-15T20:00:00.000", i * 305.0, date, sizeof date));
        snprintf(rel, sizeof rel, "stage/m42_%d_%s.fits", i, lrgb[i % 4]);
        stage_one(&st, g, AC_GEN_LIGHT, rel, date, lrgb[i % 4], 300, "M 42", 10 + i);
    }
    /* Flats in L and R alternating within a minute, then biases and darks at dawn. */
    for (int i = 0; i < 6; i++) {
        ASSERT_OK(ac_gen_date_add("2024-03-16T05:30:00.000", i * 10.0, date, sizeof date));
        snprintf(rel, sizeof rel, "stage/flat_%d_%s.fits", i, i % 2 ? "R" : "L");
        stage_one(&st, g, AC_GEN_FLAT, rel, date, i % 2 ? "R" : "L", 2, NULL, 20 + i);
    }
    for (int i = 0; i < 3; i++) {
        ASSERT_OK(ac_gen_date_add("2024-03-16T06:00:00.000", i * 2.0, date, sizeof date));
        snprintf(rel, sizeof rel, "stage/bias_%d.fits", i);
        stage_one(&st, g, AC_GEN_BIAS, rel, date, NULL, 0, NULL, 30 + i);
        ASSERT_OK(ac_gen_date_add("2024-03-16T06:10:00.000", i * 305.0, date, sizeof date));
        snprintf(rel, sizeof rel, "stage/dark_%d.fits", i);
        stage_one(&st, g, AC_GEN_DARK, rel, date, NULL, 300, NULL, 40 + i);
    }
    ASSERT_EQ(st.n, 26);
    fx_init(&fx);
    fx_start(&fx, root, 1, 0.2, 30);
    ASSERT_OK(mkdir(abspath("watch/night"), 0755));
    wait_ms(&fx, 100);
    /* Moved into the watched folder one by one, in the order they were taken... mostly:
     * the lights first, then the calibration frames. */
    for (int i = 0; i < st.n; i++) {
        snprintf(dst, sizeof dst, "%s", abspath(st.rel[i]));
        snprintf(rel, sizeof rel, "watch/night/%s", st.rel[i] + 6);
        ASSERT_OK(rename(dst, abspath(rel)));
        wait_ms(&fx, 15);
    }
    WAIT_UNTIL(&fx, fx.n_new == 26, 8000);

    /* Sessions: M 31 one (across midnight), M 42 four (one per filter), flats two, one
     * bias, one dark: nine in all, every one dated 2024-03-15. */
    ASSERT_EQ(q_int(fx.db, "SELECT count(*) FROM fitssession", NULL), 9);
    ASSERT_EQ(count(fx.db, "fitssession", "fitsSessionDate = '2024-03-15'", NULL), 9);
    ASSERT_EQ(q_int(fx.db,
                    "SELECT count(DISTINCT fitsFileSession) FROM fitsfile WHERE "
                    "fitsFileObject = 'M 31'",
                    NULL),
              1);
    ASSERT_EQ(count(fx.db, "fitsfile",
                    "fitsFileDate LIKE '2024-03-16%' AND fitsFileObject = 'M 31'", NULL),
              3);
    for (int f = 0; f < 4; f++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT count(DISTINCT fitsFileSession) || '/' || count(*) FROM fitsfile "
                 "WHERE fitsFileObject = 'M 42' AND fitsFileFilter = '%s'",
                 lrgb[f]);
        ASSERT_STR_EQ(q_text(fx.db, sql, NULL), "1/2");
    }
    ASSERT_EQ(q_int(fx.db,
                    "SELECT count(DISTINCT fitsFileSession) FROM fitsfile WHERE "
                    "fitsFileObject = 'M 42'",
                    NULL),
              4);
    ASSERT_STR_EQ(q_text(fx.db,
                         "SELECT group_concat(fitsSessionFilter, ',') FROM (SELECT "
                         "fitsSessionFilter FROM fitssession WHERE fitsSessionObjectName "
                         "= 'Flat' ORDER BY 1)",
                         NULL),
                  "L,R");
    ASSERT_EQ(q_int(fx.db,
                    "SELECT count(DISTINCT fitsFileSession) FROM fitsfile WHERE "
                    "fitsFileObject = 'Flat'",
                    NULL),
              2);
    ASSERT_STR_EQ(sess(&fx, "watch/night/flat_0_L.fits"),
                  sess(&fx, "watch/night/flat_4_L.fits"));
    ASSERT_STR_EQ(sess(&fx, "watch/night/flat_1_R.fits"),
                  sess(&fx, "watch/night/flat_5_R.fits"));

    /* Links, as AstroFiler's linkSessions makes them, although the calibration frames
     * arrived after the lights. */
    {
        char m31[64], m42g[64], m42r[64], bias[64], dark[64], flat_l[64], flat_r[64];
        snprintf(m31, sizeof m31, "%s", sess(&fx, "watch/night/m31_0.fits"));
        snprintf(m42g, sizeof m42g, "%s", sess(&fx, "watch/night/m42_2_G.fits"));
        snprintf(m42r, sizeof m42r, "%s", sess(&fx, "watch/night/m42_5_R.fits"));
        snprintf(bias, sizeof bias, "%s", sess(&fx, "watch/night/bias_0.fits"));
        snprintf(dark, sizeof dark, "%s", sess(&fx, "watch/night/dark_2.fits"));
        snprintf(flat_l, sizeof flat_l, "%s", sess(&fx, "watch/night/flat_2_L.fits"));
        snprintf(flat_r, sizeof flat_r, "%s", sess(&fx, "watch/night/flat_3_R.fits"));
        ASSERT_STR_EQ(link_of(&fx, m31, "fitsBiasSession"), bias);
        ASSERT_STR_EQ(link_of(&fx, m31, "fitsDarkSession"), dark);
        ASSERT_STR_EQ(link_of(&fx, m31, "fitsFlatSession"), flat_l);
        ASSERT_STR_EQ(link_of(&fx, m42r, "fitsFlatSession"), flat_r);
        ASSERT_STR_EQ(link_of(&fx, m42r, "fitsDarkSession"), dark);
        ASSERT_NULL(link_of(&fx, m42g, "fitsFlatSession")); /* no G flats */
        ASSERT_STR_EQ(link_of(&fx, m42g, "fitsBiasSession"), bias);
        ASSERT_NULL(link_of(&fx, bias, "fitsBiasSession")); /* only lights are linked */
    }
    ASSERT_EQ(status(&fx).sessions_created, 9);
    fx_end(&fx);
    ac_gen_free(g);
}

TEST(ingest_link_sessions_rules)
{
    struct fx fx;
    int n = -1;
    ac_err_t e = {0};

    fx_init(&fx);
    /* id, object, date, exposure, gain, filter, dark link. Telescope 'T', imager 'I',
     * binning 1x1 and offset 50 everywhere. */
    afdb_exec(
        ac_db_handle(fx.db),
        "INSERT INTO fitssession (fitsSessionId, fitsSessionObjectName, fitsSessionDate, "
        "fitsSessionExposure, fitsSessionGain, fitsSessionFilter, fitsDarkSession, "
        "fitsSessionTelescope, fitsSessionImager, fitsSessionBinningX, fitsSessionBinningY, "
        "fitsSessionOffset) SELECT column1, column2, column3, column4, column5, column6, "
        "column7, 'T', 'I', '1', '1', '50' FROM (VALUES "
        "('L1', 'M 1', '2024-03-20', '300', '100', 'Ha', NULL), "
        "('L2', 'M 2', '2024-03-12', '300', '100', 'Ha', 'D1'), "
        "('L3', 'M 3', '2024-03-21', '300', '100', 'Ha', 'gone'), "
        "('L4', 'M 4', '2024-03-22', '300.0', '100', 'Ha', 'D1'), "
        "('D1', 'Dark', '2024-03-10', '300.0', '100', NULL, NULL), "
        "('D2', 'Dark', '2024-03-20', '300', '100.0', NULL, NULL), "
        "('D3', 'Dark', '2024-03-25', '300', '100', NULL, NULL), "
        "('D4', 'Dark', '2024-03-20', '120', '100', NULL, NULL), "
        "('B1', 'Bias', '2024-03-01', '0', '100', NULL, NULL), "
        "('B2', 'Bias', '2024-03-19', '0', '200', NULL, NULL), "
        "('F1', 'Flat', '2024-03-20', '2', '100', 'OIII', NULL), "
        "('F2', 'Flat', '2024-03-18', '2', '100', 'Ha', NULL))");
    /* Since 2024-03-21: only L3 (dangling dark link) and L4 (D1 older than D2). */
    ASSERT_OK(ac_catalog_link_sessions(fx.db, "2024-03-21", &n, &e));
    ASSERT_EQ(n, 2);
#define LINKS(id)                                                                              \
    q_text(fx.db,                                                                              \
           "SELECT coalesce(fitsBiasSession, '-') || coalesce(fitsDarkSession, '-') || "       \
           "coalesce(fitsFlatSession, '-') FROM fitssession WHERE fitsSessionId = ?1",         \
           id)
    ASSERT_STR_EQ(LINKS("L3"), "B1D2F2");
    ASSERT_STR_EQ(LINKS("L4"), "B1D2F2");
    ASSERT_STR_EQ(LINKS("L1"), "---");
    /* All: L1 gets the most recent matching sessions up to its date (D3 is later, D4 has
     * another exposure, B2 another gain, F1 another filter); L2 keeps D1 (the most recent
     * for its date) and gains B1 (F2 is later than L2). */
    ASSERT_OK(ac_catalog_link_sessions(fx.db, NULL, &n, &e));
    ASSERT_EQ(n, 2);
    ASSERT_STR_EQ(LINKS("L1"), "B1D2F2");
    ASSERT_STR_EQ(LINKS("L2"), "B1D1-");
    ASSERT_STR_EQ(LINKS("D1"), "---");
    /* Nothing left to do. */
    ASSERT_OK(ac_catalog_link_sessions(fx.db, NULL, &n, &e));
    ASSERT_EQ(n, 0);
#undef LINKS
    fx.ing = NULL;
    fx_end(&fx);
}
