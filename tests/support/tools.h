/*
 * tools.h - run standard tools on files in tests, as implementations independent of
 * astrocald's: coreutils' digests and fitsverify. Built once into the ac_testsupport library
 * (tools.c). Thread: the test's thread.
 */
#ifndef AC_TOOLS_H
#define AC_TOOLS_H

#include <stdio.h>

/* ac_tools_hash runs `tool 'path'` (md5sum, sha256sum...) and returns the first word of its
 * output, the hex digest, in a static buffer overwritten by the next call. No output fails
 * the test. path must not contain a single quote. */
const char *ac_tools_hash(const char *tool, const char *path);

/* ac_tools_fitsverify_clean runs /usr/bin/fitsverify on path and fails the test unless it
 * reports 0 warnings and 0 errors. Without fitsverify it notes the skip on stdout and returns,
 * unless the environment sets AC_REQUIRE_FITSVERIFY (then the test fails). */
void ac_tools_fitsverify_clean(const char *path);

/* ac_tools_astrofiler_popen runs the Python script (AstroFiler's own code: its src folder,
 * ../shared/peers/astrofiler/src, is the script's sys.argv[1]) with /usr/bin/python3 on the
 * n paths (argv[2:]), its stderr in af.err, and returns the pipe of its stdout (pclose it). */
FILE *ac_tools_astrofiler_popen(const char *script, const char *const *paths, int n);

#endif
