/*
 * tools.c - run standard tools on files in tests; the contract is in tools.h.
 */
#include "tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

const char *ac_tools_hash(const char *tool, const char *path)
{
    static char out[160];
    char cmd[1200];
    FILE *p;

    snprintf(cmd, sizeof cmd, "%s '%s'", tool, path);
    p = popen(cmd, "r");
    ASSERT_NOT_NULL(p);
    ASSERT_EQ(fscanf(p, "%159s", out), 1);
    pclose(p);
    return out;
}

void ac_tools_fitsverify_clean(const char *path)
{
    char cmd[2048], *out = NULL;
    size_t n = 0, cap = 0;
    FILE *p;

    if (access("/usr/bin/fitsverify", X_OK) != 0) {
        if (getenv("AC_REQUIRE_FITSVERIFY") != NULL)
            AC_TEST_FAIL("fitsverify is required but not installed");
        printf("note: fitsverify not installed, skipped for %s\n", path);
        return;
    }
    snprintf(cmd, sizeof cmd, "/usr/bin/fitsverify '%s' 2>&1", path);
    p = popen(cmd, "r");
    ASSERT_NOT_NULL(p);
    for (;;) {
        size_t k;

        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 16384;
            out = realloc(out, cap + 1);
            ASSERT_NOT_NULL(out);
        }
        k = fread(out + n, 1, cap - n, p);
        if (k == 0)
            break;
        n += k;
    }
    out[n] = '\0';
    pclose(p);
    ASSERT_CONTAINS(out, "Verification found 0 warning(s) and 0 error(s)");
    free(out);
}

FILE *ac_tools_astrofiler_popen(const char *script, const char *const *paths, int n)
{
    static char cmd[16384];
    int len = snprintf(cmd, sizeof cmd,
                       "/usr/bin/python3 -c \"$AF_SCRIPT\" %s/../shared/peers/astrofiler/src",
                       ac_test_srcdir());
    FILE *p;

    for (int i = 0; i < n && len > 0 && (size_t)len < sizeof cmd; i++)
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " %s", paths[i]);
    if (len > 0 && (size_t)len < sizeof cmd)
        snprintf(cmd + len, sizeof cmd - (size_t)len, " 2>af.err");
    setenv("AF_SCRIPT", script, 1);
    if ((p = popen(cmd, "r")) == NULL)
        AC_TEST_FAIL("cannot run /usr/bin/python3");
    return p;
}
