/*
 * outfile.c - creating an output file safely in a folder others may write to (see
 * outfile.h for the rules; fsutil.c for the durability steps).
 *
 * Why each check: astrocald may run as root in folders other users can write to. A name
 * planted at a temporary name must never be opened (O_EXCL|O_NOFOLLOW on a fresh random
 * name; a taken name is retried, so a plant cannot block the write either). Between
 * create and commit the folder, the temporary name or the final name may be changed by
 * someone else: every operation goes through the folder descriptor, and commit compares
 * what the names hold (lstat-style, never following a link) with the inode created, before
 * and after the rename, so a symbolic link never ends up under the final name and a path
 * recorded in the catalogue names the file astrocald wrote.
 *
 * Thread: an ac_outfile_t is used by one thread at a time; no shared state but the
 * test-only name hook.
 */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "util.h"

/* Temporary names tried before giving up: each is random, so only a folder flooded with
 * our names (or a broken random source) could exhaust them. */
#define MAX_TRIES 100

static ac_outfile_name_fn name_hook;

void ac_outfile_set_name_hook(ac_outfile_name_fn fn)
{
    name_hook = fn;
}

void ac_outfile_init(ac_outfile_t *f)
{
    memset(f, 0, sizeof *f);
    f->dirfd = -1;
    f->fd = -1;
}

/* is_ours says whether name in f's folder is, without following a link, the file created. */
static bool is_ours(const ac_outfile_t *f, const char *name, struct stat *st)
{
    return fstatat(f->dirfd, name, st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st->st_mode) &&
           st->st_dev == f->dev && st->st_ino == f->ino;
}

void ac_outfile_discard(ac_outfile_t *f)
{
    struct stat st;

    if (f == NULL)
        return;
    if (f->fd >= 0)
        close(f->fd);
    /* Only our own file: something put at the name meanwhile is not ours to remove. */
    if (f->tmp[0] != '\0' && f->dirfd >= 0 && is_ours(f, f->tmp, &st) &&
        unlinkat(f->dirfd, f->tmp, 0) != 0)
        ac_log_warn("could not remove temporary file %s/%s: %s", f->dir, f->tmp,
                    strerror(errno));
    if (f->dirfd >= 0)
        close(f->dirfd);
    f->fd = f->dirfd = -1;
    f->tmp[0] = '\0';
}

/* open_dir opens the folder f->dir (ac_fsutil_open_dir) and records its identity. */
static int open_dir(ac_outfile_t *f, ac_err_t *e)
{
    struct stat st;
    int fd = ac_fsutil_open_dir(f->dir);

    if (fd >= 0 && fstat(fd, &st) != 0) {
        close(fd);
        fd = -errno;
    }
    if (fd < 0)
        return ac_err_set(e, fd, "creating a temporary file for %s in %s: %s", f->path, f->dir,
                          strerror(-fd));
    f->dirfd = fd;
    f->dir_dev = st.st_dev;
    f->dir_ino = st.st_ino;
    return 0;
}

int ac_outfile_create(ac_outfile_t *f, const char *final_path, ac_err_t *e)
{
    const char *base = ac_path_base(final_path);
    struct stat st;
    int rc, tries;

    ac_outfile_init(f);
    if (ac_strlcpy(f->path, final_path, sizeof f->path) >= sizeof f->path ||
        ac_strlcpy(f->name, base, sizeof f->name) >= sizeof f->name)
        return ac_err_set(e, -ENAMETOOLONG, "writing %s: name too long", final_path);
    if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return ac_err_set(e, -EINVAL, "writing %s: not a file name", final_path);
    ac_path_dir(final_path, f->dir, sizeof f->dir);
    if ((rc = open_dir(f, e)) != 0)
        goto fail;
    for (tries = 0; tries < MAX_TRIES; tries++) {
        if ((name_hook ? name_hook(base, tries, f->tmp, sizeof f->tmp)
                       : ac_fsutil_tmpname(base, f->tmp, sizeof f->tmp)) != 0) {
            rc = ac_err_set(e, -ENAMETOOLONG, "writing %s: name too long", final_path);
            goto fail;
        }
        f->fd =
            openat(f->dirfd, f->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (f->fd >= 0 || (errno != EEXIST && errno != EINTR))
            break;
        ac_log_debug("temporary name %s/%s is taken; trying another", f->dir, f->tmp);
    }
    if (f->fd < 0 || fstat(f->fd, &st) != 0) {
        rc = -errno;
        ac_err_set(e, rc, "creating a temporary file for %s in %s: %s%s", final_path, f->dir,
                   strerror(-rc), tries == MAX_TRIES ? " (every name tried is taken)" : "");
        if (f->fd < 0)
            f->tmp[0] = '\0'; /* never created: nothing of ours to remove */
        goto fail;
    }
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    return 0;
fail:
    ac_outfile_discard(f);
    return rc;
}

/* check_folder says whether the folder path still names the folder opened at create. */
static int check_folder(const ac_outfile_t *f, ac_err_t *e)
{
    struct stat st;
    int fd = ac_fsutil_open_dir(f->dir), rc = 0;

    if (fd < 0)
        rc = fd;
    else if (fstat(fd, &st) != 0)
        rc = -errno;
    else if (st.st_dev != f->dir_dev || st.st_ino != f->dir_ino)
        rc = -ESTALE;
    if (fd >= 0)
        close(fd);
    if (rc == -ESTALE)
        return ac_err_set(e, rc, "writing %s: the folder %s was replaced during the write",
                          f->path, f->dir);
    if (rc != 0)
        return ac_err_set(e, rc, "writing %s: the folder %s: %s", f->path, f->dir,
                          strerror(-rc));
    return 0;
}

/* check_final refuses a final name that holds anything but a regular file. */
static int check_final(const ac_outfile_t *f, ac_err_t *e)
{
    struct stat st;
    int rc;

    if (fstatat(f->dirfd, f->name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return 0;
        rc = -errno;
        return ac_err_set(e, rc, "writing %s: %s", f->path, strerror(-rc));
    }
    if (S_ISREG(st.st_mode))
        return 0; /* an earlier output: replaced */
    if (S_ISLNK(st.st_mode))
        return ac_err_set(e, -ELOOP,
                          "refusing to replace %s: it is a symbolic link (astrocald replaces "
                          "only regular files; remove it)",
                          f->path);
    if (S_ISDIR(st.st_mode))
        return ac_err_set(e, -EISDIR, "refusing to replace %s: it is a directory", f->path);
    return ac_err_set(e, -EEXIST, "refusing to replace %s: it is not a regular file", f->path);
}

int ac_outfile_commit(ac_outfile_t *f, bool durable, ac_err_t *e)
{
    struct stat st;
    int rc = close(f->fd);

    f->fd = -1;
    if (rc != 0) {
        rc = -errno;
        ac_err_set(e, rc, "closing %s/%s: %s", f->dir, f->tmp, strerror(-rc));
        goto fail;
    }
    if ((rc = check_folder(f, e)) != 0 || (rc = check_final(f, e)) != 0)
        goto fail;
    errno = 0;
    if (!is_ours(f, f->tmp, &st)) {
        rc = errno == ENOENT ? -ENOENT : -ESTALE;
        ac_err_set(e, rc, "renaming %s/%s to %s: %s", f->dir, f->tmp, f->path,
                   rc == -ENOENT ? "No such file or directory (removed meanwhile)"
                                 : "the temporary file was replaced meanwhile");
        goto fail;
    }
    if (renameat(f->dirfd, f->tmp, f->dirfd, f->name) != 0) {
        rc = -errno;
        ac_err_set(e, rc, "renaming %s/%s to %s: %s", f->dir, f->tmp, f->path, strerror(-rc));
        goto fail;
    }
    f->tmp[0] = '\0';
    /* A swap between the checks and the rename would show here. */
    if (!is_ours(f, f->name, &st)) {
        if (fstatat(f->dirfd, f->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            unlinkat(f->dirfd, f->name, 0); /* the link itself, never its target */
        rc = ac_err_set(e, -ESTALE, "writing %s: the file was replaced during the rename",
                        f->path);
        goto fail;
    }
    if (durable && fsync(f->dirfd) != 0) {
        rc = -errno;
        ac_err_set(e, rc, "syncing directory %s: %s", f->dir, strerror(-rc));
        goto fail;
    }
    rc = 0;
fail:
    ac_outfile_discard(f);
    return rc;
}
