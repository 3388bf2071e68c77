/*
 * test-cluster.c - reprocessing on a cluster end to end (docs/cluster.md): a daemon with a
 * catalogue of three sessions exports them into 4 shards, does not calibrate the handed-out
 * lights meanwhile, the shards run (directly here, through a real Slurm in
 * test-slurm.c), and import-results records every light exactly once, with pixels identical
 * to the one-shot's for the same light and masters; a shard run twice and an import run
 * twice change nothing; a result whose output's SHA-256 differs is refused.
 */
#include <dirent.h>
#include <jansson.h>

#include "afdb.h"
#include "clusterfix.h"
#include "digest.h"
#include "support.h"

TEST_TIMEOUT(cluster_export_run_import_exactly_once, 240)
{
    struct cluster cl;
    char *out = NULL, *err = NULL;
    sqlite3 *db;
    FILE *f;

    cluster_start(&cl, 9);
    cluster_export(&cl, 4);

    /* Handed out: the daemon, resumed, leaves them pending (checked over a second). */
    ASSERT_EQ(ac_harness_ctl(&cl.h, &out, NULL, "resume", NULL), 0);
    free(out);
    for (int k = 0; k < 10; k++) {
        db = open_db(&cl.h);
        ASSERT_EQ(files_in_state(db, "pending"), 9);
        sqlite3_close(db);
        ac_harness_sleep_ms(100);
    }

    /* Run every shard as its array task would; shard 1 twice. */
    for (int s = 1; s <= cl.nshards; s++)
        ASSERT_EQ(cluster_run_shard(&cl, s), 0);
    ASSERT_EQ(cluster_run_shard(&cl, 1), 0);

    /* A forged result (SHA-256 not the output's) is refused; the real ones recorded. */
    f = fopen("exp/aaa-forged.results.jsonl", "w");
    ASSERT_NOT_NULL(f);
    fprintf(f,
            "{\"v\":1,\"file_id\":\"%s\",\"ok\":true,\"output\":\"%s/out/"
            "M_31_L_300s_0001_calibrated.fits\",\"sha256\":\"%064d\",\"quality\":{}}\n",
            cl.nt.light_id[0], ac_test_tmpdir(), 0);
    fclose(f);
    ASSERT_EQ(ac_harness_ctl(&cl.h, &out, &err, "import-results", "exp", NULL), 1);
    printf("%s%s", out, err);
    ASSERT_CONTAINS(out, "9 recorded, 0 already recorded, 0 failed back to the queue, 1 "
                         "refused");
    ASSERT_CONTAINS(out, "SHA-256");
    free(out);
    free(err);
    ASSERT_OK(unlink("exp/aaa-forged.results.jsonl"));
    cluster_check_done(&cl);

    /* Import twice: nothing changes. */
    ASSERT_EQ(ac_harness_ctl(&cl.h, &out, NULL, "import-results", "exp", NULL), 0);
    ASSERT_CONTAINS(out, "0 recorded, 9 already recorded, 0 failed back");
    free(out);
    cluster_check_done(&cl);
    cluster_stop(&cl);
}

/* import_json runs `astrocalctl --json import-results exp` and checks its counts. */
static void import_json(struct cluster *cl, int recorded, int failed_back, int already)
{
    char *out = NULL;
    json_t *o;

    ASSERT_EQ(ac_harness_ctl(&cl->h, &out, NULL, "--json", "import-results", "exp", NULL), 0);
    o = json_loads(out, 0, NULL);
    ASSERT_NOT_NULL(o);
    ASSERT_EQ(json_integer_value(json_object_get(o, "recorded")), recorded);
    ASSERT_EQ(json_integer_value(json_object_get(o, "failed_back")), failed_back);
    ASSERT_EQ(json_integer_value(json_object_get(o, "already")), already);
    json_decref(o);
    free(out);
}

TEST_TIMEOUT(cluster_failed_result_goes_back_to_the_queue, 180)
{
    struct cluster cl;
    char *out = NULL, line[4096];
    sqlite3 *db;

    cluster_start(&cl, 3);
    cluster_export(&cl, 1);
    /* The shard's light 2 is unreadable on the cluster: its result line is a failure. */
    ASSERT_OK(rename(cl.nt.light[1], "moved.fits"));
    ASSERT_EQ(cluster_run_shard(&cl, 1), 1);
    ASSERT_OK(rename("moved.fits", cl.nt.light[1]));
    import_json(&cl, 2, 1, 0);
    db = open_db(&cl.h);
    ASSERT_STR_EQ(afdb_text(db, "SELECT state FROM astrocal_file WHERE file_id = ?",
                            cl.nt.light_id[1], line, sizeof line),
                  "pending");
    ASSERT_CONTAINS(afdb_text(db, "SELECT error FROM astrocal_file WHERE file_id = ?",
                              cl.nt.light_id[1], line, sizeof line),
                    "on the cluster:");
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_handout", NULL, -1), 0);
    sqlite3_close(db);
    /* Imported again: the failure counts once (one attempt), nothing is recorded twice. */
    import_json(&cl, 0, 0, 3);
    db = open_db(&cl.h);
    ASSERT_EQ(afdb_int(db, "SELECT attempts FROM astrocal_file WHERE file_id = ?",
                       cl.nt.light_id[1], -1),
              1);
    sqlite3_close(db);
    /* Back in the queue: the daemon (resumed) calibrates it itself. */
    ASSERT_EQ(ac_harness_ctl(&cl.h, &out, NULL, "resume", NULL), 0);
    free(out);
    ASSERT(wait_done(&cl.h, 3, 60000));
    db = open_db(&cl.h);
    ASSERT_EQ(count_calibrated_rows(db), 3);
    sqlite3_close(db);
    cluster_stop(&cl);
}

/* shard_sessions checks that every line of DIR's shard s belongs to one session, which it
 * returns (static buffer); *n receives the lines. */
static const char *shard_session(const char *dir, int s, int *n)
{
    static char sid[64];
    char path[256], buf[65536];
    FILE *f;

    snprintf(path, sizeof path, "%s/shard-%04d.jsonl", dir, s);
    f = fopen(path, "r");
    ASSERT_NOT_NULL(f);
    *n = 0;
    sid[0] = '\0';
    while (fgets(buf, sizeof buf, f) != NULL) {
        json_t *o = json_loads(buf, 0, NULL);
        const char *v = json_string_value(json_object_get(o, "session_id"));
        ASSERT_NOT_NULL(v);
        if (sid[0] == '\0')
            snprintf(sid, sizeof sid, "%s", v);
        ASSERT_STR_EQ(v, sid);
        json_decref(o);
        (*n)++;
    }
    fclose(f);
    return sid;
}

TEST_TIMEOUT(cluster_export_selections_and_no_double_hand_out, 180)
{
    struct cluster cl;
    char *out = NULL, *err = NULL, a[64];
    sqlite3 *db;
    int n1, n2;

    cluster_start(&cl, 6); /* S-1 (2024-03-15), S-2 (-16), S-3 (-17): 2 lights each */
    ASSERT_EQ(ac_harness_ctl(&cl.h, &out, NULL, "export", "--since", "2024-03-17", "--until",
                             "2024-03-17", "--shards", "1", "--out", "e1", NULL),
              0);
    ASSERT_CONTAINS(out, "2 lights handed out in 1 shard");
    free(out);
    ASSERT_STR_EQ(shard_session("e1", 1, &n1), "S-3");
    /* The two sessions left, two shards of equal bytes: one session in each. */
    ASSERT_EQ(ac_harness_ctl(&cl.h, &out, NULL, "export", "--all-uncalibrated", "--shards", "2",
                             "--out", "e2", NULL),
              0);
    ASSERT_CONTAINS(out, "4 lights handed out in 2 shards");
    free(out);
    snprintf(a, sizeof a, "%s", shard_session("e2", 1, &n1));
    ASSERT(strcmp(a, shard_session("e2", 2, &n2)) != 0);
    ASSERT_EQ(n1, 2);
    ASSERT_EQ(n2, 2);
    /* Handed out already: not again. */
    ASSERT_EQ(ac_harness_ctl(&cl.h, &out, NULL, "export", "--session", "S-2", "--session",
                             "S-3", "--shards", "1", "--out", "e3", NULL),
              0);
    ASSERT_CONTAINS(out, "0 lights handed out");
    free(out);
    /* Refusals: an unknown session, a folder not empty, no selection. */
    ASSERT_EQ(ac_harness_ctl(&cl.h, &out, &err, "export", "--session", "S-9", "--shards", "1",
                             "--out", "e4", NULL),
              1);
    ASSERT_CONTAINS(err, "no session 'S-9'");
    free(out);
    free(err);
    ASSERT_EQ(ac_harness_ctl(&cl.h, &out, &err, "export", "--all-uncalibrated", "--shards", "1",
                             "--out", "e1", NULL),
              73);
    ASSERT_CONTAINS(err, "new or empty");
    free(out);
    free(err);
    ASSERT_EQ(ac_harness_ctl(&cl.h, &out, &err, "export", "--shards", "1", "--out", "e5", NULL),
              64);
    ASSERT_CONTAINS(err, "give one selection");
    free(out);
    free(err);
    db = open_db(&cl.h);
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_handout", NULL, -1), 6);
    ASSERT_EQ(
        afdb_int(db, "SELECT count(*) FROM astrocal_file WHERE not_before IS NULL", NULL, -1),
        0);
    sqlite3_close(db);
    cluster_stop(&cl);
}
