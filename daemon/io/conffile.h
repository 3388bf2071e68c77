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

#endif
