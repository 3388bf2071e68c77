/*
 * fsutil.h - filesystem helpers (adapter): temporary names, free space, stale temporary
 * cleanup, directories, single-instance lock. Creating and renaming output files safely is
 * outfile.h.
 *
 * Temporary files are named ".<final base name>.actmp-<pid>-<12 random letters or digits>"
 * in the directory of the final file, so a crash leaves them beside their target,
 * recognisable and never under a final name; ac_fsutil_clean_stale removes them. Names of
 * earlier versions (".<final base name>.actmp-<pid>-<counter>") are recognised too.
 *
 * Thread: any thread (the fallback counter is atomic).
 */
#ifndef AC_FSUTIL_H
#define AC_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define AC_TMP_MARK ".actmp-"

/* ac_fsutil_tmpname writes a new temporary name for final_path into out (same directory
 * part; a random suffix, so two calls give different names). 0 or -ENAMETOOLONG (out too
 * small, or the base name would exceed NAME_MAX). */
int ac_fsutil_tmpname(const char *final_path, char *out, size_t size);

/* ac_fsutil_prefetch asks the kernel to read path into the page cache in the background
 * (POSIX_FADV_WILLNEED over the whole file, in pieces: one call reads at most the device's
 * read-ahead window, often 128 KiB, whatever the length asked): for a file about to be read
 * while the disk would otherwise idle. A hint: returns the file's size in bytes, or -1 when
 * it cannot be opened (ignored). May wait for the device's request queue: not on the loop
 * thread for more than a few files. */
long long ac_fsutil_prefetch(const char *path);

/* ac_fsutil_pread_full reads len bytes at offset off of fd (path names it in messages):
 * 0, -errno, or AC_EFITS "truncated: the file ended at byte N while reading its data". */
int ac_fsutil_pread_full(int fd, const char *path, void *buf, size_t len, long long off,
                         ac_err_t *e);

/* ac_fsutil_is_tmpname says whether a base name is one of ours. */
bool ac_fsutil_is_tmpname(const char *base);

/* ac_fsutil_open_dir opens the folder dir (O_RDONLY|O_DIRECTORY|O_CLOEXEC) and returns the
 * descriptor, or -errno (-ENOTDIR when it is not a folder). The folder's own path may pass
 * through symbolic links: it is the configured output or masters folder, or a light's
 * folder, which the administrator chose (/data -> /mnt/disk is common). Everything
 * astrocald creates INSIDE it is then opened relative to this descriptor and never
 * through a link (outfile.h). */
int ac_fsutil_open_dir(const char *dir);

/* ac_fsutil_free_bytes reports the bytes available to unprivileged users on the
 * filesystem holding dir. 0 or -errno. */
int ac_fsutil_free_bytes(const char *dir, uint64_t *bytes, ac_err_t *e);

/* ac_fsutil_clean_stale removes our temporary files (by name, see ac_fsutil_is_tmpname,
 * whatever pid they carry; regular files only, never a directory or a symbolic link's
 * target) in dir and in its subdirectories one level down (output_dir/<file id>/; a
 * symbolic link to a directory is not followed, and errors there are ignored). dir itself
 * must not be a symbolic link (-ELOOP). Returns how many were removed, or -errno. Call it
 * while no writer of this process writes there (at startup, under ac_fsutil_lock). */
int ac_fsutil_clean_stale(const char *dir, ac_err_t *e);

/* ac_fsutil_clean_stale_for removes the temporary files that writers of final_path left
 * behind (".<base>.actmp-*" beside it, same rules as ac_fsutil_clean_stale, not
 * recursive), e.g. after a crash. Returns how many were removed, or -errno. Call it only
 * when no writer of final_path is running. */
int ac_fsutil_clean_stale_for(const char *final_path, ac_err_t *e);

/* ac_fsutil_mkdirs creates dir and its parents (mode 0777 less the umask). 0 or -errno. */
int ac_fsutil_mkdirs(const char *dir, ac_err_t *e);

/* ac_fsutil_lock takes an exclusive flock on path (created if needed, our pid written
 * into it for people) and returns the fd (kept open for the life of the process), or
 * -errno (-EWOULDBLOCK when another process holds it). */
int ac_fsutil_lock(const char *path, ac_err_t *e);

#endif
