/*
 * afini.h - reading AstroFiler's astrofiler.ini for the paths astrocald shares with it:
 * [DEFAULT] repo (the repository), source (the incoming folder) and bucket_url (the cloud
 * bucket). [DAEMON] astrofiler_ini names the file; io/conffile.c reads it and fills the
 * keys astrocald.conf leaves unset.
 *
 * The text is read the way AstroFiler reads it (Python's configparser with its defaults,
 * AstroFiler's ui/config_widget.py and the core modules): `[SECTION]` headers, `key = value` or
 * `key: value` (the first '=' or ':'), keys in any case, values stripped, whole-line '#'
 * and ';' comments, no inline comments, '%%' for '%'. What configparser would refuse is
 * refused with the line (a key before any section, a duplicate key in [DEFAULT], a lone
 * '%'); so is what astrocald cannot follow: a '%(name)s' interpolation, a value continued
 * on an indented line, a Windows path, a comma in source (watch_dirs is a list). AstroFiler
 * writes folders with a trailing '/', which is removed; a relative folder is taken from the
 * ini's own folder, since AstroFiler opens "astrofiler.ini" in its working directory and
 * its relative paths are relative to that same directory. An empty value counts as unset.
 *
 * Pure: no I/O. Thread: any.
 */
#ifndef AC_AFINI_H
#define AC_AFINI_H

#include <stddef.h>

#include "err.h"

enum { AC_AFINI_REPO = 0, AC_AFINI_SOURCE, AC_AFINI_BUCKET_URL, AC_AFINI_NKEYS };

typedef struct ac_afini {
    char value[AC_AFINI_NKEYS][4096]; /* "" when unset */
    int line[AC_AFINI_NKEYS];         /* the line that set it, 0 when unset */
} ac_afini_t;

/* ac_afini_key names key i as in the ini ("repo", "source", "bucket_url"). */
const char *ac_afini_key(int i);

/* ac_afini_parse reads text (len bytes) into *out. source names the file in messages;
 * dir is its folder (absolute), for relative paths. 0, or AC_ECONFIG with
 * "SOURCE:LINE: ..." in e. */
int ac_afini_parse(const char *text, size_t len, const char *source, const char *dir,
                   ac_afini_t *out, ac_err_t *e);

#endif
