/*
 * fsutil.h - filesystem helpers (adapter): temporary names, durable rename, directory
 * fsync, free space, stale temporary cleanup, single-instance lock.
 *
 * Temporary files are named ".<final base name>.actmp-<pid>-<counter>" in the directory
 * of the final file, so a crash leaves them beside their target, recognisable and never
 * under a final name; ac_fsutil_clean_stale removes them.
 *
 * Thread: any thread (the counter is atomic).
 */
#ifndef AC_FSUTIL_H
#define AC_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define AC_TMP_MARK ".actmp-"

/* ac_fsutil_tmpname writes the temporary name for final_path into out. 0 or -ENAMETOOLONG
 * (out too small, or the base name would exceed NAME_MAX). */
int ac_fsutil_tmpname(const char *final_path, char *out, size_t size);

/* ac_fsutil_is_tmpname says whether a base name is one of ours. */
bool ac_fsutil_is_tmpname(const char *base);

/* ac_fsutil_fsync_dir fsyncs the directory containing path. 0 or -errno. */
int ac_fsutil_fsync_dir(const char *path, ac_err_t *e);

/* ac_fsutil_rename_durable renames tmp to final and, when durable, fsyncs the directory.
 * (The file itself must already be synced by its writer.) 0 or -errno. */
int ac_fsutil_rename_durable(const char *tmp, const char *final, bool durable, ac_err_t *e);

/* ac_fsutil_free_bytes reports the bytes available to unprivileged users on the
 * filesystem holding dir. 0 or -errno. */
int ac_fsutil_free_bytes(const char *dir, uint64_t *bytes, ac_err_t *e);

/* ac_fsutil_clean_stale removes our temporary files in dir (not recursive; regular files
 * only, whatever pid they carry); returns how many were removed, or -errno. Call it while
 * no writer of this process writes into dir (at startup, under ac_fsutil_lock). */
int ac_fsutil_clean_stale(const char *dir, ac_err_t *e);

/* ac_fsutil_clean_stale_for removes the temporary files that writers of final_path left
 * behind (".<base>.actmp-*" beside it), e.g. after a crash. Returns how many were removed,
 * or -errno. Call it only when no writer of final_path is running. */
int ac_fsutil_clean_stale_for(const char *final_path, ac_err_t *e);

/* ac_fsutil_mkdirs creates dir and its parents (mode 0755). 0 or -errno. */
int ac_fsutil_mkdirs(const char *dir, ac_err_t *e);

/* ac_fsutil_lock takes an exclusive flock on path (created if needed, our pid written
 * into it for people) and returns the fd (kept open for the life of the process), or
 * -errno (-EWOULDBLOCK when another process holds it). */
int ac_fsutil_lock(const char *path, ac_err_t *e);

#endif
