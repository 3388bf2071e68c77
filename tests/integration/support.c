/*
 * support.c - helpers for the integration tests; the contract is in support.h.
 */
#include "support.h"

#include "fitsread.h"
#include "tools.h"

extern char **environ;

int run_capture(char *const argv[], char **out)
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

double *read_image(const char *path, int *w, int *h)
{
    ac_fitsread_info_t info;
    double *px = ac_fitsread_image(path, &info);

    *w = info.w;
    *h = info.h;
    return px;
}

double read_key_double(const char *path, const char *key)
{
    return ac_fitsread_double(path, key);
}

const char *read_key_string(const char *path, const char *key)
{
    return ac_fitsread_string(path, key);
}

void assert_fitsverify_clean(const char *path)
{
    ac_tools_fitsverify_clean(path);
}

bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int count_tmp_files(const char *dir)
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
