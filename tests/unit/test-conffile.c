/*
 * test-conffile.c - io/conffile.c: what --check-config checks on disk.
 */
#include <sys/stat.h>

#include "conffile.h"
#include "config.h"
#include "test.h"

static void base_config(struct ac_config *c)
{
    ac_config_default(c);
    snprintf(c->database, sizeof c->database, "%s/cat.db", ac_test_tmpdir());
    snprintf(c->state_dir, sizeof c->state_dir, "%s/state", ac_test_tmpdir());
    c->output_dir[0] = '\0';
    c->masters_dir[0] = '\0';
    c->watch_dirs[0] = '\0';
}

TEST(conffile_paths_valid_when_creatable_or_present)
{
    struct ac_config c;
    ac_err_t e = {0};
    FILE *f;

    base_config(&c);
    ASSERT_OK(ac_conffile_check_paths(&c, &e)); /* database and state_dir can be created */
    f = fopen("cat.db", "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    ASSERT_EQ(mkdir("in", 0755), 0);
    snprintf(c.watch_dirs, sizeof c.watch_dirs, "%s/in", ac_test_tmpdir());
    ASSERT_OK(ac_conffile_check_paths(&c, &e));
}

TEST(conffile_database_directory_or_missing_folder_refused)
{
    struct ac_config c;
    ac_err_t e = {0};

    base_config(&c);
    ASSERT_EQ(mkdir("cat.db", 0755), 0);
    ASSERT_EQ(ac_conffile_check_paths(&c, &e), AC_ECONFIG);
    ASSERT_CONTAINS(e.msg, "[DAEMON] database");
    ASSERT_CONTAINS(e.msg, "is not a regular file");

    snprintf(c.database, sizeof c.database, "%s/nowhere/cat.db", ac_test_tmpdir());
    e = (ac_err_t){0};
    ASSERT_EQ(ac_conffile_check_paths(&c, &e), AC_ECONFIG);
    ASSERT_CONTAINS(e.msg, "does not exist");
    ASSERT_CONTAINS(e.msg, "nowhere");
}

TEST(conffile_missing_watch_dir_and_file_as_output_dir_refused)
{
    struct ac_config c;
    ac_err_t e = {0};
    FILE *f = fopen("plain", "w");

    ASSERT_NOT_NULL(f);
    fclose(f);
    base_config(&c);
    snprintf(c.watch_dirs, sizeof c.watch_dirs, "%s/absent", ac_test_tmpdir());
    ASSERT_OK(ac_conffile_check_paths(&c, &e)); /* not there yet: ingest waits for it */
    snprintf(c.watch_dirs, sizeof c.watch_dirs, "%s/plain", ac_test_tmpdir());
    ASSERT_EQ(ac_conffile_check_paths(&c, &e), AC_ECONFIG);
    ASSERT_CONTAINS(e.msg, "[INGEST] watch_dirs");
    ASSERT_CONTAINS(e.msg, "is not a folder");
    c.watch_dirs[0] = '\0';
    e = (ac_err_t){0};
    snprintf(c.output_dir, sizeof c.output_dir, "%s/plain", ac_test_tmpdir());
    ASSERT_EQ(ac_conffile_check_paths(&c, &e), AC_ECONFIG);
    ASSERT_CONTAINS(e.msg, "[DAEMON] output_dir");
    ASSERT_CONTAINS(e.msg, "is not a folder");
}
