/*
 * test-fsutil.c - temporary names, stale cleanup (planted links and directories included),
 * free space, mkdirs, the single-instance lock and the read-ahead hint (prefetch). Creating and
 * renaming output files is in test-outfile.c.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "test.h"

static void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, "x", 1), 1);
    close(fd);
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

TEST(fsutil_tmpname_format)
{
    char a[256], b[256], want[64];

    snprintf(want, sizeof want, "/data/out/.m31_calibrated.fits.actmp-%ld-", (long)getpid());
    ASSERT_OK(ac_fsutil_tmpname("/data/out/m31_calibrated.fits", a, sizeof a));
    ASSERT_OK(ac_fsutil_tmpname("/data/out/m31_calibrated.fits", b, sizeof b));
    ASSERT_EQ(strncmp(a, want, strlen(want)), 0);
    ASSERT_EQ(strncmp(b, want, strlen(want)), 0);
    /* The random suffix makes every name unique: 12 letters or digits. */
    ASSERT(strcmp(a, b) != 0);
    ASSERT_EQ(strlen(a), strlen(want) + 12);
    for (const char *p = a + strlen(want); *p != '\0'; p++)
        ASSERT(isalnum((unsigned char)*p));
    /* A bare name stays in the current directory. */
    ASSERT_OK(ac_fsutil_tmpname("x.fits", a, sizeof a));
    snprintf(want, sizeof want, ".x.fits.actmp-%ld-", (long)getpid());
    ASSERT_EQ(strncmp(a, want, strlen(want)), 0);
    /* Too small a buffer is refused, not truncated. */
    ASSERT_EQ(ac_fsutil_tmpname("/data/out/m31.fits", a, 12), -ENAMETOOLONG);
}

TEST(fsutil_tmpname_component_too_long)
{
    char name[300], out[600];

    memset(name, 'a', 250);
    strcpy(name + 250, ".fits"); /* 255 characters: legal alone, too long with the mark */
    ASSERT_EQ(ac_fsutil_tmpname(name, out, sizeof out), -ENAMETOOLONG);
}

TEST(fsutil_is_tmpname)
{
    char t[256];

    ASSERT_OK(ac_fsutil_tmpname("dir/a.fits", t, sizeof t));
    ASSERT(ac_fsutil_is_tmpname(t + 4));
    ASSERT(ac_fsutil_is_tmpname(".a.fits.actmp-123-0"));
    ASSERT(ac_fsutil_is_tmpname(".a.actmp-1-2.fits.actmp-77-8"));
    ASSERT(ac_fsutil_is_tmpname(".a.fits.fz.actmp-77-Qx7bZ09aKf2m")); /* random suffix */
    ASSERT(!ac_fsutil_is_tmpname(".a.fits.actmp-77-ab_c"));           /* not alphanumeric */
    ASSERT(!ac_fsutil_is_tmpname(".a.fits.actmp-77-ab/c"));
    ASSERT(!ac_fsutil_is_tmpname("a.fits"));
    ASSERT(!ac_fsutil_is_tmpname("a.fits.actmp-1-2"));      /* no leading dot */
    ASSERT(!ac_fsutil_is_tmpname(".a.fits.actmp-1-"));      /* no counter */
    ASSERT(!ac_fsutil_is_tmpname(".a.fits.actmp--2"));      /* no pid */
    ASSERT(!ac_fsutil_is_tmpname(".a.fits.actmp-1-2.bak")); /* something after it */
    ASSERT(!ac_fsutil_is_tmpname(".a.fits.actmp-x-2"));
    ASSERT(!ac_fsutil_is_tmpname("..actmp-1-2")); /* no final name */
    ASSERT(!ac_fsutil_is_tmpname(".hidden.fits"));
    ASSERT(!ac_fsutil_is_tmpname(NULL));
}

TEST(fsutil_clean_stale_removes_only_ours)
{
    ac_err_t e = {0};

    touch(".a.fits.actmp-123-0");
    touch(".b_calibrated.fits.actmp-9-41");
    touch("a.fits");
    touch(".a.fits.actmp-1-2.bak");
    touch("notes.actmp-1-2");
    ASSERT_OK(mkdir(".d.fits.actmp-5-5", 0755)); /* a directory is never removed */
    ASSERT_OK(symlink("a.fits", ".l.fits.actmp-5-6"));
    ASSERT_EQ(ac_fsutil_clean_stale(".", &e), 2);
    ASSERT(!exists(".a.fits.actmp-123-0"));
    ASSERT(!exists(".b_calibrated.fits.actmp-9-41"));
    ASSERT(exists("a.fits"));
    ASSERT(exists(".a.fits.actmp-1-2.bak"));
    ASSERT(exists("notes.actmp-1-2"));
    ASSERT(exists(".d.fits.actmp-5-5"));
    ASSERT(exists(".l.fits.actmp-5-6"));
    ASSERT_EQ(ac_fsutil_clean_stale(".", &e), 0);
    ASSERT_EQ(ac_fsutil_clean_stale("missing-dir", &e), -ENOENT);
    ASSERT_CONTAINS(e.msg, "missing-dir");
}

TEST(fsutil_clean_stale_one_level_down_never_through_links)
{
    /* Start-up cleanup of output_dir: its per-file subdirectories too, every kind of our
     * temporary (outputs, compressed outputs, masters; old counter and new random names),
     * never through a symbolic link, never a non-regular file, never a name not ours. */
    ac_err_t e = {0};
    struct stat st;

    ASSERT_OK(mkdir("out", 0755));
    ASSERT_OK(mkdir("out/42", 0755));
    ASSERT_OK(mkdir("out/42/deeper", 0755));
    ASSERT_OK(mkdir("outside", 0755));
    touch("out/.L_calibrated.fits.actmp-9-3");
    touch("out/.L_calibrated.fits.fz.actmp-9-aZ09aZ09aZ09");
    touch("out/.Master-Bias.fits.actmp-12-Zy3kQ0pL9xWe");
    touch("out/42/.L_calibrated.fits.actmp-9-Qx7bZ09aKf2m");
    touch("out/42/L_calibrated.fits");
    touch("out/42/deeper/.L.fits.actmp-1-1"); /* two levels down: not ours to walk */
    touch("outside/.x.fits.actmp-1-1");
    touch("outside/victim.fits");
    ASSERT_OK(symlink("../outside", "out/linkdir"));                       /* not followed */
    ASSERT_OK(symlink("../outside/victim.fits", "out/.v.fits.actmp-1-2")); /* link kept */
    ASSERT_OK(symlink("/nonexistent/x", "out/.d.fits.actmp-1-3"));         /* dangling: kept */
    ASSERT_OK(mkdir("out/.dir.fits.actmp-1-4", 0755));
    ASSERT_OK(mkfifo("out/.p.fits.actmp-1-5", 0644));
    ASSERT_EQ(ac_fsutil_clean_stale("out", &e), 4);
    ASSERT(!exists("out/.L_calibrated.fits.actmp-9-3"));
    ASSERT(!exists("out/.L_calibrated.fits.fz.actmp-9-aZ09aZ09aZ09"));
    ASSERT(!exists("out/.Master-Bias.fits.actmp-12-Zy3kQ0pL9xWe"));
    ASSERT(!exists("out/42/.L_calibrated.fits.actmp-9-Qx7bZ09aKf2m"));
    ASSERT(exists("out/42/L_calibrated.fits"));
    ASSERT(exists("out/42/deeper/.L.fits.actmp-1-1"));
    ASSERT(exists("outside/.x.fits.actmp-1-1"));
    ASSERT_OK(stat("outside/victim.fits", &st));
    ASSERT_EQ(st.st_size, 1);
    ASSERT(exists("out/.v.fits.actmp-1-2"));
    ASSERT(exists("out/.d.fits.actmp-1-3"));
    ASSERT(exists("out/.dir.fits.actmp-1-4"));
    ASSERT(exists("out/.p.fits.actmp-1-5"));
    /* The configured folder itself may be reached through a link (/data -> /mnt/disk):
     * it is the folder it names, cleaned like any other. */
    ASSERT_OK(symlink("outside", "linked-out"));
    ASSERT_EQ(ac_fsutil_clean_stale("linked-out", &e), 1);
    ASSERT(!exists("outside/.x.fits.actmp-1-1"));
    ASSERT(exists("outside/victim.fits"));
}

TEST(fsutil_clean_stale_for_one_name_only)
{
    ac_err_t e = {0};

    ASSERT_OK(mkdir("out", 0755));
    touch("out/.a.fits.actmp-1-1");
    touch("out/.a.fits.actmp-1-Qx7bZ09aKf2m");
    touch("out/.ab.fits.actmp-1-1");
    ASSERT_OK(mkdir("out/sub", 0755));
    touch("out/sub/.a.fits.actmp-1-2");
    ASSERT_OK(symlink("/nonexistent", "out/.a.fits.actmp-1-3"));
    ASSERT_EQ(ac_fsutil_clean_stale_for("out/a.fits", &e), 2);
    ASSERT(exists("out/.ab.fits.actmp-1-1"));
    ASSERT(exists("out/sub/.a.fits.actmp-1-2")); /* not recursive */
    ASSERT(exists("out/.a.fits.actmp-1-3"));
}

TEST(fsutil_free_bytes)
{
    ac_err_t e = {0};
    uint64_t n = 0;

    ASSERT_OK(ac_fsutil_free_bytes(".", &n, &e));
    ASSERT(n > 0);
    ASSERT_EQ(ac_fsutil_free_bytes("no/such/dir", &n, &e), -ENOENT);
    ASSERT_CONTAINS(e.msg, "no/such/dir");
}

TEST(fsutil_mkdirs)
{
    ac_err_t e = {0};
    struct stat st;

    ASSERT_OK(ac_fsutil_mkdirs("a/b/c/", &e));
    ASSERT_OK(stat("a/b/c", &st));
    ASSERT(S_ISDIR(st.st_mode));
    ASSERT_OK(ac_fsutil_mkdirs("a/b/c", &e)); /* existing is fine */
    ASSERT_OK(ac_fsutil_mkdirs("a//b/d", &e));
    ASSERT_OK(stat("a/b/d", &st));
    /* An absolute path works too. */
    char abs[1024];
    snprintf(abs, sizeof abs, "%s/x/y", ac_test_tmpdir());
    ASSERT_OK(ac_fsutil_mkdirs(abs, &e));
    ASSERT_OK(stat(abs, &st));
    /* A file in the way is an error naming it. */
    touch("a/file");
    ASSERT_EQ(ac_fsutil_mkdirs("a/file/z", &e), -ENOTDIR);
    ASSERT_CONTAINS(e.msg, "a/file");
}

TEST(fsutil_lock_excludes_second_process)
{
    ac_err_t e = {0};
    int fd, status;
    pid_t pid;

    fd = ac_fsutil_lock("astrocald.lock", &e);
    ASSERT(fd >= 0);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        ac_err_t ce = {0};
        int rc = ac_fsutil_lock("astrocald.lock", &ce);
        _exit(rc == -EWOULDBLOCK && strstr(ce.msg, "astrocald.lock") != NULL ? 0 : 1);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    /* Released when the holder closes it: another process may take it then. */
    close(fd);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int rc = ac_fsutil_lock("astrocald.lock", NULL);
        _exit(rc >= 0 ? 0 : 1);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
}

TEST(fsutil_lock_writes_pid)
{
    char buf[32] = {0}, want[32];
    int fd, rfd;

    fd = ac_fsutil_lock("l.lock", NULL);
    ASSERT(fd >= 0);
    rfd = open("l.lock", O_RDONLY);
    ASSERT(rfd >= 0);
    ASSERT(read(rfd, buf, sizeof buf - 1) > 0);
    snprintf(want, sizeof want, "%ld\n", (long)getpid());
    ASSERT_STR_EQ(buf, want);
    close(rfd);
    close(fd);
    ASSERT_EQ(ac_fsutil_lock("nodir/l.lock", NULL), -ENOENT);
}

/* resident counts the pages of the file at fd (len bytes) in the page cache. */
static size_t resident(int fd, size_t len)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t pages = (len + (size_t)page - 1) / (size_t)page, n = 0;
    unsigned char *vec = malloc(pages);
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);

    ASSERT_NOT_NULL(vec);
    ASSERT(map != MAP_FAILED);
    ASSERT_OK(mincore(map, len, vec));
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    munmap(map, len);
    free(vec);
    return n;
}

TEST(fsutil_prefetch_reads_an_evicted_file_back_in)
{
    /* Larger than any device's read-ahead window (one hint alone reads at most that). */
    const size_t len = 24u << 20, pages = len / (size_t)sysconf(_SC_PAGESIZE);
    char *buf = malloc(len);
    int fd = open("big.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
    size_t before;

    ASSERT_NOT_NULL(buf);
    ASSERT(fd >= 0);
    memset(buf, 7, len);
    ASSERT_EQ(write(fd, buf, len), (ssize_t)len);
    ASSERT_OK(fdatasync(fd));
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); /* clean pages: evicted */
    before = resident(fd, len);
    ASSERT_EQ(ac_fsutil_prefetch("big.bin"), (long long)len);
    ASSERT_EQ(ac_fsutil_prefetch("no-such-file.bin"), -1); /* a hint: ignored */
    /* The read-ahead is asynchronous: wait for it (up to 5 s). */
    for (int i = 0; i < 500 && resident(fd, len) < pages; i++)
        usleep(10000);
    fprintf(stderr, "resident pages: %zu before, %zu after, of %zu\n", before,
            resident(fd, len), pages);
    ASSERT_EQ(resident(fd, len), pages);
    close(fd);
    free(buf);
}
