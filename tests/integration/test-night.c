/*
 * test-night.c - the whole night, hands-free: a generated raw night (bias, darks at two
 * exposures, flats in two filters taken interleaved, flat-darks, L and R lights taken
 * interleaved and crossing midnight UTC) is copied file by file, slowly and in pieces, into
 * a folder the daemon watches. At the end every light is calibrated with masters astrocald
 * built itself from that night, the sessions are not fragmented, and no file was read
 * half-written (every registered hash is the hash of the complete file).
 */
#include <sqlite3.h>

#include "afdb.h"
#include "digest.h"
#include "fitsgen.h"
#include "harness.h"
#include "support.h"

#define NW 160
#define NH 120

struct rawfile {
    char name[128];
    ac_gen_frame_t f;
    char date[40];
};

static int add(struct rawfile *list, int n, ac_gen_type_t type, double exp, const char *filter,
               const char *date, int index, const char *prefix)
{
    struct rawfile *r = &list[n];

    ac_gen_frame_default(&r->f, type);
    r->f.exptime = exp;
    r->f.filter = filter;
    r->f.index = index;
    snprintf(r->date, sizeof r->date, "%s", date);
    r->f.date_obs = r->date;
    snprintf(r->name, sizeof r->name, "%s_%s_%ds_%04d.fits", prefix, filter ? filter : "x",
             (int)exp, index);
    return n + 1;
}

/* copy_slowly copies src to dst in three pieces with pauses shorter than settle_s. */
static void copy_slowly(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    char *buf;
    long len;

    ASSERT_NOT_NULL(in);
    ASSERT_NOT_NULL(out);
    fseek(in, 0, SEEK_END);
    len = ftell(in);
    rewind(in);
    buf = malloc((size_t)len);
    ASSERT_EQ(fread(buf, 1, (size_t)len, in), (size_t)len);
    for (int k = 0; k < 3; k++) {
        long a = len * k / 3, b = len * (k + 1) / 3;
        ASSERT_EQ(fwrite(buf + a, 1, (size_t)(b - a), out), (size_t)(b - a));
        fflush(out);
        ac_harness_sleep_ms(40);
    }
    fclose(out);
    fclose(in);
    free(buf);
}

/* table_shape lists a table's columns as "name type notnull pk;" (PRAGMA table_info). */
static void table_shape(sqlite3 *db, const char *table, char *out, size_t size)
{
    char sql[128];
    sqlite3_stmt *st = NULL;
    size_t n = 0;

    snprintf(sql, sizeof sql, "PRAGMA table_info(\"%s\")", table);
    ASSERT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW && n < size)
        n += (size_t)snprintf(out + n, size - n, "%s %s %d %d;", sqlite3_column_text(st, 1),
                              sqlite3_column_text(st, 2), sqlite3_column_int(st, 3),
                              sqlite3_column_int(st, 5));
    sqlite3_finalize(st);
}

static long long q(sqlite3 *db, const char *sql)
{
    return afdb_int(db, sql, NULL, -1);
}

TEST_TIMEOUT(night_hands_free_from_raw_frames, 300)
{
    ac_gen_camera_t cam;
    ac_gen_t *g;
    ac_err_t e = {0};
    ac_harness_t h;
    struct rawfile raw[64];
    int n = 0;
    char watch[1100], over[1200], outdir[1200], mdir[1200], mover[1200], oover[1200];
    sqlite3 *db;

    ac_harness_init(&h);
    ac_gen_camera_sized(&cam, 11, NW, NH);
    g = ac_gen_new(&cam, &e);
    ASSERT_NOT_NULL(g);
    /* Calibration frames in the evening, flats L and R interleaved within a minute. */
    for (int i = 1; i <= 5; i++) {
        char d[40];
        snprintf(d, sizeof d, "2024-03-15T17:%02d:%02d", 0, i * 2);
        n = add(raw, n, AC_GEN_BIAS, 0, NULL, d, i, "Bias");
        snprintf(d, sizeof d, "2024-03-15T17:10:%02d", i * 8);
        n = add(raw, n, AC_GEN_FLAT, 2, "L", d, 2 * i, "Flat");
        snprintf(d, sizeof d, "2024-03-15T17:10:%02d", i * 8 + 4);
        n = add(raw, n, AC_GEN_FLAT, 2, "R", d, 2 * i + 1, "Flat");
        snprintf(d, sizeof d, "2024-03-15T17:20:%02d", i * 4);
        n = add(raw, n, AC_GEN_FLATDARK, 2, NULL, d, i, "FlatDark");
        snprintf(d, sizeof d, "2024-03-15T18:%02d:00", i * 6);
        n = add(raw, n, AC_GEN_DARK, 300, NULL, d, i, "Dark");
        snprintf(d, sizeof d, "2024-03-15T19:%02d:00", i * 3);
        n = add(raw, n, AC_GEN_DARK, 120, NULL, d, 10 + i, "Dark");
    }
    /* L (300 s) and R (120 s) lights interleaved, crossing midnight UTC. */
    {
        static const char *const dates[] = {"2024-03-15T23:40:00", "2024-03-15T23:45:10",
                                            "2024-03-15T23:47:20", "2024-03-15T23:52:30",
                                            "2024-03-16T00:01:00", "2024-03-16T00:06:10",
                                            "2024-03-16T00:08:20", "2024-03-16T00:13:30"};
        for (int i = 0; i < 8; i++) {
            bool l = i % 2 == 0;
            n = add(raw, n, AC_GEN_LIGHT, l ? 300 : 120, l ? "L" : "R", dates[i], 100 + i,
                    "M31");
        }
    }
    mkdir("staging", 0755);
    mkdir("incoming", 0755);
    for (int i = 0; i < n; i++) {
        char p[300];
        snprintf(p, sizeof p, "staging/%s", raw[i].name);
        if (ac_gen_write_frame(g, &raw[i].f, p, &e) != 0)
            AC_TEST_FAIL("write %s: %s", p, e.msg);
    }
    snprintf(watch, sizeof watch, "%s/incoming", h.dir);
    snprintf(over, sizeof over, "INGEST.watch_dirs=%s", watch);
    snprintf(outdir, sizeof outdir, "%s/out", h.dir);
    snprintf(oover, sizeof oover, "DAEMON.output_dir=%s", outdir);
    snprintf(mdir, sizeof mdir, "%s/masters", h.dir);
    snprintf(mover, sizeof mover, "MASTERS.masters_dir=%s", mdir);
    ASSERT_OK(ac_harness_write_config(
        &h,
        (const char *[]){over, oover, mover, "INGEST.settle_s=0.3", "MASTERS.build_settle_s=3",
                         "AUTO_CALIBRATION.auto_calibrate_on_master_creation=True", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    /* The capture software writes the night, file by file. */
    for (int i = 0; i < n; i++) {
        char s[300], d[1300];
        snprintf(s, sizeof s, "staging/%s", raw[i].name);
        snprintf(d, sizeof d, "%s/%s", watch, raw[i].name);
        copy_slowly(s, d);
    }
    /* Every light calibrated. */
    {
        long long t0 = ac_harness_now_ms(), done = 0;
        while (ac_harness_now_ms() - t0 < 180000) {
            ASSERT_EQ(sqlite3_open_v2(h.database, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
            sqlite3_busy_timeout(db, 5000);
            done = q(db, "SELECT count(*) FROM astrocal_file WHERE state = 'done'");
            sqlite3_close(db);
            if (done >= 8)
                break;
            ac_harness_sleep_ms(200);
        }
        if (done < 8) {
            ac_harness_dump_log(&h);
            AC_TEST_FAIL("only %lld of 8 lights calibrated", done);
        }
    }
    ASSERT_EQ(ac_harness_stop(&h, 60000), 0);
    /* Each master's MD5 was computed once, by its build: the sets took it from there. */
    ASSERT(ac_harness_log_count(&h, "masters ready (") >= 2);
    ASSERT_EQ(ac_harness_log_count(&h, ": 0 MD5s read"),
              ac_harness_log_count(&h, "masters ready ("));
    ASSERT_EQ(sqlite3_open_v2(h.database, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    /* Every raw file registered once, with the hash of the complete file. */
    ASSERT_EQ(q(db, "SELECT count(*) FROM fitsfile WHERE fitsFileOriginalFile IS NULL"), n);
    for (int i = 0; i < n; i++) {
        char p[1300], hex[65], buf[128];
        snprintf(p, sizeof p, "%s/%s", watch, raw[i].name);
        ASSERT_OK(ac_digest_file(p, AC_DIGEST_SHA256, hex, sizeof hex, &e));
        ASSERT_STR_EQ(afdb_text(db, "SELECT fitsFileHash FROM fitsfile WHERE fitsFileName = ?1",
                                p, buf, sizeof buf),
                      hex);
    }
    /* Sessions: one per light filter across midnight; calibration sessions not fragmented. */
    ASSERT_EQ(q(db, "SELECT count(*) FROM fitssession WHERE fitsSessionObjectName = 'M 31'"),
              2);
    ASSERT_EQ(q(db, "SELECT count(*) FROM fitssession WHERE fitsSessionObjectName = 'Flat'"),
              2);
    ASSERT_EQ(q(db, "SELECT count(*) FROM fitssession WHERE fitsSessionObjectName = 'Bias'"),
              1);
    /* Masters built from the night: bias, two darks, two flats (and a flat-dark). */
    ASSERT_EQ(q(db, "SELECT count(*) FROM Masters WHERE master_type = 'bias'"), 1);
    ASSERT(q(db, "SELECT count(*) FROM Masters WHERE master_type = 'dark'") >= 2);
    ASSERT_EQ(q(db, "SELECT count(*) FROM Masters WHERE master_type = 'flat'"), 2);
    /* The right masters for each light: its own filter's flat, its own exposure's dark. */
    ASSERT_EQ(q(db, "SELECT count(*) FROM astrocal_record r JOIN fitsfile f ON "
                    "f.fitsFileId = r.file_id WHERE f.fitsFileFilter = 'L' AND "
                    "r.flat_path LIKE '%-L-%' AND r.dark_path LIKE '%-300s-%'"),
              4);
    ASSERT_EQ(q(db, "SELECT count(*) FROM astrocal_record r JOIN fitsfile f ON "
                    "f.fitsFileId = r.file_id WHERE f.fitsFileFilter = 'R' AND "
                    "r.flat_path LIKE '%-R-%' AND r.dark_path LIKE '%-120s-%'"),
              4);
    ASSERT_EQ(q(db, "SELECT count(*) FROM fitsfile WHERE fitsFileCalibrated = 1 AND "
                    "fitsFileOriginalFile IS NOT NULL"),
              8);
    /* AstroFiler's session fields: every calibration session a master was built from says
     * so (master_<kind>_created), and each light session names the sessions its dark and
     * flat masters came from, as the Masters rows' source_session_id give them. */
    ASSERT_EQ(q(db, "SELECT count(*) FROM fitssession WHERE fitsSessionObjectName = 'Bias' "
                    "AND master_bias_created = 1"),
              1);
    ASSERT_EQ(q(db, "SELECT count(*) FROM fitssession WHERE fitsSessionObjectName = 'Flat' "
                    "AND master_flat_created = 1"),
              2);
    ASSERT(q(db, "SELECT count(*) FROM fitssession WHERE fitsSessionObjectName = 'Dark' AND "
                 "master_dark_created = 1") >= 2);
    ASSERT_EQ(q(db,
                "SELECT count(*) FROM fitssession AS s WHERE fitsSessionObjectName = "
                "'M 31' AND is_auto_calibration = 1 AND auto_calibration_dark_session_id = "
                "fitsDarkSession AND auto_calibration_flat_session_id = fitsFlatSession AND "
                "EXISTS (SELECT 1 FROM Masters AS m JOIN astrocal_record AS r ON "
                "r.dark_path = m.master_path JOIN fitsfile AS f ON f.fitsFileId = r.file_id "
                "WHERE f.fitsFileSession = s.fitsSessionId AND m.source_session_id = "
                "s.fitsDarkSession) AND EXISTS (SELECT 1 FROM Masters AS m JOIN "
                "astrocal_record AS r ON r.flat_path = m.master_path JOIN fitsfile AS f ON "
                "f.fitsFileId = r.file_id WHERE f.fitsFileSession = s.fitsSessionId AND "
                "m.source_session_id = s.fitsFlatSession)"),
              2);
    /* The database this flow made is AstroFiler's schema, unchanged: every AstroFiler
     * table has exactly the columns of a database AstroFiler's migrations made. */
    {
        static const char *const tables[] = {"fitsfile", "fitssession", "Masters", "mapping",
                                             "migratehistory"};
        sqlite3 *ref = afdb_create("reference.db", AFDB_MIGRATED);
        for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
            char a[8192], b[8192];
            table_shape(db, tables[i], a, sizeof a);
            table_shape(ref, tables[i], b, sizeof b);
            if (strcmp(a, b) != 0)
                AC_TEST_FAIL("table %s differs from AstroFiler's:\n  ours: %s\n  ref:  %s",
                             tables[i], a, b);
        }
        ASSERT_EQ(q(db, "SELECT count(*) FROM migratehistory"), 11);
        sqlite3_close(ref);
    }
    sqlite3_close(db);
    ac_gen_free(g);
    ac_harness_free(&h);
}
