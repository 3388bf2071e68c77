/*
 * test-cluster-recal.c - recalibrating on a cluster what a master was used for
 * (docs/cluster.md, `astrocalctl export --calibrated-with MASTER`): six lights calibrated
 * by the daemon with a dark, a replacement dark pinned for two of the three sessions; the
 * export hands out only the lights of those two (the third is refused: the daemon would
 * still use the old dark), the done lights stay done meanwhile, the shards write beside
 * the old outputs without touching them, and import-results swaps the new outputs in and
 * updates the existing rows (same fitsFileId, one row per light, the hash of the file on
 * disk, the new dark recorded) with pixels identical to the one-shot's with the new dark;
 * a shard run twice and an import run twice change nothing. Plus the refusals, and the
 * HTCondor submit file's content against condor_submit's documented syntax.
 */
#include <dirent.h>
#include <jansson.h>

#include "afdb.h"
#include "clusterfix.h"
#include "digest.h"
#include "support.h"

#define OUTF "out/M_31_L_300s_%04d_calibrated.fits"

/* new_dark writes another master dark at rel (another night, ncombine frames: other
 * pixels) and registers it with its MD5; path and md5 receive them. */
static void new_dark(struct cluster *cl, const char *rel, int ncombine, char *path, size_t size,
                     char md5[65])
{
    ac_gen_frame_t f;
    ac_err_t e = {0};
    sqlite3 *db;

    ac_gen_frame_default(&f, AC_GEN_DARK);
    f.master = AC_GEN_MASTER_ASTROFILER;
    f.ncombine = ncombine;
    f.date_obs = "2024-03-12T20:00:00";
    abspath(path, size, rel);
    if (ac_gen_write_frame(cl->nt.g, &f, path, &e) != 0)
        AC_TEST_FAIL("%s", e.msg);
    ASSERT_OK(ac_digest_file(path, AC_DIGEST_MD5, md5, 65, &e));
    db = open_db(&cl->h);
    add_master(db, "dark", path, md5);
    sqlite3_close(db);
}

/* ctl runs astrocalctl with the arguments of the NULL-terminated list args (at most 11);
 * *out receives its output then its error output. Returns its exit status. */
static int ctl(struct cluster *cl, char **out, const char *const *args)
{
    const char *a[12] = {NULL};
    char *o = NULL, *err = NULL;

    for (int i = 0; args[i] != NULL && i < 11; i++)
        a[i] = args[i];
    int rc = ac_harness_ctl(&cl->h, &o, &err, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
                            a[8], a[9], a[10], NULL);

    ASSERT(asprintf(out, "%s%s", o ? o : "", err ? err : "") >= 0);
    printf("%s", *out);
    free(o);
    free(err);
    return rc;
}

/* pin_dark pins dark for sessions S-1..S-n (astrocalctl use). */
static void pin_dark(struct cluster *cl, int n, const char *dark)
{
    char *out = NULL;

    for (int s = 1; s <= n; s++) {
        char sid[8];
        snprintf(sid, sizeof sid, "S-%d", s);
        ASSERT_EQ(ctl(cl, &out, (const char *[]){"use", sid, "--dark", dark, NULL}), 0);
        free(out);
    }
}

/* Light i (0-based) is in session S-(i%3+1): S-1 and S-2 hold lights 0,3 and 1,4. */
static bool recalibrated(int i)
{
    return i % 3 != 2;
}

TEST_TIMEOUT(cluster_recalibrate_what_a_master_was_used_for, 300)
{
    struct cluster cl;
    char dark2[1100], md5[65], *out = NULL, ids[32];
    char hash0[6][80], fid0[6][64];
    sqlite3 *db;

    cluster_start(&cl, 6);
    ASSERT_EQ(ac_harness_ctl(&cl.h, &out, NULL, "resume", NULL), 0);
    free(out);
    ASSERT(wait_done(&cl.h, 6, 90000));
    db = open_db(&cl.h);
    for (int i = 0; i < 6; i++) {
        ASSERT_NOT_NULL(afdb_text(db,
                                  "SELECT fitsFileHash FROM fitsfile WHERE "
                                  "fitsFileOriginalFile = ?1",
                                  cl.nt.light[i], hash0[i], sizeof hash0[i]));
        ASSERT_NOT_NULL(afdb_text(db,
                                  "SELECT fitsFileId FROM fitsfile WHERE "
                                  "fitsFileOriginalFile = ?1",
                                  cl.nt.light[i], fid0[i], sizeof fid0[i]));
    }
    snprintf(ids, sizeof ids, "#%lld",
             afdb_int(db, "SELECT id FROM Masters WHERE master_path = ?1", cl.nt.dark, -1));
    sqlite3_close(db);

    /* Refusals: no such master; nothing calibrated with it; no replacement yet. */
    ASSERT_EQ(ctl(&cl, &out,
                  (const char *[]){"export", "--calibrated-with", "#999", "--shards", "1",
                                   "--out", "e0", NULL}),
              1);
    ASSERT_CONTAINS(out, "no master '#999'");
    free(out);
    ASSERT_EQ(ctl(&cl, &out,
                  (const char *[]){"export", "--calibrated-with", "/nowhere/dark.fits",
                                   "--shards", "1", "--out", "e0", NULL}),
              1);
    ASSERT_CONTAINS(out, "no calibrated light recorded with master /nowhere/dark.fits");
    free(out);
    ASSERT_EQ(ctl(&cl, &out,
                  (const char *[]){"export", "--calibrated-with", ids, "--shards", "1", "--out",
                                   "e0", NULL}),
              0);
    ASSERT_CONTAINS(out, "0 lights handed out");
    ASSERT_CONTAINS(out, "skipped session S-1: the daemon would still use this dark");
    ASSERT_CONTAINS(out, "astrocalctl use S-1 --dark NEW");
    free(out);

    /* The replacement, pinned for S-1 and S-2; S-3 keeps the old dark. */
    new_dark(&cl, "night/new_dark.fits", 3, dark2, sizeof dark2, md5);
    pin_dark(&cl, 2, dark2);
    ASSERT_EQ(ctl(&cl, &out,
                  (const char *[]){"export", "--calibrated-with", cl.nt.dark, "--shards", "2",
                                   "--out", "exp", "--condor", "--cpus", "2", NULL}),
              0);
    ASSERT_CONTAINS(out, "4 lights handed out in 2 shards");
    ASSERT_CONTAINS(out, "skipped session S-3: the daemon would still use this dark");
    ASSERT_CONTAINS(out, "condor_submit ");
    free(out);
    /* Handed out, but still done: the daemon sees no work (checked over a second), and
     * the same lights are not handed out twice. */
    for (int k = 0; k < 10; k++) {
        db = open_db(&cl.h);
        ASSERT_EQ(files_in_state(db, "done"), 6);
        ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_session WHERE state <> 'done'",
                           NULL, -1),
                  0);
        ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_handout", NULL, -1), 4);
        sqlite3_close(db);
        ac_harness_sleep_ms(100);
    }
    ASSERT_EQ(ctl(&cl, &out,
                  (const char *[]){"export", "--calibrated-with", cl.nt.dark, "--shards", "1",
                                   "--out", "e1", NULL}),
              0);
    ASSERT_CONTAINS(out, "0 lights handed out"); /* S-1, S-2 out already; S-3 refused */
    ASSERT_CONTAINS(out, "skipped session S-3");
    free(out);

    /* The shards (shard 1 twice) write beside the old outputs, which stay as they were. */
    ASSERT(file_exists("exp/shard-0001.jsonl") && file_exists("exp/shard-0002.jsonl"));
    for (int s = 1; s <= 2; s++)
        ASSERT_EQ(cluster_run_shard(&cl, s), 0);
    ASSERT_EQ(cluster_run_shard(&cl, 1), 0);
    for (int i = 0; i < 6; i++) {
        char p[256], staged[256], sha[65];
        ac_err_t e = {0};
        snprintf(p, sizeof p, OUTF, i + 1);
        snprintf(staged, sizeof staged, "out/.M_31_L_300s_%04d_calibrated.fits.recal-new",
                 i + 1);
        ASSERT_OK(ac_digest_file(p, AC_DIGEST_SHA256, sha, sizeof sha, &e));
        ASSERT_STR_EQ(sha, hash0[i]);
        ASSERT_EQ(file_exists(staged), recalibrated(i));
    }

    /* Imported: the new outputs in place of the old ones, the existing rows updated. */
    ASSERT_EQ(ctl(&cl, &out, (const char *[]){"import-results", "exp", NULL}), 0);
    ASSERT_CONTAINS(out, "4 recorded, 0 already recorded, 0 failed back to the queue, 0 "
                         "refused");
    free(out);
    {
        const char *argv[16] = {AC_ASTROCALD_BIN,
                                "calibrate",
                                "--bias",
                                cl.nt.bias,
                                "--dark",
                                dark2,
                                "--flat",
                                cl.nt.flat,
                                "--output-dir",
                                "ref",
                                cl.nt.light[0],
                                cl.nt.light[1],
                                cl.nt.light[3],
                                cl.nt.light[4],
                                NULL};
        ASSERT_EQ(run_capture((char *const *)argv, &out), 0);
        free(out);
    }
    for (long long t0 = ac_harness_now_ms();;) { /* the old files go after the record */
        db = open_db(&cl.h);
        long long busy = afdb_int(db,
                                  "SELECT count(*) FROM astrocal_file WHERE recal_output IS "
                                  "NOT NULL OR recal_backup IS NOT NULL",
                                  NULL, -1);
        sqlite3_close(db);
        if (busy == 0)
            break;
        ASSERT(ac_harness_now_ms() - t0 < 30000);
        ac_harness_sleep_ms(50);
    }
    db = open_db(&cl.h);
    ASSERT_EQ(count_calibrated_rows(db), 6);
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_record", NULL, -1), 6);
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM astrocal_record WHERE dark_path = ?1 AND "
                       "dark_md5 = (SELECT hash_value FROM Masters WHERE master_path = ?1)",
                       dark2, -1),
              4);
    ASSERT_EQ(
        afdb_int(db, "SELECT count(*) FROM fitsfile WHERE fitsFileMasterDark = ?1", dark2, -1),
        4);
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_handout", NULL, -1), 0);
    ASSERT_EQ(files_in_state(db, "done"), 6);
    /* The sessions name the masters now used, as after the daemon's recalibration. */
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM astrocal_session WHERE state = 'done' AND "
                       "dark_master = ?1 AND session_id IN ('S-1', 'S-2')",
                       dark2, -1),
              2);
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM astrocal_session WHERE session_id = 'S-3' AND "
                       "dark_master = ?1",
                       cl.nt.dark, -1),
              1);
    sqlite3_close(db);
    for (int i = 0, r = 0; i < 6; i++) {
        char p[256], ref[256], sha[65], h[80], id[64];
        ac_err_t e = {0};
        int w, hh, w2, h2;
        snprintf(p, sizeof p, OUTF, i + 1);
        ASSERT_OK(ac_digest_file(p, AC_DIGEST_SHA256, sha, sizeof sha, &e));
        db = open_db(&cl.h);
        ASSERT_STR_EQ(afdb_text(db,
                                "SELECT fitsFileHash FROM fitsfile WHERE "
                                "fitsFileOriginalFile = ?1",
                                cl.nt.light[i], h, sizeof h),
                      sha);
        ASSERT_STR_EQ(afdb_text(db,
                                "SELECT fitsFileId FROM fitsfile WHERE "
                                "fitsFileOriginalFile = ?1",
                                cl.nt.light[i], id, sizeof id),
                      fid0[i]);
        sqlite3_close(db);
        if (!recalibrated(i)) {
            ASSERT_STR_EQ(sha, hash0[i]); /* S-3: untouched */
            continue;
        }
        ASSERT(strcmp(sha, hash0[i]) != 0);
        ASSERT_STR_EQ(read_key_string(p, "DARKMD5"), md5);
        snprintf(ref, sizeof ref, "ref/M_31_L_300s_%04d_calibrated.fits", i + 1);
        double *x = read_image(p, &w, &hh), *y = read_image(ref, &w2, &h2);
        ASSERT_EQ(w, w2);
        ASSERT_EQ(hh, h2);
        ASSERT_OK(memcmp(x, y, sizeof(double) * (size_t)w * (size_t)hh));
        free(x);
        free(y);
        r++;
    }
    {
        DIR *dir = opendir("out"); /* nothing left beside the outputs */
        struct dirent *de;
        ASSERT_NOT_NULL(dir);
        while ((de = readdir(dir)) != NULL)
            ASSERT(strstr(de->d_name, ".recal-") == NULL &&
                   strstr(de->d_name, ".actmp") == NULL);
        closedir(dir);
    }

    /* Run again and imported again: nothing changes. */
    ASSERT_EQ(cluster_run_shard(&cl, 1), 0);
    ASSERT_EQ(ctl(&cl, &out, (const char *[]){"import-results", "exp", NULL}), 0);
    ASSERT_CONTAINS(out, "0 recorded, 4 already recorded, 0 failed back to the queue, 0 "
                         "refused");
    free(out);
    db = open_db(&cl.h);
    ASSERT_EQ(count_calibrated_rows(db), 6);
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM astrocal_event WHERE kind = 'recalibrate' AND "
                       "file_id IS NOT NULL",
                       NULL, -1),
              4);
    sqlite3_close(db);
    cluster_stop(&cl);
}

/* sub_value returns the value of "key = value" in the submit file text (static buffer). */
static const char *sub_value(const char *text, const char *key)
{
    static char v[4200];
    char pat[64];
    const char *p;

    snprintf(pat, sizeof pat, "\n%s = ", key);
    p = strstr(text, pat);
    ASSERT_NOT_NULL(p);
    p += strlen(pat);
    snprintf(v, sizeof v, "%.*s", (int)strcspn(p, "\n"), p);
    return v;
}

/* The HTCondor submit file, checked against condor_submit's documented syntax (HTCondor
 * is not packaged for Debian 12, so it cannot run here): "command = value" lines, one
 * job per shard through "queue shard from ( ... )", new-style quoted arguments naming
 * each shard's manifest and results through $(shard), and the CPUs and memory of the
 * Slurm script written by the same export. */
TEST_TIMEOUT(cluster_condor_submit_file, 180)
{
    struct cluster cl;
    char *text = NULL, *sb = NULL, line[4400], want[4400];
    const char *extra[] = {"--slurm", "--condor", "--cpus", "3", NULL};
    long len;
    int n = 0, in_queue = 0;
    FILE *f;

    cluster_start(&cl, 6);
    setenv("ASTROCALD", AC_ASTROCALD_BIN, 1);
    cluster_export_with(&cl, 3, extra);
    unsetenv("ASTROCALD");
    ASSERT_EQ(cl.nshards, 3);
    f = fopen("exp/astrocald.sub", "r");
    ASSERT_NOT_NULL(f);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    text = calloc(1, (size_t)len + 2);
    text[0] = '\n'; /* so that every line, the first too, follows a newline */
    ASSERT_EQ(fread(text + 1, 1, (size_t)len, f), (size_t)len);
    rewind(f);
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (in_queue) { /* the items, then the closing parenthesis */
            if (strcmp(line, ")") == 0) {
                in_queue = 2;
                continue;
            }
            snprintf(want, sizeof want, "shard-%04d", ++n);
            ASSERT_STR_EQ(line, want);
            snprintf(want, sizeof want, "exp/shard-%04d.jsonl", n);
            ASSERT(file_exists(want));
            continue;
        }
        ASSERT_EQ(in_queue, 0); /* nothing after the queue statement */
        if (strcmp(line, "queue shard from (") == 0) {
            in_queue = 1;
            continue;
        }
        ASSERT(strstr(line, " = ") != NULL); /* a submit command */
    }
    fclose(f);
    ASSERT_EQ(in_queue, 2);
    ASSERT_EQ(n, 3);
    ASSERT_STR_EQ(sub_value(text, "universe"), "vanilla");
    ASSERT_STR_EQ(sub_value(text, "executable"), AC_ASTROCALD_BIN);
    snprintf(want, sizeof want,
             "\"calibrate --manifest '%s/exp/$(shard).jsonl' --results "
             "'%s/exp/$(shard).results.jsonl' --jobs 2 --quiet\"",
             ac_test_tmpdir(), ac_test_tmpdir());
    ASSERT_STR_EQ(sub_value(text, "arguments"), want);
    /* The same CPUs (--cpus 3, at most the 2 lights of a shard) and memory as the Slurm
     * array's tasks. */
    f = fopen("exp/astrocald-array.sbatch", "r");
    ASSERT_NOT_NULL(f);
    sb = calloc(1, 65536);
    ASSERT(fread(sb, 1, 65535, f) > 0);
    fclose(f);
    ASSERT_STR_EQ(sub_value(text, "request_cpus"), "2");
    ASSERT_CONTAINS(sb, "#SBATCH --cpus-per-task=2\n");
    snprintf(want, sizeof want, "#SBATCH --mem=%s\n", sub_value(text, "request_memory"));
    ASSERT_CONTAINS(sb, want);
    ASSERT_CONTAINS(sub_value(text, "log"), "/exp/");
    ASSERT_CONTAINS(sub_value(text, "output"), "$(shard)");
    ASSERT_CONTAINS(sub_value(text, "error"), "$(shard)");
    /* Each job runs as its Slurm task would: run here by hand, as condor_starter would. */
    for (int s = 1; s <= 3; s++)
        ASSERT_EQ(cluster_run_shard(&cl, s), 0);
    free(text);
    text = NULL;
    ASSERT_EQ(ac_harness_ctl(&cl.h, &text, NULL, "import-results", "exp", NULL), 0);
    free(text);
    cluster_check_done(&cl);
    free(sb);
    cluster_stop(&cl);
}

/* A recalibration that fails on the cluster leaves the light done with its previous
 * calibration and the reason; one the daemon recalibrated itself since the export is not
 * replaced (the output the export saw is gone). */
TEST_TIMEOUT(cluster_recal_failure_and_changed_output, 240)
{
    struct cluster cl;
    char dark2[1100], dark3[1100], md5[65], *out = NULL, buf[1200], sha[65];
    ac_err_t e = {0};
    sqlite3 *db;
    json_t *o;

    cluster_start(&cl, 3); /* one light in each of S-1, S-2, S-3 */
    ASSERT_EQ(ac_harness_ctl(&cl.h, &out, NULL, "resume", NULL), 0);
    free(out);
    ASSERT(wait_done(&cl.h, 3, 90000));
    new_dark(&cl, "night/new_dark.fits", 3, dark2, sizeof dark2, md5);
    pin_dark(&cl, 3, dark2);
    ASSERT_EQ(ctl(&cl, &out,
                  (const char *[]){"export", "--calibrated-with", cl.nt.dark, "--shards", "1",
                                   "--out", "exp", NULL}),
              0);
    ASSERT_CONTAINS(out, "3 lights handed out in 1 shard");
    free(out);
    /* Light 2 (S-2) cannot be read on the cluster. */
    ASSERT_OK(rename(cl.nt.light[1], "moved.fits"));
    ASSERT_EQ(cluster_run_shard(&cl, 1), 1);
    ASSERT_OK(rename("moved.fits", cl.nt.light[1]));
    /* Meanwhile the daemon recalibrates S-3 itself, with a third dark (the same dark would
     * give the very file the cluster made: that one would count as recorded already). */
    new_dark(&cl, "night/third_dark.fits", 5, dark3, sizeof dark3, md5);
    ASSERT_EQ(ctl(&cl, &out, (const char *[]){"recalibrate", "S-3", "--dark", dark3, NULL}), 0);
    free(out);
    for (long long t0 = ac_harness_now_ms();;) {
        db = open_db(&cl.h);
        long long n = afdb_int(db, "SELECT count(*) FROM astrocal_record WHERE dark_path = ?1",
                               dark3, -1);
        long long busy = afdb_int(db,
                                  "SELECT count(*) FROM astrocal_file WHERE recal_output IS "
                                  "NOT NULL OR recal_backup IS NOT NULL OR state <> 'done'",
                                  NULL, -1);
        sqlite3_close(db);
        if (n == 1 && busy == 0)
            break;
        ASSERT(ac_harness_now_ms() - t0 < 60000);
        ac_harness_sleep_ms(50);
    }
    ASSERT_OK(ac_digest_file("out/M_31_L_300s_0003_calibrated.fits", AC_DIGEST_SHA256, sha,
                             sizeof sha, &e));
    ASSERT_EQ(ac_harness_ctl(&cl.h, &out, NULL, "--json", "import-results", "exp", NULL), 1);
    o = json_loads(out, 0, NULL);
    ASSERT_NOT_NULL(o);
    ASSERT_EQ(json_integer_value(json_object_get(o, "recorded")), 1);
    ASSERT_EQ(json_integer_value(json_object_get(o, "failed_kept")), 1);
    ASSERT_EQ(json_array_size(json_object_get(o, "refused")), 1);
    ASSERT_STR_EQ(json_string_value(json_object_get(
                      json_array_get(json_object_get(o, "refused"), 0), "file_id")),
                  cl.nt.light_id[2]);
    ASSERT_CONTAINS(json_string_value(json_object_get(
                        json_array_get(json_object_get(o, "refused"), 0), "reason")),
                    "changed since the export");
    json_decref(o);
    free(out);
    db = open_db(&cl.h);
    ASSERT_EQ(files_in_state(db, "done"), 3);
    ASSERT_CONTAINS(afdb_text(db, "SELECT error FROM astrocal_file WHERE file_id = ?",
                              cl.nt.light_id[1], buf, sizeof buf),
                    "recalibration failed, the previous calibration is kept: on the cluster:");
    ASSERT_STR_EQ(afdb_text(db, "SELECT dark_path FROM astrocal_record WHERE file_id = ?",
                            cl.nt.light_id[1], buf, sizeof buf),
                  cl.nt.dark); /* S-2: the old dark */
    ASSERT_EQ(
        afdb_int(db, "SELECT count(*) FROM astrocal_record WHERE dark_path = ?1", dark2, -1),
        1); /* S-1 from the cluster; S-3 by the daemon, with the third */
    /* S-3's output is the daemon's, not the cluster's (staged beside it, never swapped). */
    ASSERT_STR_EQ(afdb_text(db,
                            "SELECT fitsFileHash FROM fitsfile WHERE fitsFileOriginalFile = ?1",
                            cl.nt.light[2], buf, sizeof buf),
                  sha);
    ASSERT_EQ(count_calibrated_rows(db), 3);
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_file WHERE recal_output IS NOT NULL",
                       NULL, -1),
              0);
    sqlite3_close(db);
    cluster_stop(&cl);
}
