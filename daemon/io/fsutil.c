/*
 * fsutil.c - filesystem helpers: temporary names, durable rename, directory fsync, free
 * space, stale temporary cleanup, single-instance lock (see fsutil.h).
 *
 * How an output file becomes durable, step by step (the writer is imgout.c):
 *   1. The data is written to ".<final base>.actmp-<pid>-<n>" in the final directory. A
 *      crash here leaves only that temporary file; the final name does not exist (or still
 *      holds the previous, complete version).
 *   2. The writer fdatasyncs the temporary file (when durable). After this the bytes are on
 *      the disk, but a crash still leaves them under the temporary name only.
 *   3. ac_fsutil_rename_durable renames the file over the final name: rename(2) is atomic,
 *      so readers see either the old file or the whole new one, never a mix.
 *   4. It then fsyncs the directory (when durable), which makes the rename itself survive a
 *      power loss. A crash between 3 and 4 may, after recovery, show either name; both
 *      carry complete data because of step 2.
 * Recovery: ac_fsutil_clean_stale removes the temporary files that a crash left behind in
 * a directory; a job whose output is missing is simply run again.
 *
 * Temporary names carry the pid and a process-wide atomic counter, so writers on several
 * threads (and several processes) never collide. ac_fsutil_lock keeps a second daemon from
 * writing the same directories: the flock lives as long as the returned descriptor.
 *
 * Thread: every function is safe on any thread; the only shared state is the counter.
 */
#include "fsutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static atomic_ulong tmp_counter;

int ac_fsutil_tmpname(const char *final_path, char *out, size_t size)
{
    const char *base = ac_path_base(final_path);
    size_t dirlen = (size_t)(base - final_path);
    unsigned long n = atomic_fetch_add(&tmp_counter, 1);
    int len;

    if (size == 0)
        return -ENAMETOOLONG;
    len = snprintf(out, size, "%.*s.%s" AC_TMP_MARK "%ld-%lu", (int)dirlen, final_path, base,
                   (long)getpid(), n);
    if (len < 0 || (size_t)len >= size || strlen(ac_path_base(out)) > NAME_MAX) {
        out[0] = '\0';
        return -ENAMETOOLONG;
    }
    return 0;
}

/* all_digits says whether s[0..n) is a non-empty run of decimal digits. */
static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

bool ac_fsutil_is_tmpname(const char *base)
{
    const char *mark, *dash, *p;

    if (base == NULL || base[0] != '.')
        return false;
    /* The last mark counts: the final name itself may contain ".actmp-". */
    mark = NULL;
    for (p = base + 1; (p = strstr(p, AC_TMP_MARK)) != NULL; p++)
        mark = p;
    if (mark == NULL || mark == base + 1)
        return false;
    p = mark + strlen(AC_TMP_MARK);
    dash = strchr(p, '-');
    if (dash == NULL)
        return false;
    return all_digits(p, (size_t)(dash - p)) && all_digits(dash + 1, strlen(dash + 1));
}

int ac_fsutil_fsync_dir(const char *path, ac_err_t *e)
{
    char dir[PATH_MAX];
    int fd, rc = 0;

    ac_path_dir(path, dir, sizeof dir);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        return ac_err_set(e, rc, "opening directory %s to sync it: %s", dir, strerror(-rc));
    }
    if (fsync(fd) != 0) {
        rc = -errno;
        ac_err_set(e, rc, "syncing directory %s: %s", dir, strerror(-rc));
    }
    close(fd);
    return rc;
}

int ac_fsutil_rename_durable(const char *tmp, const char *final, bool durable, ac_err_t *e)
{
    if (rename(tmp, final) != 0) {
        int rc = -errno;
        return ac_err_set(e, rc, "renaming %s to %s: %s", tmp, final, strerror(-rc));
    }
    if (durable)
        return ac_fsutil_fsync_dir(final, e);
    return 0;
}

int ac_fsutil_free_bytes(const char *dir, uint64_t *bytes, ac_err_t *e)
{
    struct statvfs st;

    if (statvfs(dir, &st) != 0) {
        int rc = -errno;
        return ac_err_set(e, rc, "checking free space on %s: %s", dir, strerror(-rc));
    }
    *bytes = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
    return 0;
}

/* clean_matching removes our temporary files in dir; with prefix, only those whose name
 * starts with it (the temporary files of one final name). */
static int clean_matching(const char *dir, const char *prefix, ac_err_t *e)
{
    DIR *d = NULL;
    struct dirent *de;
    int removed = 0, rc = 0;

    d = opendir(dir);
    if (d == NULL) {
        rc = -errno;
        return ac_err_set(e, rc, "cleaning temporary files in %s: %s", dir, strerror(-rc));
    }
    while ((errno = 0, de = readdir(d)) != NULL) {
        struct stat st;

        if (!ac_fsutil_is_tmpname(de->d_name) ||
            (prefix != NULL && strncmp(de->d_name, prefix, strlen(prefix)) != 0))
            continue;
        /* Only regular files: never a directory or whatever a symlink points to. */
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) != 0) {
            if (errno == ENOENT)
                continue;
            rc = -errno;
            ac_err_set(e, rc, "removing stale temporary file %s/%s: %s", dir, de->d_name,
                       strerror(-rc));
            goto out;
        }
        removed++;
    }
    if (errno != 0) {
        rc = -errno;
        ac_err_set(e, rc, "reading directory %s: %s", dir, strerror(-rc));
    }
out:
    closedir(d);
    return rc != 0 ? rc : removed;
}

int ac_fsutil_clean_stale(const char *dir, ac_err_t *e)
{
    return clean_matching(dir, NULL, e);
}

int ac_fsutil_clean_stale_for(const char *final_path, ac_err_t *e)
{
    char dir[PATH_MAX], prefix[NAME_MAX + 16];
    const char *base = strrchr(final_path, '/');

    ac_path_dir(final_path, dir, sizeof dir);
    snprintf(prefix, sizeof prefix, ".%s%s", base != NULL ? base + 1 : final_path, AC_TMP_MARK);
    return clean_matching(dir, prefix, e);
}

int ac_fsutil_mkdirs(const char *dir, ac_err_t *e)
{
    char path[PATH_MAX];
    size_t len = ac_strlcpy(path, dir, sizeof path);
    struct stat st;

    if (len == 0)
        return ac_err_set(e, -EINVAL, "creating directory: empty path");
    if (len >= sizeof path)
        return ac_err_set(e, -ENAMETOOLONG, "creating directory %s: path too long", dir);
    /* Create each prefix ending before a '/', then the whole path. */
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0) {
            int err = errno;
            if (err != EEXIST || stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
                if (err == EEXIST)
                    err = ENOTDIR;
                return ac_err_set(e, -err, "creating directory %s: %s", path, strerror(err));
            }
        }
        path[i] = saved;
    }
    return 0;
}

int ac_fsutil_lock(const char *path, ac_err_t *e)
{
    char pid[32];
    int fd, rc, n;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        return ac_err_set(e, rc, "opening lock file %s: %s", path, strerror(-rc));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rc = -errno;
        close(fd);
        if (rc == -EWOULDBLOCK)
            return ac_err_set(e, rc,
                              "lock file %s is held by another process (is astrocald "
                              "already running?)",
                              path);
        return ac_err_set(e, rc, "locking %s: %s", path, strerror(-rc));
    }
    /* The pid is only for people looking at the file; the flock is what counts. */
    n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        ac_log_debug("could not write the pid into lock file %s (the lock is held)", path);
    return fd;
}
