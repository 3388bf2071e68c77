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
