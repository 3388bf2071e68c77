/*
 * rclone.h - running rclone once and waiting for it (astrocald --check-config). The daemon
 * itself never waits: serve/upload.c starts rclone with libuv. The arguments come from
 * core/cloud.h (ac_cloud_argv); no shell is involved.
 *
 * Ownership: out buffers are the caller's. Thread: any (blocking: fork/exec, poll, wait).
 */
#ifndef AC_RCLONE_H
#define AC_RCLONE_H

#include <stddef.h>

#include "cloud.h"
#include "err.h"

/* ac_rclone_run runs argv (argv[0] searched in PATH; stdin /dev/null) for at most
 * timeout_s seconds, collecting stdout into out and stderr into errtext (both cut at
 * their size, NUL-terminated; either may be NULL with size 0). *status is the exit
 * status, 124 when the time limit killed it, 127 when it could not be started. Returns 0
 * or -errno when the pipes or the process could not be made. */
int ac_rclone_run(const char *const *argv, double timeout_s, char *out, size_t out_size,
                  char *errtext, size_t err_size, int *status);

/* ac_rclone_check lists [CLOUD] remote with `rclone lsf` and explains a failure: 0, or
 * AC_ECONFIG with "[CLOUD] remote 'R': bad credentials: <rclone's last message>" (or not
 * found, permission denied, no such rclone remote, network error, rclone not installed). */
int ac_rclone_check(const struct ac_config *c, double timeout_s, ac_err_t *e);

#endif
