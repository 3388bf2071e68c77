/*
 * conffile.h - reading astrocald.conf from disk; the parsing itself is core/config.h.
 * Thread: any (blocking file read).
 */
#ifndef AC_CONFFILE_H
#define AC_CONFFILE_H

#include <stdio.h>

#include "config.h"
#include "err.h"

/* ac_config_load reads the file at path (at most 1 MiB) and parses it with path as the
 * source name. Returns 0, -errno when the file cannot be read ("PATH: cannot read: ..."),
 * or as ac_config_parse. *c is unchanged on failure. */
int ac_config_load(struct ac_config *c, const char *path, ac_err_t *e);

/* Where a key's value came from (ac_config_load_origins). */
enum { AC_ORIGIN_DEFAULT = 0, AC_ORIGIN_FILE, AC_ORIGIN_INI, AC_ORIGIN_OPTION };
typedef struct ac_config_origin {
    int kind;            /* AC_ORIGIN_* */
    int line;            /* FILE, INI: the line */
    const char *ini_key; /* INI: "repo", "source" or "bucket_url" (static) */
} ac_config_origin_t;

/*
 * ac_config_load_origins is ac_config_load that also applies AstroFiler's ini and says
 * where each value came from (origins: one per table row, may be NULL). ac_config_load is
 * this with origins NULL, so the daemon's start, reload and --check-config all read the
 * same way. After astrocald.conf is parsed, [DAEMON] astrofiler_ini (or the path given to
 * ac_config_set_ini_override) is read (core/afini.h): its [DEFAULT] repo, source and
 * bucket_url become repository_dir, watch_dirs and bucket_url unless astrocald.conf sets
 * those keys (even to ""). A missing or unreadable ini, or one AstroFiler's rules refuse,
 * is AC_ECONFIG naming the file and line.
 */
int ac_config_load_origins(struct ac_config *c, const char *path, ac_config_origin_t *origins,
                           ac_err_t *e);

/* ac_config_set_ini_override makes every later load read path as the ini (astrocald
 * --astrofiler-ini), whatever astrofiler_ini says. path is borrowed for the process's
 * life. For main() before threads start. */
void ac_config_set_ini_override(const char *path);

/* ac_config_print_origins writes every key as "[SECTION] key = value  (ORIGIN)": default,
 * FILE:LINE, INI:LINE [DEFAULT] key, or --astrofiler-ini. path names astrocald.conf.
 * 0 or -EIO / -ENOMEM. */
int ac_config_print_origins(FILE *f, const struct ac_config *c, const char *path,
                            const ac_config_origin_t *origins);

/* ac_conffile_check_paths checks what the configuration names on disk, as the daemon's
 * user sees it: the database is a regular file that can be read and written, or can be
 * created in an existing writable folder; state_dir, output_dir and masters_dir (when set)
 * are folders that exist and are writable or can be created; every watch_dirs folder is a
 * readable folder or does not exist yet (live ingest waits for it), and is absolute. 0, or
 * AC_ECONFIG with the key and the path in e. Blocking (stat, access). */
int ac_conffile_check_paths(const struct ac_config *c, ac_err_t *e);

#endif
