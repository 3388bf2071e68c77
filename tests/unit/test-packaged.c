/*
 * test-packaged.c - what the Debian package (debian/, docs/packaging.md) relies on in the
 * daemon: the shipped `database = ""` parses as "not configured yet", and what astrocald
 * creates follows the process umask, so the unit's UMask=0007 lets another member of the
 * astrocald group (AstroFiler) update calibrated files and the folders astrocald makes,
 * while a plain umask 0022 still gives 0644 files and 0755 folders.
 */
#include <sys/stat.h>

#include "config.h"
#include "fsutil.h"
#include "outfile.h"
#include "test.h"

TEST(packaged_empty_database_parses_as_not_configured)
{
    struct ac_config c;
    ac_err_t e = {0};
    const char *text = "[DAEMON]\ndatabase = \"\"\n";

    ASSERT_OK(ac_config_parse(&c, text, strlen(text), "test.conf", &e));
    ASSERT_STR_EQ(c.database, "");
}

/* make_output creates dir (and its parents) and the file dir/name through the writer's
 * own path; returns the modes of both. */
static void make_output(const char *dir, const char *name, mode_t *dir_mode, mode_t *file_mode)
{
    char path[256];
    ac_outfile_t f;
    ac_err_t e = {0};
    struct stat st;

    ASSERT_OK(ac_fsutil_mkdirs(dir, &e));
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ac_outfile_init(&f);
    ASSERT_OK(ac_outfile_create(&f, path, &e));
    ASSERT_OK(ac_outfile_commit(&f, false, &e));
    ASSERT_OK(stat(dir, &st));
    *dir_mode = st.st_mode & 07777;
    ASSERT_OK(stat(path, &st));
    *file_mode = st.st_mode & 07777;
}

TEST(packaged_outputs_and_folders_follow_the_umask)
{
    mode_t d, f;

    umask(0007); /* the unit's UMask= */
    make_output("group/night", "a_calibrated.fits", &d, &f);
    ASSERT_EQ(d, 0770);
    ASSERT_EQ(f, 0660);
    umask(0022); /* a shell's usual umask */
    make_output("plain/night", "b_calibrated.fits", &d, &f);
    ASSERT_EQ(d, 0755);
    ASSERT_EQ(f, 0644);
}
