/*
 * fsutil.c - filesystem helpers: temporary names, free space, stale temporary cleanup,
 * directories, single-instance lock (see fsutil.h).
 *
 * How an output file becomes durable, step by step (the writer is imgout.c, the file
 * handling outfile.c):
 *   1. The data is written to ".<final base>.actmp-<pid>-<random>" in the final directory,
 *      a file created new (O_EXCL, O_NOFOLLOW). A crash here leaves only that temporary
 *      file; the final name does not exist (or still holds the previous, complete version).
 *   2. The writer fdatasyncs the temporary file (when durable). After this the bytes are on
 *      the disk, but a crash still leaves them under the temporary name only.
 *   3. ac_outfile_commit renames the file over the final name: rename(2) is atomic, so
 *      readers see either the old file or the whole new one, never a mix.
 *   4. It then fsyncs the directory (when durable), which makes the rename itself survive a
 *      power loss. A crash between 3 and 4 may, after recovery, show either name; both
 *      carry complete data because of step 2.
 * Recovery: ac_fsutil_clean_stale removes the temporary files that a crash left behind in
 * a directory; a job whose output is missing is simply run again.
 *
 * Temporary names carry the pid and 12 random letters or digits (getrandom; a counter and
 * the clock when it fails), so they are not predictable and writers on several threads and
 * processes do not collide; a taken name is simply replaced by a new one (outfile.c).
 * ac_fsutil_lock keeps a second daemon from writing the same directories: the flock lives
 * as long as the returned descriptor.
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
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define RANDOM_CHARS 12

static atomic_ulong tmp_counter;

/* random_suffix writes RANDOM_CHARS letters and digits and a NUL into out. */
static void random_suffix(char *out)
{
    static const char alphabet[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char r[RANDOM_CHARS];

    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        /* No entropy yet (early boot): unique, if guessable; O_EXCL still protects. */
        struct timespec ts;
        uint64_t x;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
            ((uint64_t)atomic_fetch_add(&tmp_counter, 1) << 48) ^ (uint64_t)getpid();
        for (size_t i = 0; i < sizeof r; i++) {
            x += 0x9e3779b97f4a7c15ull; /* splitmix64 */
            uint64_t z = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            r[i] = (unsigned char)(z ^ (z >> 31));
        }
    }
    for (size_t i = 0; i < sizeof r; i++)
        out[i] = alphabet[r[i] % (sizeof alphabet - 1)];
    out[RANDOM_CHARS] = '\0';
}

int ac_fsutil_tmpname(const char *final_path, char *out, size_t size)
{
    const char *base = ac_path_base(final_path);
    size_t dirlen = (size_t)(base - final_path);
    char rnd[RANDOM_CHARS + 1];
    int len;

    if (size == 0)
        return -ENAMETOOLONG;
    random_suffix(rnd);
    len = snprintf(out, size, "%.*s.%s" AC_TMP_MARK "%ld-%s", (int)dirlen, final_path, base,
                   (long)getpid(), rnd);
    if (len < 0 || (size_t)len >= size || strlen(ac_path_base(out)) > NAME_MAX) {
        out[0] = '\0';
        return -ENAMETOOLONG;
    }
    return 0;
}

/* all_of says whether s[0..n) is a non-empty run of characters accepted by is. */
static bool all_of(const char *s, size_t n, int (*is)(int))
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is((unsigned char)s[i]))
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
    /* The pid, then the random suffix (digits only in names of earlier versions). */
    return all_of(p, (size_t)(dash - p), isdigit) &&
           all_of(dash + 1, strlen(dash + 1), isalnum);
}

int ac_fsutil_open_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    return fd >= 0 ? fd : -errno;
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

/* is_dot says whether name is "." or "..". */
static bool is_dot(const char *name)
{
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* clean_fd removes our temporary files from the directory open as fd (taken over: closed
 * here), named shown in messages; with prefix, only those whose name starts with it. With
 * depth > 0 it also cleans the subdirectories that are real directories (a symbolic link is
 * never followed) down to depth levels, ignoring their errors. Only regular files are
 * removed, never a directory, a symbolic link's target or another file type. Returns how
 * many were removed, or -errno. */
static int clean_fd(int fd, const char *shown, const char *prefix, int depth, ac_err_t *e)
{
    DIR *d = fdopendir(fd);
    struct dirent *de;
    int removed = 0, rc = 0;

    if (d == NULL) {
        rc = -errno;
        close(fd);
        return ac_err_set(e, rc, "cleaning temporary files in %s: %s", shown, strerror(-rc));
    }
    while ((errno = 0, de = readdir(d)) != NULL) {
        bool ours = ac_fsutil_is_tmpname(de->d_name) &&
                    (prefix == NULL || strncmp(de->d_name, prefix, strlen(prefix)) == 0);
        struct stat st;

        if (is_dot(de->d_name) || (!ours && depth == 0) ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth > 0) {
            char sub[PATH_MAX];
            int sfd =
                openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            snprintf(sub, sizeof sub, "%s/%s", shown, de->d_name);
            int n = sfd >= 0 ? clean_fd(sfd, sub, prefix, depth - 1, NULL) : 0;
            removed += n > 0 ? n : 0;
            continue;
        }
        if (!ours || !S_ISREG(st.st_mode))
            continue;
        /* Replaced since fstatat: a symbolic link is removed itself, a directory stays. */
        if (unlinkat(dirfd(d), de->d_name, 0) != 0) {
            if (errno == ENOENT || errno == EISDIR)
                continue;
            rc = -errno;
            ac_err_set(e, rc, "removing stale temporary file %s/%s: %s", shown, de->d_name,
                       strerror(-rc));
            goto out;
        }
        removed++;
    }
    if (errno != 0) {
        rc = -errno;
        ac_err_set(e, rc, "reading directory %s: %s", shown, strerror(-rc));
    }
out:
    closedir(d);
    return rc != 0 ? rc : removed;
}

/* clean_dir opens the configured folder dir and cleans it (see clean_fd: entries and
 * subfolders inside it are never followed through a symbolic link). */
static int clean_dir(const char *dir, const char *prefix, int depth, ac_err_t *e)
{
    int fd = ac_fsutil_open_dir(dir);

    if (fd < 0)
        return ac_err_set(e, fd, "cleaning temporary files in %s: %s", dir, strerror(-fd));
    return clean_fd(fd, dir, prefix, depth, e);
}

int ac_fsutil_clean_stale(const char *dir, ac_err_t *e)
{
    /* One level down: outputs of lights sharing a name go to output_dir/<file id>/. */
    return clean_dir(dir, NULL, 1, e);
}

int ac_fsutil_clean_stale_for(const char *final_path, ac_err_t *e)
{
    char dir[PATH_MAX], prefix[NAME_MAX + 16];

    ac_path_dir(final_path, dir, sizeof dir);
    snprintf(prefix, sizeof prefix, ".%s%s", ac_path_base(final_path), AC_TMP_MARK);
    return clean_dir(dir, prefix, 0, e);
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
        if (mkdir(path, 0777) != 0) {
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

/* The pieces of ac_fsutil_prefetch: the kernel's smallest usual read-ahead window
 * (VM_READAHEAD_PAGES), so that each hint is read whole (force_page_cache_ra caps one hint
 * at the device's window). */
#define PREFETCH_PIECE (128 << 10)

long long ac_fsutil_prefetch(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    long long size = -1;

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) == 0) {
        size = (long long)st.st_size;
        for (long long off = 0; off < size; off += PREFETCH_PIECE)
            (void)posix_fadvise(fd, (off_t)off, PREFETCH_PIECE, POSIX_FADV_WILLNEED);
    }
    close(fd);
    return size;
}

int ac_fsutil_pread_full(int fd, const char *path, void *buf, size_t len, long long off,
                         ac_err_t *e)
{
    size_t got = 0;

    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + (long long)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int rc = -errno;
            return ac_err_set(e, rc, "%s: read failed at byte %lld: %s", path,
                              off + (long long)got, strerror(-rc));
        }
        if (r == 0)
            return ac_err_set(e, AC_EFITS,
                              "%s: truncated: the file ended at byte %lld while reading "
                              "its data",
                              path, off + (long long)got);
        got += (size_t)r;
    }
    return 0;
}
