/*
 * conffile.h - reading astrocald.conf from disk; the parsing itself is core/config.h.
 * Thread: any (blocking file read).
 */
#ifndef AC_CONFFILE_H
#define AC_CONFFILE_H

#include "config.h"
#include "err.h"

/* ac_config_load reads the file at path (at most 1 MiB) and parses it with path as the
 * source name. Returns 0, -errno when the file cannot be read ("PATH: cannot read: ..."),
 * or as ac_config_parse. *c is unchanged on failure. */
int ac_config_load(struct ac_config *c, const char *path, ac_err_t *e);

/* ac_conffile_check_paths checks what the configuration names on disk, as the daemon's
 * user sees it: the database is a regular file that can be read and written, or can be
 * created in an existing writable folder; state_dir, output_dir and masters_dir (when set)
 * are folders that exist and are writable or can be created; every watch_dirs folder is a
 * readable folder or does not exist yet (live ingest waits for it), and is absolute;
 * on_session_done and on_failure (when set) are executable regular files. 0, or
 * AC_ECONFIG with the key and the path in e. Blocking (stat, access). */
int ac_conffile_check_paths(const struct ac_config *c, ac_err_t *e);

#endif
