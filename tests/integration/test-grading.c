/*
 * test-grading.c - frame grading end to end (issue 11): a night calibrated by the daemon
 * with [QUALITY] grading on fills AstroFiler's file quality columns on the calibrated rows
 * and the session averages on fitssession, and AstroFiler's own peewee models
 * (../shared/peers/astrofiler) read them; every output carries the cards in its header
 * with valid checksums, and fitsFileHash stays the hash of the file as it now is. The
 * operator's `reject` writes QREJECT into the header, `accept --clear` ... shows in
 * `session`, `sessions`, `grade --csv`. Known answers: the generated lights' stars (FWHM
 * within 15 % of 3.0 px, fitsgen.h) and their image scale (FOCALLEN 530 mm, XPIXSZ 3.76 um:
 * 1.4633 arcsec/px); the session averages are recomputed here from the file columns.
 */
#include <fitsio.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>

#include "afdb.h"
#include "digest.h"
#include "nightfix.h"
#include "support.h"

#define GW 512
#define GH 384
#define NL 5

static const char *const af_script =
    "import sys, os\n"
    "os.environ['ASTROFILER_DB_PATH'] = sys.argv[2]\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from astrofiler.models import fitsFile, fitsSession\n"
    "n = 0\n"
    "for f in fitsFile.select().where(fitsFile.fitsFileOriginalFile.is_null(False)):\n"
    "    assert f.fitsFileStarCount > 20, f.fitsFileStarCount\n"
    "    assert abs(f.fitsFileImageScale - 1.4633) < 1e-3, f.fitsFileImageScale\n"
    "    assert abs(f.fitsFileAvgFWHMArcsec / f.fitsFileImageScale - 3.0) < 0.6\n"
    "    assert 0 <= f.fitsFileAvgEccentricity < 0.3\n"
    "    assert f.fitsFileAvgHFRArcsec > 0 and f.fitsFileImageSNR > 0\n"
    "    n += 1\n"
    "s = fitsSession.get_by_id('S-1')\n"
    "print(n, s.fitsSessionAvgFWHMArcsec, s.fitsSessionStarCount, s.fitsSessionImageScale)\n";

/* mult is AC_TEST_TIMEOUT_MULTIPLIER (1 when unset): the waits below scale with it. */
static long long mult(void)
{
    const char *m = getenv("AC_TEST_TIMEOUT_MULTIPLIER");
    long long k = m != NULL ? atoll(m) : 1;

    return k > 0 ? k : 1;
}

/* add_focallen gives the night's lights a focal length (fitsgen writes XPIXSZ only). */
static void add_focallen(struct night *nt)
{
    for (int i = 0; i < nt->n; i++) {
        fitsfile *f = NULL;
        int st = 0;
        double fl = 530;
        fits_open_diskfile(&f, nt->light[i], READWRITE, &st);
        fits_update_key(f, TDOUBLE, "FOCALLEN", &fl, "[mm] focal length", &st);
        fits_write_chksum(f, &st);
        fits_close_file(f, &st);
        ASSERT_EQ(st, 0);
    }
}

/* wait_graded waits until n lights are measured and the session judged. */
static bool wait_graded(ac_harness_t *h, int n, int timeout_ms)
{
    long long end = ac_harness_now_ms() + (long long)timeout_ms * mult();

    while (ac_harness_now_ms() < end) {
        sqlite3 *db = open_db(h);
        long long m = afdb_int(db,
                               "SELECT count(*) FROM astrocal_grade WHERE state = "
                               "'measured' AND judged_at IS NOT NULL",
                               NULL, -1);
        sqlite3_close(db);
        if (m == n)
            return true;
        ac_harness_sleep_ms(100);
    }
    return false;
}

static void check_outputs(sqlite3 *db, struct night *nt)
{
    char buf[4096], sha[65], hash[80];
    ac_err_t e = {0};

    for (int i = 0; i < nt->n; i++) {
        const char *out =
            afdb_text(db, "SELECT fitsFileName FROM fitsfile WHERE fitsFileOriginalFile = ?1",
                      nt->light[i], buf, sizeof buf);
        ASSERT_NOT_NULL(out);
        assert_fitsverify_clean(out); /* checksums too */
        ASSERT_NEAR(read_key_double(out, "FWHM"), 3.0, 0.6);
        ASSERT(read_key_double(out, "STARCNT") > 20);
        ASSERT_NEAR(read_key_double(out, "PIXSCALE"), 1.4633, 1e-3);
        ASSERT_OK(ac_digest_file(out, AC_DIGEST_SHA256, sha, sizeof sha, &e));
        ASSERT_STR_EQ(afdb_text(db, "SELECT fitsFileHash FROM fitsfile WHERE fitsFileName = ?1",
                                out, hash, sizeof hash),
                      sha);
    }
}

TEST_TIMEOUT(grading_night_fills_astrofiler_columns_and_overrides, 300)
{
    ac_harness_t h;
    struct night nt;
    char *out = NULL, cmd[2048], line[512], outpath[4096];
    sqlite3 *db;

    ac_harness_init(&h);
    make_night(&nt, NL, GW, GH);
    add_focallen(&nt);
    make_catalogue(&h, &nt, "bdf");
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){"QUALITY.grading=True", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT(wait_done(&h, NL, 60000));
    ASSERT(wait_graded(&h, NL, 60000));
    db = open_db(&h);
    check_outputs(db, &nt);
    /* The session averages are the means of the file columns (nothing rejected). */
    double avg = (double)afdb_int(db,
                                  "SELECT round(1e6 * avg(fitsFileAvgFWHMArcsec)) FROM "
                                  "fitsfile WHERE fitsFileOriginalFile IS NOT NULL",
                                  NULL, -1) /
                 1e6;
    ASSERT_NEAR((double)afdb_int(db,
                                 "SELECT round(1e6 * fitsSessionAvgFWHMArcsec) FROM "
                                 "fitssession WHERE fitsSessionId = 'S-1'",
                                 NULL, -1) /
                    1e6,
                avg, 2e-6);
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_grade WHERE verdict = 'accepted'",
                       NULL, -1),
              NL);
    afdb_text(db, "SELECT fitsFileName FROM fitsfile WHERE fitsFileOriginalFile = ?1",
              nt.light[1], outpath, sizeof outpath);
    sqlite3_close(db);

    /* AstroFiler's own models read what astrocald wrote. */
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"$AF_SCRIPT\" %s/../shared/peers/astrofiler/src %s 2>af.err",
             ac_test_srcdir(), h.database);
    setenv("AF_SCRIPT", af_script, 1);
    FILE *p = popen(cmd, "r");
    ASSERT_NOT_NULL(p);
    line[0] = '\0';
    if (fgets(line, sizeof line, p) == NULL)
        line[0] = '\0';
    if (pclose(p) != 0) {
        system("tail -5 af.err >&2");
        AC_TEST_FAIL("AstroFiler's models: %s", line);
    }
    int n = 0, stars = 0;
    double s_fwhm = NAN, s_scale = NAN;
    ASSERT_EQ(sscanf(line, "%d %lf %d %lf", &n, &s_fwhm, &stars, &s_scale), 4);
    ASSERT_EQ(n, NL);
    ASSERT_NEAR(s_fwhm, avg, 1e-5);
    ASSERT(stars > 20);
    ASSERT_NEAR(s_scale, 1.4633, 1e-3);

    /* The operator rejects one light: QREJECT in its header, shown everywhere. */
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "reject", outpath, NULL), 0);
    free(out);
    long long end = ac_harness_now_ms() + 30000LL * mult();
    while (ac_harness_now_ms() < end) {
        db = open_db(&h);
        long long marked = afdb_int(db,
                                    "SELECT count(*) FROM astrocal_grade WHERE "
                                    "header_reasons = 'rejected by the operator'",
                                    NULL, -1);
        sqlite3_close(db);
        if (marked == 1)
            break;
        ac_harness_sleep_ms(100);
    }
    ASSERT_STR_EQ(read_key_string(outpath, "QREJECT"), "rejected by the operator");
    db = open_db(&h);
    check_outputs(db, &nt); /* the hash follows the header */
    sqlite3_close(db);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "session", "S-1", NULL), 0);
    ASSERT_CONTAINS(out, "rejected*");
    ASSERT_CONTAINS(out, "VERDICT");
    free(out);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "sessions", NULL), 0);
    ASSERT_CONTAINS(out, "REJECTED");
    free(out);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "grade", "S-1", "--csv", NULL), 0);
    ASSERT_CONTAINS(out, "file,output,state,fwhm,hfr,");
    ASSERT_CONTAINS(out, ",rejected,"); /* the override column */
    int lines = 0;
    for (const char *c = out; *c; c++)
        lines += *c == '\n';
    ASSERT_EQ(lines, NL + 1);
    free(out);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "--json", "sessions", NULL), 0);
    ASSERT_CONTAINS(out, "\"rejected\":1");
    free(out);
    /* ... and takes it back: the card goes. */
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "accept", "--clear", outpath, NULL), 0);
    free(out);
    end = ac_harness_now_ms() + 30000LL * mult();
    while (ac_harness_now_ms() < end) {
        db = open_db(&h);
        long long marked =
            afdb_int(db, "SELECT count(*) FROM astrocal_grade WHERE header_reasons IS NOT NULL",
                     NULL, -1);
        sqlite3_close(db);
        if (marked == 0)
            break;
        ac_harness_sleep_ms(100);
    }
    fitsfile *f = NULL;
    int st = 0;
    char v[FLEN_VALUE];
    fits_open_diskfile(&f, outpath, READONLY, &st);
    fits_read_key(f, TSTRING, "QREJECT", v, NULL, &st);
    ASSERT_EQ(st, KEY_NO_EXIST);
    st = 0;
    fits_close_file(f, &st);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "reject", "/no/such.fits", NULL), 1);
    free(out);
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}
