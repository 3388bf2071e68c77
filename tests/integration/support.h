/*
 * support.h - helpers for the integration tests: run the real binaries, read FITS images
 * with cfitsio directly (independently of astrocald's own reader, through
 * tests/support/fitsread.h), run fitsverify, look at files. Defined once in support.c,
 * compiled into astrocald_integration. Failures fail the test. Thread: the test's thread.
 */
#ifndef AC_INTEG_SUPPORT_H
#define AC_INTEG_SUPPORT_H

#include <fcntl.h>
#include <fitsio.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* run_capture runs argv (NULL-terminated, argv[0] a path) with this process's environment,
 * captures its stdout and stderr into a string owned by the caller (*out, free; out may be
 * NULL) and returns the exit status (or 128 + signal). It uses a temporary file in the
 * working directory. */
int run_capture(char *const argv[], char **out);

/* read_image reads the first image plane of path as doubles, owned by the caller (free);
 * *w and *h receive its size. */
double *read_image(const char *path, int *w, int *h);

/* read_key_double returns keyword key of path's image HDU as a number (fails when absent). */
double read_key_double(const char *path, const char *key);

/* read_key_string returns keyword key of path's image HDU as a string in a static buffer
 * overwritten by the next call, or NULL when absent. */
const char *read_key_string(const char *path, const char *key);

/* assert_fitsverify_clean asserts that fitsverify finds no warning and no error in path
 * (ac_tools_fitsverify_clean: skipped with a note when fitsverify is absent, unless
 * AC_REQUIRE_FITSVERIFY is set). */
void assert_fitsverify_clean(const char *path);

/* file_exists says whether path exists. */
bool file_exists(const char *path);

/* count_tmp_files counts astrocald temporary files (".actmp-") in dir. */
int count_tmp_files(const char *dir);

#endif
