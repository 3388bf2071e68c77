/*
 * recalfile.c - replacing an output with its recalibration (see recalfile.h).
 *
 * Thread: any.
 */
#include "recalfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "util.h"

int ac_recalfile_names(const char *final, char *staged, char *backup, size_t size)
{
    char dir[4096];
    const char *base = ac_path_base(final);
    int a, b;

    ac_path_dir(final, dir, sizeof dir);
    a = snprintf(staged, size, "%s/.%s.recal-new", dir, base);
    b = snprintf(backup, size, "%s/.%s.recal-old", dir, base);
    return a < 0 || b < 0 || (size_t)a >= size || (size_t)b >= size ? -ENAMETOOLONG : 0;
}

/* The folder of final, opened, and the three base names. */
struct names {
    int dirfd;
    char final[1024], staged[1024], backup[1024];
};

static int open_names(const char *final, struct names *n, ac_err_t *e)
{
    char dir[4096], staged[4096], backup[4096];

    n->dirfd = -1;
    if (ac_recalfile_names(final, staged, backup, sizeof staged) != 0)
        return ac_err_set(e, -ENAMETOOLONG, "%s: path too long", final);
    ac_strlcpy(n->final, ac_path_base(final), sizeof n->final);
    ac_strlcpy(n->staged, ac_path_base(staged), sizeof n->staged);
    ac_strlcpy(n->backup, ac_path_base(backup), sizeof n->backup);
    ac_path_dir(final, dir, sizeof dir);
    n->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (n->dirfd < 0)
        return ac_err_set(e, -errno, "%s: cannot open the folder: %s", dir, strerror(errno));
    return 0;
}

static int finish(struct names *n, int rc, const char *final, ac_err_t *e)
{
    if (rc == 0 && fsync(n->dirfd) != 0)
        rc = ac_err_set(e, -errno, "%s: cannot sync its folder: %s", final, strerror(errno));
    close(n->dirfd);
    return rc;
}

int ac_recalfile_swap(const char *final, bool *kept, ac_err_t *e)
{
    struct names n;
    int rc;

    *kept = false;
    if ((rc = open_names(final, &n, e)) != 0)
        return rc;
    /* A backup left by an earlier attempt is the same old output (or nothing). */
    if (unlinkat(n.dirfd, n.backup, 0) != 0 && errno != ENOENT)
        rc = ac_err_set(e, -errno, "%s: cannot remove the old %s: %s", final, n.backup,
                        strerror(errno));
    if (rc == 0 && linkat(n.dirfd, n.final, n.dirfd, n.backup, 0) == 0)
        *kept = true;
    else if (rc == 0 && errno != ENOENT)
        rc = ac_err_set(e, -errno, "%s: cannot keep the old output as %s: %s", final, n.backup,
                        strerror(errno));
    /* The backup's name must be durable before the old output's name is reused. */
    if (rc == 0 && *kept && fsync(n.dirfd) != 0)
        rc = ac_err_set(e, -errno, "%s: cannot sync its folder: %s", final, strerror(errno));
    if (rc == 0 && renameat(n.dirfd, n.staged, n.dirfd, n.final) != 0)
        rc = ac_err_set(e, -errno, "%s: cannot put the new output in place: %s", final,
                        strerror(errno));
    return finish(&n, rc, final, e);
}

int ac_recalfile_restore(const char *final, bool *restored, ac_err_t *e)
{
    char staged[4096], backup[4096];
    struct names n;
    int rc;

    *restored = false;
    if ((rc = open_names(final, &n, e)) != 0)
        return rc;
    /* The temporary files of an interrupted write of STAGED (no writer runs now). */
    if (ac_recalfile_names(final, staged, backup, sizeof staged) == 0)
        ac_fsutil_clean_stale_for(staged, NULL);
    if (renameat(n.dirfd, n.backup, n.dirfd, n.final) == 0)
        *restored = true;
    else if (errno != ENOENT)
        rc = ac_err_set(e, -errno, "%s: cannot bring the old output back: %s", final,
                        strerror(errno));
    /* rename() of two links of one file does nothing: the backup may still be there. */
    if (rc == 0 && unlinkat(n.dirfd, n.backup, 0) != 0 && errno != ENOENT)
        rc =
            ac_err_set(e, -errno, "%s: cannot remove %s: %s", final, n.backup, strerror(errno));
    if (rc == 0 && unlinkat(n.dirfd, n.staged, 0) != 0 && errno != ENOENT)
        rc =
            ac_err_set(e, -errno, "%s: cannot remove %s: %s", final, n.staged, strerror(errno));
    return finish(&n, rc, final, e);
}

int ac_recalfile_remove(const char *final, ac_err_t *e)
{
    struct names n;
    int rc;

    if ((rc = open_names(final, &n, e)) != 0)
        return rc;
    if (unlinkat(n.dirfd, n.backup, 0) != 0 && errno != ENOENT)
        rc = ac_err_set(e, -errno, "%s: cannot remove the old output %s: %s", final, n.backup,
                        strerror(errno));
    return finish(&n, rc, final, e);
}
