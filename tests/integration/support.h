/*
 * support.h - helpers for the integration tests: run the real binaries, read FITS images
 * with cfitsio directly (independently of astrocald's own reader), run fitsverify.
 * Header-only: static functions, included by each integration test file.
 */
#ifndef AC_INTEG_SUPPORT_H
#define AC_INTEG_SUPPORT_H

#include <fcntl.h>
#include <fitsio.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

extern char **environ;

/* run_capture runs argv (NULL-terminated), captures stdout+stderr into a malloc'ed string
 * (*out, may be NULL) and returns the exit status (or 128 + signal). */
__attribute__((unused)) static int run_capture(char *const argv[], char **out)
{
    char path[] = "run-output-XXXXXX";
    posix_spawn_file_actions_t fa;
    int fd = mkstemp(path), status = 0;
    pid_t pid;

    ASSERT(fd >= 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, fd, STDERR_FILENO);
    ASSERT_OK(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ));
    posix_spawn_file_actions_destroy(&fa);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (out != NULL) {
        off_t len = lseek(fd, 0, SEEK_END);
        *out = calloc(1, (size_t)len + 1);
        ASSERT_NOT_NULL(*out);
        ASSERT_EQ(pread(fd, *out, (size_t)len, 0), len);
    }
    close(fd);
    unlink(path);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* read_image reads the first image HDU of path as doubles (independent of imgio). */
__attribute__((unused)) static double *read_image(const char *path, int *w, int *h)
{
    fitsfile *f = NULL;
    int status = 0, naxis = 0, anynul = 0;
    long naxes[3] = {0, 0, 0};
    double *px;

    fits_open_image(&f, path, READONLY, &status);
    if (status != 0)
        AC_TEST_FAIL("cfitsio cannot open %s: %d", path, status);
    fits_get_img_dim(f, &naxis, &status);
    fits_get_img_size(f, 3, naxes, &status);
    ASSERT_OK(status);
    *w = (int)naxes[0];
    *h = (int)naxes[1];
    px = malloc(sizeof(double) * (size_t)naxes[0] * (size_t)naxes[1]);
    ASSERT_NOT_NULL(px);
    fits_read_img(f, TDOUBLE, 1, naxes[0] * naxes[1], NULL, px, &anynul, &status);
    ASSERT_OK(status);
    fits_close_file(f, &status);
    return px;
}

/* read_key_double reads keyword key from the first image HDU of path. */
__attribute__((unused)) static double read_key_double(const char *path, const char *key)
{
    fitsfile *f = NULL;
    int status = 0;
    double v = NAN;

    fits_open_image(&f, path, READONLY, &status);
    fits_read_key(f, TDOUBLE, key, &v, NULL, &status);
    if (status != 0)
        AC_TEST_FAIL("%s: keyword %s not readable (status %d)", path, key, status);
    fits_close_file(f, &status);
    return v;
}

/* read_key_string returns keyword key of path as a string (static buffer), or NULL. */
__attribute__((unused)) static const char *read_key_string(const char *path, const char *key)
{
    static char buf[FLEN_VALUE];
    fitsfile *f = NULL;
    int status = 0;

    fits_open_image(&f, path, READONLY, &status);
    fits_read_key(f, TSTRING, key, buf, NULL, &status);
    if (status != 0) {
        status = 0;
        fits_close_file(f, &status);
        return NULL;
    }
    fits_close_file(f, &status);
    return buf;
}

/* assert_fitsverify_clean runs fitsverify on path and asserts no warnings and no errors.
 * Skipped (with a note) when fitsverify is absent, unless AC_REQUIRE_FITSVERIFY is set. */
__attribute__((unused)) static void assert_fitsverify_clean(const char *path)
{
    char *out = NULL;
    char *argv[] = {"/usr/bin/fitsverify", "-e", (char *)path, NULL};

    if (access(argv[0], X_OK) != 0) {
        if (getenv("AC_REQUIRE_FITSVERIFY") != NULL)
            AC_TEST_FAIL("fitsverify is required but not installed");
        printf("note: fitsverify not installed, skipped for %s\n", path);
        return;
    }
    run_capture(argv, &out);
    ASSERT_CONTAINS(out, "Verification found 0 warning(s) and 0 error(s)");
    free(out);
}

__attribute__((unused)) static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* count_tmp_files counts astrocald temporary files (".actmp-") in dir. */
__attribute__((unused)) static int count_tmp_files(const char *dir)
{
    char cmd[4096];
    char *out = NULL;
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    int n;

    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c actmp || true", dir);
    run_capture(argv, &out);
    n = atoi(out);
    free(out);
    return n;
}

#endif
