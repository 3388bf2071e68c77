/*
 * runner.c - runs the tests registered with TEST() (see test.h).
 *
 * Each test runs in a forked child whose working directory is a fresh mkdtemp directory
 * under $TMPDIR (removed afterwards unless AC_TEST_KEEP is set). The child's stdout and
 * stderr go to a file that is printed only when the test fails. A test fails when the
 * child exits non-zero, dies from a signal (assert/abort, sanitizer report) or outlives
 * its timeout (scaled by AC_TEST_TIMEOUT_MULTIPLIER). The last line is
 * "N passed, N failed", and the exit status is 0 only when nothing failed.
 * Arguments are fnmatch globs selecting tests (-l lists them); AC_TEST_SKIP holds globs,
 * separated by spaces, of tests to leave out (each reported as "ok - NAME # SKIP").
 */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AC_SOURCE_DIR
#define AC_SOURCE_DIR "."
#endif
#ifndef AC_BINARY_DIR
#define AC_BINARY_DIR "."
#endif

struct test_entry {
    const char *name;
    ac_test_fn fn;
    int timeout_s;
};

static struct test_entry *tests;
static size_t ntests, captests;
static char current_tmpdir[PATH_MAX];

void ac_test_register(const char *name, ac_test_fn fn, int timeout_s)
{
    if (ntests == captests) {
        captests = captests ? captests * 2 : 64;
        tests = realloc(tests, captests * sizeof *tests);
        if (tests == NULL)
            abort();
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    tests[ntests].timeout_s = timeout_s;
    ntests++;
}

const char *ac_test_tmpdir(void)
{
    return current_tmpdir;
}

const char *ac_test_srcdir(void)
{
    return AC_SOURCE_DIR;
}

const char *ac_test_bindir(void)
{
    return AC_BINARY_DIR;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct test_entry *)a)->name, ((const struct test_entry *)b)->name);
}

static void rm_rf(const char *dir)
{
    pid_t pid = fork();

    if (pid == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

static void dump_file(const char *path)
{
    char buf[4096];
    ssize_t n;
    int fd = open(path, O_RDONLY);

    if (fd < 0)
        return;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    close(fd);
}

static double elapsed_s(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* run_one returns 1 when the test passed. */
static int run_one(const struct test_entry *t, double multiplier)
{
    const char *tmp = getenv("TMPDIR");
    char logpath[PATH_MAX + 16];
    struct timespec t0;
    int status = 0, passed;
    double limit = t->timeout_s * multiplier;
    pid_t pid;

    snprintf(current_tmpdir, sizeof current_tmpdir, "%s/actest-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(current_tmpdir) == NULL) {
        printf("not ok - %s (mkdtemp: %s)\n", t->name, strerror(errno));
        return 0;
    }
    snprintf(logpath, sizeof logpath, "%s.log", current_tmpdir);
    fflush(stdout);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid = fork();
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        setpgid(0, 0);
        if (chdir(current_tmpdir) != 0)
            _exit(126);
        t->fn();
        fflush(NULL);
        _exit(0);
    }
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (elapsed_s(&t0) > limit) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            printf("not ok - %s (timeout after %.0f s)\n", t->name, limit);
            dump_file(logpath);
            status = -1;
            break;
        }
        struct timespec nap = {0, 2000000};
        nanosleep(&nap, NULL);
    }
    /* Kill anything the test left running in its process group (spawned daemons). */
    kill(-pid, SIGKILL);
    passed = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (status != -1) {
        if (passed) {
            printf("ok - %s (%.2f s)\n", t->name, elapsed_s(&t0));
        } else {
            if (WIFSIGNALED(status))
                printf("not ok - %s (signal %d)\n", t->name, WTERMSIG(status));
            else
                printf("not ok - %s (exit %d)\n", t->name, WEXITSTATUS(status));
            dump_file(logpath);
        }
    }
    if (getenv("AC_TEST_KEEP") == NULL) {
        rm_rf(current_tmpdir);
        unlink(logpath);
    } else {
        printf("# kept %s\n", current_tmpdir);
    }
    return passed;
}

static int selected(const char *name, int argc, char **argv)
{
    if (argc <= 1)
        return 1;
    for (int i = 1; i < argc; i++)
        if (fnmatch(argv[i], name, 0) == 0)
            return 1;
    return 0;
}

/* skipped: whether name matches one of AC_TEST_SKIP's space-separated globs (run-all
 * leaves single-threaded math and crash-loop tests out of the ThreadSanitizer run). */
static int skipped(const char *name)
{
    const char *list = getenv("AC_TEST_SKIP");
    char glob[256];

    while (list != NULL && *list != '\0') {
        size_t n = strcspn(list, " ");

        if (n > 0 && n < sizeof glob) {
            memcpy(glob, list, n);
            glob[n] = '\0';
            if (fnmatch(glob, name, 0) == 0)
                return 1;
        }
        list += n;
        list += strspn(list, " ");
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *mult_env = getenv("AC_TEST_TIMEOUT_MULTIPLIER");
    double mult = mult_env ? atof(mult_env) : 1.0;
    int passed = 0, failed = 0, skips = 0;

    if (mult <= 0)
        mult = 1.0;
    if (getenv("LSAN_OPTIONS") == NULL) { /* for ASan builds; children inherit it */
        char lsan[4200];
        snprintf(lsan, sizeof lsan, "suppressions=%s/tests/lsan.supp", ac_test_srcdir());
        setenv("LSAN_OPTIONS", lsan, 0);
    }
    signal(SIGPIPE, SIG_IGN);
    qsort(tests, ntests, sizeof *tests, cmp_entry);
    if (argc == 2 && strcmp(argv[1], "-l") == 0) {
        for (size_t i = 0; i < ntests; i++)
            printf("%s\n", tests[i].name);
        return 0;
    }
    for (size_t i = 0; i < ntests; i++) {
        if (!selected(tests[i].name, argc, argv))
            continue;
        if (skipped(tests[i].name)) {
            printf("ok - %s # SKIP (AC_TEST_SKIP)\n", tests[i].name);
            skips++;
            continue;
        }
        if (run_one(&tests[i], mult))
            passed++;
        else
            failed++;
    }
    if (skips > 0)
        printf("%d passed, %d failed (%d skipped by AC_TEST_SKIP)\n", passed, failed, skips);
    else
        printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
