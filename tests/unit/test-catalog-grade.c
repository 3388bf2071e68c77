/*
 * test-catalog-grade.c - the grading stage's rows (catalog_grade.h) in the AstroFiler schema
 * astrocald creates itself: the tasks in order, AstroFiler's file and session quality
 * columns, verdicts and overrides, the migration of older queues; and AstroFiler's own
 * peewee models (../shared/peers/astrofiler, models/fits_file.py and fits_session.py)
 * reading the columns back. Known answers: the figures written, and the session averages
 * worked out here as the means over the lights not rejected.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_grade.h"
#include "db.h"
#include "schema.h"
#include "test.h"

/* A prepared catalogue: session S with four calibrated lights (raw R<i>, outputs O<i>). */
static ac_db_t *graded_db(const char *path)
{
    ac_err_t e = {0};
    ac_db_t *db = ac_db_open(path, NULL, &e);

    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_schema_prepare(db, NULL, &e));
    ASSERT_OK(
        ac_db_exec(db,
                   "INSERT INTO fitssession (fitsSessionId, fitsSessionObjectName) "
                   "VALUES ('S', 'M 31');"
                   "INSERT INTO astrocal_session (session_id, state) VALUES ('S', 'done');",
                   &e));
    for (int i = 1; i <= 4; i++) {
        char sql[1024];
        snprintf(
            sql, sizeof sql,
            "INSERT INTO fitsfile (fitsFileId, fitsFileName, fitsFileSession, "
            "fitsFileType, fitsFileCalibrated, fitsFileHash) VALUES ('R%d', '/l/r%d.fits', "
            "'S', 'Light Frame', 1, 'h'), ('O%d', '/o/r%d_calibrated.fits', 'S', "
            "'Light Frame', 1, 'old%d');"
            "INSERT INTO astrocal_file (file_id, session_id, path, state, output_path, "
            "output_file_id, finished_at) VALUES ('R%d', 'S', '/l/r%d.fits', 'done', "
            "'/o/r%d_calibrated.fits', 'O%d', '2026-12-07T01:0%d:00');",
            i, i, i, i, i, i, i, i, i, i);
        ASSERT_OK(ac_db_exec(db, sql, &e));
    }
    return db;
}

static double sql_number(ac_db_t *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    double v = NAN;

    ASSERT_OK(ac_db_prepare(db, sql, &st, NULL));
    if (ac_db_step(db, st, "test", NULL) == AC_DB_ROW &&
        sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_double(st, 0);
    ac_db_release(db, st);
    return v;
}

static const ac_grade_fig_t fig_of[5] = {
    {0},
    {.fwhm = 3.0, .hfr = 1.9, .ecc = 0.05, .stars = 300, .snr = 800, .scale = 1.5},
    {.fwhm = 3.2, .hfr = 2.0, .ecc = 0.07, .stars = 310, .snr = 820, .scale = 1.5},
    {.fwhm = 3.1, .hfr = 1.95, .ecc = 0.06, .stars = 150, .snr = 500, .scale = 1.5}, /* cloud */
    {.fwhm = 3.3, .hfr = 2.1, .ecc = 0.04, .stars = 305, .snr = 810, .scale = 1.5},
};

/* measure_all records every measure task with fig_of[i], newest first. */
static void measure_all(ac_db_t *db)
{
    ac_grade_task_t t;
    ac_err_t e = {0};
    bool found;

    for (int k = 4; k >= 1; k--) {
        char sha[65];
        ASSERT_OK(ac_catalog_grade_next(db, &t, &found, &e));
        ASSERT(found);
        ASSERT_EQ(t.kind, AC_GRADE_TASK_MEASURE);
        /* Newest output first (most likely still in the page cache). */
        ASSERT_EQ(t.file_id[1] - '0', k);
        snprintf(sha, sizeof sha, "new%d", k);
        ASSERT_STR_EQ(t.output_file_id + 1, t.file_id + 1);
        const ac_grade_fig_t *f = &fig_of[k];
        ASSERT_OK(ac_catalog_grade_measured(db, &t, f, f->fwhm * f->scale, f->hfr * f->scale,
                                            sha, 0.5, &e));
        bool ready;
        ASSERT_OK(ac_catalog_grade_session_ready(db, "S", &ready, &e));
        ASSERT_EQ(ready, k == 1);
    }
    ASSERT_OK(ac_catalog_grade_next(db, &t, &found, &e));
    ASSERT(!found);
}

static const char *const af_script =
    "import sys, os\n"
    "os.environ['ASTROFILER_DB_PATH'] = sys.argv[2]\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from astrofiler.models import fitsFile, fitsSession\n"
    "for f in fitsFile.select().order_by(fitsFile.fitsFileId):\n"
    "    print('F', f.fitsFileId, f.fitsFileAvgFWHMArcsec, f.fitsFileAvgEccentricity,\n"
    "          f.fitsFileAvgHFRArcsec, f.fitsFileImageSNR, f.fitsFileStarCount,\n"
    "          f.fitsFileImageScale, f.fitsFileHash)\n"
    "s = fitsSession.get_by_id('S')\n"
    "print('S', s.fitsSessionAvgFWHMArcsec, s.fitsSessionAvgEccentricity,\n"
    "      s.fitsSessionAvgHFRArcsec, s.fitsSessionImageSNR, s.fitsSessionStarCount,\n"
    "      s.fitsSessionImageScale)\n";

TEST_TIMEOUT(catalog_grade_columns_verdicts_and_astrofiler_models, 120)
{
    ac_db_t *db = graded_db("g.db");
    ac_grade_rules_t rules;
    ac_grade_task_t t;
    ac_err_t e = {0};
    char session[64], cmd[2048], line[512];
    bool found;
    int rejected = -1, n;

    measure_all(db);
    /* AstroFiler's file columns: the figures, in arcseconds; the new hash. */
    ASSERT_NEAR(sql_number(db, "SELECT fitsFileAvgFWHMArcsec FROM fitsfile WHERE "
                               "fitsFileId = 'O2'"),
                4.8, 1e-9);
    ASSERT_NEAR(
        sql_number(db, "SELECT fitsFileStarCount FROM fitsfile WHERE fitsFileId = 'O3'"), 150,
        0);
    ASSERT(isnan(sql_number(db, "SELECT fitsFileStarCount FROM fitsfile WHERE "
                                "fitsFileId = 'R3'"))); /* the raw row is left alone */
    /* Judged: light 3 has half the stars of the median (302.5): rejected. */
    ac_grade_rules_default(&rules);
    ASSERT_OK(ac_catalog_grade_judge(db, "S", true, &rules, &rejected, &e));
    ASSERT_EQ(rejected, 1);
    ASSERT_OK(ac_catalog_grade_rejected(db, "S", &n, &e));
    ASSERT_EQ(n, 1);
    /* The session's averages leave the rejected light out: lights 1, 2, 4. */
    ASSERT_NEAR(sql_number(db, "SELECT fitsSessionAvgFWHMArcsec FROM fitssession"),
                1.5 * (3.0 + 3.2 + 3.3) / 3, 1e-9);
    ASSERT_NEAR(sql_number(db, "SELECT fitsSessionStarCount FROM fitssession"), 305, 0);
    ASSERT_NEAR(sql_number(db, "SELECT fitsSessionImageSNR FROM fitssession"), 810, 1e-9);
    /* Its QREJECT card is due. */
    ASSERT_OK(ac_catalog_grade_next(db, &t, &found, &e));
    ASSERT(found);
    ASSERT_EQ(t.kind, AC_GRADE_TASK_MARK);
    ASSERT_STR_EQ(t.file_id, "R3");
    ASSERT(t.reject);
    ASSERT_STR_EQ(t.reasons, "stars 150 < 0.75 x 302; snr 500.0 < 0.70 x 805.0");
    ASSERT_STR_EQ(t.sha256, "new3");
    ASSERT_OK(ac_catalog_grade_marked(db, &t, t.reasons, "marked3", &e));
    ASSERT_OK(ac_catalog_grade_next(db, &t, &found, &e));
    ASSERT(!found);

    /* AstroFiler's own models read the columns back. */
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"$AF_SCRIPT\" "
             "%s/../shared/peers/astrofiler/src %s/g.db 2>af.err",
             ac_test_srcdir(), ac_test_tmpdir());
    setenv("AF_SCRIPT", af_script, 1);
    FILE *p = popen(cmd, "r");
    int got = 0;
    ASSERT_NOT_NULL(p);
    while (fgets(line, sizeof line, p) != NULL) {
        char id[16], fw[32], ec[32], hf[32], sn[32], sc[32], sz[32], hash[80];
        if (sscanf(line, "F %15s %31s %31s %31s %31s %31s %31s %79s", id, fw, ec, hf, sn, sc,
                   sz, hash) == 8 &&
            id[0] == 'O') {
            int k = id[1] - '0';
            ASSERT_NEAR(atof(fw), fig_of[k].fwhm * 1.5, 1e-9);
            ASSERT_NEAR(atof(ec), fig_of[k].ecc, 1e-9);
            ASSERT_NEAR(atof(hf), fig_of[k].hfr * 1.5, 1e-9);
            ASSERT_NEAR(atof(sn), fig_of[k].snr, 1e-9);
            ASSERT_EQ(atoi(sc), fig_of[k].stars);
            ASSERT_NEAR(atof(sz), 1.5, 1e-12);
            char want[16];
            snprintf(want, sizeof want, k == 3 ? "marked3" : "new%d", k);
            ASSERT_STR_EQ(hash, want);
            got++;
        } else if (line[0] == 'S') {
            double v[6];
            ASSERT_EQ(sscanf(line, "S %lf %lf %lf %lf %lf %lf", &v[0], &v[1], &v[2], &v[3],
                             &v[4], &v[5]),
                      6);
            ASSERT_NEAR(v[0], 1.5 * (3.0 + 3.2 + 3.3) / 3, 1e-9);
            ASSERT_NEAR(v[1], (0.05 + 0.07 + 0.04) / 3, 1e-9);
            ASSERT_NEAR(v[2], 1.5 * (1.9 + 2.0 + 2.1) / 3, 1e-9);
            ASSERT_NEAR(v[3], 810, 1e-9);
            ASSERT_NEAR(v[4], 305, 0);
            ASSERT_NEAR(v[5], 1.5, 1e-12);
            got++;
        }
    }
    if (pclose(p) != 0 || got != 5) {
        system("tail -5 af.err >&2");
        AC_TEST_FAIL("AstroFiler's models did not read the columns (%d of 5 rows): needs "
                     "/usr/bin/python3 with peewee (.ci/setup)",
                     got);
    }

    /* The operator accepts it by its calibrated path: the card goes, averages include it. */
    ASSERT_OK(ac_catalog_grade_override(db, "/o/r3_calibrated.fits", "accepted", session, &e));
    ASSERT_STR_EQ(session, "S");
    ASSERT_OK(ac_catalog_grade_judge(db, "S", true, &rules, &rejected, &e));
    ASSERT_EQ(rejected, 0);
    ASSERT_NEAR(sql_number(db, "SELECT fitsSessionStarCount FROM fitssession"),
                (int)((300 + 310 + 150 + 305) / 4.0), 0);
    ASSERT_OK(ac_catalog_grade_next(db, &t, &found, &e));
    ASSERT(found && t.kind == AC_GRADE_TASK_MARK && !t.reject);
    ASSERT_OK(ac_catalog_grade_marked(db, &t, NULL, "unmarked3", &e));
    /* ... and rejects light 1 by its raw id; the reason names the operator. */
    ASSERT_OK(ac_catalog_grade_override(db, "R1", "rejected", session, &e));
    ASSERT_OK(ac_catalog_grade_next(db, &t, &found, &e));
    ASSERT(found && t.reject);
    ASSERT_STR_EQ(t.reasons, "rejected by the operator");
    ASSERT_EQ(ac_catalog_grade_override(db, "/nowhere.fits", "rejected", session, &e), -ENOENT);
    /* Without calibration_quality_check nothing is judged; overrides still count. */
    ASSERT_OK(ac_catalog_grade_judge(db, "S", false, &rules, &rejected, &e));
    ASSERT_EQ(rejected, 1);
    ASSERT(isnan(sql_number(db, "SELECT verdict FROM astrocal_grade WHERE file_id = 'R3'")));
    ASSERT_NEAR(sql_number(db, "SELECT COUNT(*) FROM astrocal_grade WHERE verdict IS NOT NULL"),
                0, 0);
    ac_db_close(db);
}

TEST(catalog_grade_migration_leaves_older_outputs_alone)
{
    ac_err_t e = {0};
    ac_db_t *db = ac_db_open("m.db", NULL, &e);
    ac_grade_task_t t;
    bool found;
    int n = 0;

    ASSERT_NOT_NULL(db);
    /* Version 3 with a calibrated light, then migrated. */
    ASSERT_OK(ac_db_exec(db,
                         "CREATE TABLE fitsfile (fitsFileId TEXT PRIMARY KEY, "
                         "fitsFileHash TEXT)",
                         &e));
    ASSERT_OK(ac_schema_migrate(db, 3, &e));
    ASSERT_OK(ac_db_exec(db,
                         "INSERT INTO astrocal_file (file_id, session_id, path, state, "
                         "output_path, output_file_id) VALUES ('A', 'S', '/l/a.fits', 'done', "
                         "'/o/a_calibrated.fits', 'OA'), ('B', 'S', '/l/b.fits', 'pending', "
                         "NULL, NULL)",
                         &e));
    ASSERT_OK(ac_schema_migrate(db, AC_SCHEMA_VERSION, &e));
    ASSERT_OK(ac_catalog_grade_next(db, &t, &found, &e));
    ASSERT(!found); /* not measured behind the user's back */
    ASSERT_NEAR(sql_number(db, "SELECT COUNT(*) FROM astrocal_grade WHERE file_id = 'A' AND "
                               "state = 'failed' AND error = 'calibrated before grading "
                               "existed'"),
                1, 0);
    ASSERT_OK(ac_catalog_grade_forget(db, "S", true, &n, &e));
    ASSERT_EQ(n, 1);
    ac_db_close(db);
}
