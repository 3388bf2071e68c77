/*
 * cloud.h - cloud sync through rclone, the pure part: where a file lives on the remote,
 * catalogue URLs to remote paths and back, the rclone argument vectors, and what rclone's
 * exit status and messages mean. No process is started here (io/rclone.h runs rclone
 * blocking for --check-config; serve/upload.c with libuv).
 *
 * Layout (AstroFiler's cloud sync, cloud_sync_dialog.py): a file under the repository
 * (repository_dir) is REL = its path relative to the repository; a file outside it is its
 * base name. The catalogue's URL is PREFIX/REL, PREFIX being [CLOUD] url_prefix or, when
 * empty, AstroFiler's gs://BUCKET with BUCKET the remote's path after the ':'
 * (gcs:astrofiler-repository -> gs://astrofiler-repository); for a local folder remote
 * (/srv/backup) it is file:///srv/backup. The file is REMOTE/REL.
 *
 * Why one rclone process per transfer rather than `rclone rcd` (docs/user-guide.md,
 * "Cloud"): no HTTP client and no second long-lived daemon whose control port any local
 * user could drive with our credentials; each transfer has its own time limit, exit status
 * and stderr; a hung transfer is killed alone.
 *
 * Ownership: argument vectors point into the config and the strings passed (borrowed).
 * Thread: pure; any thread.
 */
#ifndef AC_CLOUD_H
#define AC_CLOUD_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"

/* Enough for every argument vector ac_cloud_argv builds (with its NULL). */
#define AC_CLOUD_ARGV_MAX 32

/* rclone's exit statuses (rclone docs, "Exit Code"). */
enum {
    AC_RCLONE_OK = 0,
    AC_RCLONE_USAGE = 1,
    AC_RCLONE_ERROR = 2,
    AC_RCLONE_DIR_NOT_FOUND = 3,
    AC_RCLONE_FILE_NOT_FOUND = 4,
    AC_RCLONE_TEMPORARY = 5,
    AC_RCLONE_FATAL = 7,
};

/* What went wrong, from the exit status and stderr. */
typedef enum ac_cloud_fault {
    AC_CLOUD_FAULT_NONE = 0,
    AC_CLOUD_FAULT_NOT_FOUND,   /* the bucket, folder or file does not exist */
    AC_CLOUD_FAULT_PERMISSION,  /* the credentials work but may not do this */
    AC_CLOUD_FAULT_CREDENTIALS, /* refused: bad or expired credentials */
    AC_CLOUD_FAULT_NO_REMOTE,   /* rclone's configuration has no such remote */
    AC_CLOUD_FAULT_NETWORK,     /* cannot reach the server: transient */
    AC_CLOUD_FAULT_TIMEOUT,     /* our time limit stopped it: transient */
    AC_CLOUD_FAULT_NO_PROGRAM,  /* rclone is not installed */
    AC_CLOUD_FAULT_OTHER,       /* anything else (retried with back-off) */
} ac_cloud_fault_t;

/* ac_cloud_rel writes the path of file on the remote relative to the remote's root:
 * relative to repo_dir when file is under it, else its base name. 0 or -ENAMETOOLONG. */
int ac_cloud_rel(const char *repo_dir, const char *file, char *out, size_t size);

/* ac_cloud_prefix writes the effective URL prefix (no trailing '/'): url_prefix; else
 * [DAEMON] bucket_url (AstroFiler's ini; a bare name is gs://NAME); else gs://BUCKET from
 * the remote's path. 0, or AC_ECONFIG when none of them names a bucket (gcs: alone). */
int ac_cloud_prefix(const struct ac_config *c, char *out, size_t size, ac_err_t *e);

/* ac_cloud_url writes PREFIX/rel. 0, AC_ECONFIG or -ENAMETOOLONG. */
int ac_cloud_url(const struct ac_config *c, const char *rel, char *out, size_t size,
                 ac_err_t *e);

/* ac_cloud_remote_path writes REMOTE/rel (no doubled '/'). 0 or -ENAMETOOLONG. */
int ac_cloud_remote_path(const struct ac_config *c, const char *rel, char *out, size_t size);

/* ac_cloud_url_to_remote maps a catalogue URL to REMOTE/REL. -EINVAL with the reason when
 * url does not start with the prefix followed by '/' (another bucket, another scheme). */
int ac_cloud_url_to_remote(const struct ac_config *c, const char *url, char *out, size_t size,
                           ac_err_t *e);

/* The rclone commands astrocald runs. */
typedef enum ac_cloud_verb {
    AC_CLOUD_LSF,    /* lsf REMOTE (--check-config: can we list it?) */
    AC_CLOUD_COPYTO, /* copyto a1 a2: one file, to exactly that name */
    AC_CLOUD_STAT,   /* lsjson --stat --hash-type a2 a1 (a2 NULL: no hash) */
} ac_cloud_verb_t;

/* ac_cloud_argv fills argv (AC_CLOUD_ARGV_MAX entries) with the program, the common options
 * (--config, --bwlimit, one try each: astrocald's own queue retries with back-off,
 * connection and I/O time limits) and the command; NULL-terminated. Returns the count. */
int ac_cloud_argv(const struct ac_config *c, ac_cloud_verb_t verb, const char *a1,
                  const char *a2, const char **argv);

/* ac_cloud_classify says what an rclone exit status and its stderr mean. */
ac_cloud_fault_t ac_cloud_classify(int exit_status, const char *stderr_text);

/* ac_cloud_fault_transient: worth retrying later (network, time limit, other). */
bool ac_cloud_fault_transient(ac_cloud_fault_t f);

/* ac_cloud_fault_text names a fault for people ("bad credentials", ...). */
const char *ac_cloud_fault_text(ac_cloud_fault_t f);

/* ac_cloud_last_error copies the most useful line of rclone's stderr (the last ERROR or
 * "Failed to" line, without the date prefix) into out; "" when there is none. */
void ac_cloud_last_error(const char *stderr_text, char *out, size_t size);

#endif
