/*
 * outfile.h - creating an output file safely in a folder others may write to (adapter):
 * a temporary file astrocald itself creates, renamed into place once complete.
 *
 * Every file astrocald writes into an output or masters folder goes through here
 * (imgout.c is the one caller). The rules, all enforced by this module:
 *   - the folder is opened once, with O_DIRECTORY|O_NOFOLLOW (a folder that is itself a
 *     symbolic link is refused), and every later operation is relative to that descriptor;
 *   - the temporary file is created with O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC under a name
 *     with a random suffix (ac_fsutil_tmpname), retried with a new name when the name is
 *     taken, so anything planted at a temporary name (file, directory, symbolic link,
 *     dangling or not) is never opened, followed or written and never blocks a write;
 *   - commit closes the file, checks that the folder path still names the folder opened,
 *     that the temporary name still holds the file created, and that the final name is
 *     absent or a regular file (a symbolic link, directory or other non-regular file there
 *     is refused with an error naming the path), then renames with renameat and checks
 *     that the final name now holds the file created; with durable the folder is fsync'ed;
 *   - discard (and a failed commit) removes the temporary file, and only when its name
 *     still holds the file created.
 * The writer syncs the file's data itself (fdatasync on fd) before commit.
 *
 * Ownership: an ac_outfile_t owns its two descriptors and the temporary file from create
 * until commit or discard. Thread: one thread at a time per ac_outfile_t; no shared state
 * but the test-only name hook.
 */
#ifndef AC_OUTFILE_H
#define AC_OUTFILE_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "err.h"

typedef struct ac_outfile {
    int dirfd;               /* the final folder; -1 when closed */
    int fd;                  /* the temporary file, O_RDWR; -1 when closed */
    dev_t dir_dev, dev;      /* identities of the folder and of the file created */
    ino_t dir_ino, ino;      /* (st_dev, st_ino) */
    char path[PATH_MAX];     /* the final path as given (for messages) */
    char dir[PATH_MAX];      /* its folder as given */
    char name[NAME_MAX + 1]; /* the final base name */
    char tmp[NAME_MAX + 1];  /* the temporary base name; "" once renamed or removed */
} ac_outfile_t;

/* ac_outfile_init makes f safe to discard (no descriptors, no file). */
void ac_outfile_init(ac_outfile_t *f);

/* ac_outfile_create opens the folder of final_path and creates a new empty temporary file
 * there (mode 0666 less the umask), open for reading and writing in f->fd. 0 or -errno
 * (-ELOOP: the folder is a symbolic link; -EEXIST: no free temporary name after many
 * tries), with a message naming final_path; on failure nothing is left and f is as after
 * ac_outfile_init. */
int ac_outfile_create(ac_outfile_t *f, const char *final_path, ac_err_t *e);

/* ac_outfile_commit closes the file and renames it to the final name (the checks in the
 * file comment), fsyncing the folder when durable. 0, or -errno with a message naming the
 * path (-ELOOP or -EISDIR or -EEXIST: the final name is not a regular file; -ENOENT: the
 * folder or the temporary file vanished; -ESTALE: the folder path, the temporary name or
 * the final name was changed to something else meanwhile). Always leaves f closed; on
 * failure the temporary file is removed. */
int ac_outfile_commit(ac_outfile_t *f, bool durable, ac_err_t *e);

/* ac_outfile_discard closes f and removes the temporary file (NULL-safe, idempotent). */
void ac_outfile_discard(ac_outfile_t *f);

/* Test seam: when set, fn replaces ac_fsutil_tmpname for the try-th temporary name (from 0)
 * of a create, e.g. to hand out the names an attacker planted things at. NULL restores
 * the random names. Process-wide: set it before any writer runs; tests only. */
typedef int (*ac_outfile_name_fn)(const char *final_base, int try, char *out, size_t size);
void ac_outfile_set_name_hook(ac_outfile_name_fn fn);

#endif
