/*
 * cloudfix.h - a real rclone WebDAV server on the loopback address for the cloud tests
 * (test-cloud.c): `rclone serve webdav` over a folder of the test's temporary directory,
 * with a user and password, and an rclone configuration whose remote `dav:` points at it
 * (the password obscured by `rclone obscure`, as rclone stores it). Defined once in
 * cloudfix.c. Failures fail the test. Thread: the test's thread.
 */
#ifndef AC_INTEG_CLOUDFIX_H
#define AC_INTEG_CLOUDFIX_H

#include <stdbool.h>
#include <sys/types.h>

#include "harness.h"
#include "nightfix.h"

struct davsrv {
    char dir[1024];    /* what the server serves */
    char config[1024]; /* the rclone configuration: remote "dav" */
    char log[1024];
    int port;
    pid_t pid;
};

/* rclone_path returns rclone's path, or NULL (the test then notes the skip and passes, unless
 * AC_REQUIRE_RCLONE is set in the environment: then it fails). */
const char *rclone_path(void);

/* dav_start serves rel (a folder of the temporary directory, made, with an empty folder
 * "astro" in it: the bucket) on a free port with user
 * "astro" and password "s3cret", and writes the configuration rel.conf for it with the
 * client password pass (NULL: the right one). Waits until the port answers. */
void dav_start(struct davsrv *s, const char *rel, const char *pass);

/* dav_restart starts the server again on the same port (after dav_kill). */
void dav_restart(struct davsrv *s);

/* dav_kill kills the server (SIGKILL) and reaps it. */
void dav_kill(struct davsrv *s);

/* dav_count_files counts the regular files under the served folder (recursively). */
int dav_count_files(const struct davsrv *s);

/* cloud_night prepares a test: a night of n lights (256 x 192) and its catalogue (masters
 * bdf), and a WebDAV server whose clients use password pass (NULL: the right one). False
 * (the test passes, noting the skip) without rclone. */
bool cloud_night(ac_harness_t *h, struct night *nt, struct davsrv *s, int n, const char *pass);

/* cloud_config writes the daemon's configuration for the server: the repository is the
 * night's folder, the remote dav:astro (so URLs are gs://astro/REL), one try per second;
 * extra (NULL: CLOUD.transfers=2) one more key. */
void cloud_config(ac_harness_t *h, const struct davsrv *s, const char *extra);

/* copy_file copies a to b. */
void copy_file(const char *a, const char *b);

/* assert_same_pixels fails the test unless images a and b (read with cfitsio) have the same
 * size and exactly the same pixels. */
void assert_same_pixels(const char *a, const char *b);

/* same_bytes says whether two files have the same contents. */
bool same_bytes(const char *a, const char *b);

#endif
