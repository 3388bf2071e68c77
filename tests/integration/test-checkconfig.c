/*
 * test-checkconfig.c - `astrocald --check-config` refuses what would fail at start, naming
 * the key and the path: a database that is a folder or sits in a missing folder, a missing
 * watched folder, an unknown group, a world-writable socket.
 */
#include <errno.h>
#include <sys/stat.h>

#include "harness.h"
#include "support.h"

/* check runs --check-config on a file holding text; returns the exit status, the stderr
 * text in *err (owned). */
static int check(ac_harness_t *h, const char *text, char **err)
{
    const char *argv[] = {AC_ASTROCALD_BIN, "--check-config", "--config", "c.conf", NULL};
    char *out = NULL;
    FILE *f = fopen("c.conf", "w");
    int rc;

    ASSERT_NOT_NULL(f);
    fprintf(f, "%s", text);
    fclose(f);
    rc = ac_harness_run(h, argv, 10000, &out, err);
    free(out);
    return rc;
}

TEST(checkconfig_refuses_bad_paths_groups_and_modes)
{
    ac_harness_t h;
    char *err = NULL;
    char text[2048];
    const char *dir = ac_test_tmpdir();

    ac_harness_init(&h);
    ASSERT(mkdir("state", 0755) == 0 || errno == EEXIST);
    ASSERT_OK(mkdir("db.d", 0755));
    snprintf(text, sizeof text, "[DAEMON]\ndatabase = %s/cat.db\nstate_dir = %s/state\n", dir,
             dir);
    ASSERT_EQ(check(&h, text, &err), 0);
    free(err);

    snprintf(text, sizeof text, "[DAEMON]\ndatabase = %s/db.d\nstate_dir = %s/state\n", dir,
             dir);
    ASSERT_EQ(check(&h, text, &err), 78);
    ASSERT_CONTAINS(err, "database");
    ASSERT_CONTAINS(err, "is not a regular file");
    free(err);

    snprintf(text, sizeof text, "[DAEMON]\ndatabase = %s/gone/cat.db\nstate_dir = %s/state\n",
             dir, dir);
    ASSERT_EQ(check(&h, text, &err), 78);
    ASSERT_CONTAINS(err, "gone");
    free(err);

    snprintf(text, sizeof text,
             "[DAEMON]\ndatabase = %s/cat.db\nstate_dir = %s/state\n[INGEST]\n"
             "watch_dirs = %s/c.conf\n",
             dir, dir, dir);
    ASSERT_EQ(check(&h, text, &err), 78);
    ASSERT_CONTAINS(err, "watch_dirs");
    free(err);

    snprintf(text, sizeof text,
             "[DAEMON]\ndatabase = %s/cat.db\nstate_dir = %s/state\n"
             "admin_group = no-such-group-here\n",
             dir, dir);
    ASSERT_EQ(check(&h, text, &err), 78);
    ASSERT_CONTAINS(err, "admin_group");
    ASSERT_CONTAINS(err, "no-such-group-here");
    free(err);

    snprintf(text, sizeof text,
             "[DAEMON]\ndatabase = %s/cat.db\nstate_dir = %s/state\nsocket_mode = 0666\n", dir,
             dir);
    ASSERT_EQ(check(&h, text, &err), 78);
    ASSERT_CONTAINS(err, "socket_mode");
    free(err);
    ac_harness_free(&h);
}

TEST(checkconfig_reads_astrofiler_ini_and_shows_origins)
{
    ac_harness_t h;
    const char *dir = ac_test_tmpdir();
    char text[2048], want[2048], conf[1100];
    char *out = NULL, *err = NULL;
    FILE *f;

    ac_harness_init(&h);
    ASSERT(mkdir("state", 0755) == 0 || errno == EEXIST);
    ASSERT(mkdir("af", 0755) == 0 || errno == EEXIST);
    f = fopen("af/astrofiler.ini", "w");
    ASSERT_NOT_NULL(f);
    fputs("[DEFAULT]\nsource = REPOSITORY.incoming/\nrepo = /srv/astro/repo/\n"
          "bucket_url = my-bucket\n",
          f);
    fclose(f);
    /* repository_dir comes from the ini, watch_dirs from the ini made absolute against the
     * ini's folder; output_dir set here stays. */
    snprintf(text, sizeof text,
             "[DAEMON]\ndatabase = \"\"\nstate_dir = %s/state\nastrofiler_ini = %s/af/"
             "astrofiler.ini\n",
             dir, dir);
    f = fopen("c.conf", "w");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    fclose(f);
    snprintf(conf, sizeof conf, "%s/c.conf", dir);
    ASSERT_EQ(ac_harness_run(
                  &h,
                  (const char *[]){AC_ASTROCALD_BIN, "--check-config", "--config", conf, NULL},
                  10000, &out, &err),
              0);
    snprintf(want, sizeof want,
             "[DAEMON] repository_dir = /srv/astro/repo  (%s/af/astrofiler.ini:3 [DEFAULT] "
             "repo)\n",
             dir);
    ASSERT_CONTAINS(out, want);
    snprintf(want, sizeof want,
             "[INGEST] watch_dirs = %s/af/REPOSITORY.incoming  (%s/af/astrofiler.ini:2 "
             "[DEFAULT] source)\n",
             dir, dir);
    ASSERT_CONTAINS(out, want);
    ASSERT_CONTAINS(out, "[DAEMON] bucket_url = my-bucket  (");
    snprintf(want, sizeof want, "[DAEMON] state_dir = %s/state  (%s:3)\n", dir, conf);
    ASSERT_CONTAINS(out, want);
    ASSERT_CONTAINS(out, "[WORKERS] workers = 2  (default)\n");
    free(out);
    free(err);
    /* A key set in astrocald.conf wins, even "". */
    ASSERT_EQ(check(&h,
                    strcat(strcpy(want, text), "repository_dir = /mine\n[INGEST]\n"
                                               "watch_dirs = \"\"\n"),
                    &err),
              0);
    free(err);
    ASSERT_EQ(ac_harness_run(
                  &h,
                  (const char *[]){AC_ASTROCALD_BIN, "--check-config", "--config", conf, NULL},
                  10000, &out, NULL),
              0);
    ASSERT_CONTAINS(out, "[DAEMON] repository_dir = /mine  (");
    ASSERT_CONTAINS(out, "[INGEST] watch_dirs = \"\"  (");
    free(out);
    /* --astrofiler-ini names another file: a missing one is a configuration error. */
    ASSERT_EQ(ac_harness_run(&h,
                             (const char *[]){AC_ASTROCALD_BIN, "--check-config", "--config",
                                              conf, "--astrofiler-ini", "nope.ini", NULL},
                             10000, NULL, &err),
              78);
    ASSERT_CONTAINS(err, "[DAEMON] astrofiler_ini: ");
    ASSERT_CONTAINS(err, "nope.ini: cannot read: No such file or directory");
    free(err);
    ac_harness_free(&h);
}
