/*
 * test-recalfile.c - replacing an output with its recalibration (recalfile.h) at every
 * point a crash can interrupt it: after the swap (restore brings the old file back, remove
 * keeps the new), between the backup link and the rename (restore keeps the old file), a
 * first recalibration without an old file, and the temporary files of an interrupted
 * write of the staged file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recalfile.h"
#include "test.h"

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    fclose(f);
}

/* get returns the content of path in a static buffer, or "(none)". */
static const char *get(const char *path)
{
    static char buf[64];
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL)
        return "(none)";
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

struct paths {
    char final[600], staged[700], backup[700];
};

static void paths_init(struct paths *p)
{
    snprintf(p->final, sizeof p->final, "%s/out_calibrated.fits", ac_test_tmpdir());
    ASSERT_OK(ac_recalfile_names(p->final, p->staged, p->backup, sizeof p->staged));
}

TEST(recalfile_names_beside_the_output)
{
    char s[64], b[64];

    ASSERT_OK(ac_recalfile_names("/o/x.fits", s, b, sizeof s));
    ASSERT_STR_EQ(s, "/o/.x.fits.recal-new");
    ASSERT_STR_EQ(b, "/o/.x.fits.recal-old");
    ASSERT_EQ(ac_recalfile_names("/o/x.fits", s, b, 8), -ENAMETOOLONG);
}

TEST(recalfile_swap_then_restore_or_remove)
{
    struct paths p;
    bool kept = false, back = false;
    ac_err_t e = {0};

    paths_init(&p);
    put(p.final, "old");
    put(p.staged, "new");
    ASSERT_OK(ac_recalfile_swap(p.final, &kept, &e));
    ASSERT(kept);
    ASSERT_STR_EQ(get(p.final), "new");
    ASSERT_STR_EQ(get(p.backup), "old");
    ASSERT_STR_EQ(get(p.staged), "(none)");
    /* Not recorded (a crash before the commit): the old output comes back. */
    ASSERT_OK(ac_recalfile_restore(p.final, &back, &e));
    ASSERT(back);
    ASSERT_STR_EQ(get(p.final), "old");
    ASSERT_STR_EQ(get(p.backup), "(none)");
    /* Restoring again changes nothing. */
    ASSERT_OK(ac_recalfile_restore(p.final, &back, &e));
    ASSERT(!back);
    ASSERT_STR_EQ(get(p.final), "old");
    /* Recorded: the backup goes, the new output stays. */
    put(p.staged, "new");
    ASSERT_OK(ac_recalfile_swap(p.final, &kept, &e));
    ASSERT_OK(ac_recalfile_remove(p.final, &e));
    ASSERT_STR_EQ(get(p.final), "new");
    ASSERT_STR_EQ(get(p.backup), "(none)");
    ASSERT_OK(ac_recalfile_remove(p.final, &e)); /* idempotent */
}

TEST(recalfile_crash_between_link_and_rename_keeps_the_old_output)
{
    struct paths p;
    bool back = false;
    ac_err_t e = {0};

    paths_init(&p);
    put(p.final, "old");
    put(p.staged, "new");
    ASSERT_OK(link(p.final, p.backup)); /* the swap's first step, then the crash */
    ASSERT_OK(ac_recalfile_restore(p.final, &back, &e));
    ASSERT_STR_EQ(get(p.final), "old");
    ASSERT_STR_EQ(get(p.backup), "(none)");
    ASSERT_STR_EQ(get(p.staged), "(none)");
}

TEST(recalfile_without_an_old_output_and_stale_temporaries)
{
    struct paths p;
    char tmp[800];
    bool kept = true, back = true;
    ac_err_t e = {0};

    paths_init(&p);
    put(p.staged, "new");
    ASSERT_OK(ac_recalfile_swap(p.final, &kept, &e));
    ASSERT(!kept);
    ASSERT_STR_EQ(get(p.final), "new");
    /* An interrupted write of the staged file leaves a temporary beside it. */
    snprintf(tmp, sizeof tmp, "%s/..out_calibrated.fits.recal-new.actmp-1234-abcdefgh",
             ac_test_tmpdir());
    put(tmp, "partial");
    ASSERT_OK(ac_recalfile_restore(p.final, &back, &e));
    ASSERT(!back);
    ASSERT_STR_EQ(get(tmp), "(none)");
    ASSERT_STR_EQ(get(p.final), "new");
}
