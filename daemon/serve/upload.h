/*
 * upload.h - cloud backup on the loop thread: the upload queue (catalog/upload_queue.h)
 * worked off by rclone processes (rrun.h), at most [CLOUD] transfers at once, apart from
 * calibration (which never waits for it).
 *
 * One upload: stat the local file (libuv, off the loop thread), `rclone copyto FILE
 * REMOTE/REL`, `rclone lsjson --stat --hash-type T REMOTE/REL` to verify the size, and the
 * hash where the backend has the catalogue's kind (SHA-256 for frames, MD5 for masters),
 * then one transaction sets the catalogue's cloud URL and marks the upload done.
 *
 * Failures: an rclone failure (network, credentials, missing bucket...) puts the upload
 * back without counting it and marks the remote faulty (shown by `status`); no upload
 * starts until the back-off ([QUEUE] retry_backoff_s doubling, at most an hour) ends, and
 * then one upload (or, with nothing queued, `rclone lsf`) probes the remote. A verification
 * mismatch counts an attempt ([QUEUE] max_attempts); a local file that is gone fails.
 * At start-up the remote is probed once with `rclone lsf`.
 *
 * Ownership: ac_uploader_new returns an uploader owned by the caller until
 * ac_uploader_stop's callback has run (it frees itself after). cfg is borrowed (the live
 * configuration; reloadable keys are read at use). Thread: loop thread only.
 */
#ifndef AC_UPLOAD_H
#define AC_UPLOAD_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "rrun.h"

typedef struct ac_uploader ac_uploader_t;

/* ac_uploader_new recovers uploads a dead daemon left running, queues what is missing,
 * probes the remote and starts; env is copied (rrun.h; env->ok says whether the catalogue
 * may be written now). NULL with e set on failure. */
ac_uploader_t *ac_uploader_new(const ac_cloud_env_t *env, ac_err_t *e);

/* ac_uploader_kick looks for new work soon (a frame was recorded, a master built). */
void ac_uploader_kick(ac_uploader_t *u);

/* ac_uploader_pause pauses or resumes starting uploads (running ones finish). */
void ac_uploader_pause(ac_uploader_t *u, bool pause);

/* ac_uploader_idle: nothing running and nothing that could start now (paused, the remote
 * faulty, or the queue empty of due rows). For --drain. */
bool ac_uploader_idle(const ac_uploader_t *u);

/* ac_uploader_status_json: {enabled, paused, queued, running, done, failed, rate_bps,
 * remote, remote_error, retry_in_s} (owned). u may be NULL (cloud disabled). */
json_t *ac_uploader_status_json(ac_uploader_t *u);

/* ac_uploader_list_json: {uploads: [{id, kind, ref, path, state, attempts, error, url,
 * bytes, seconds, finished_at}], ...status} (owned); NULL with e set. */
json_t *ac_uploader_list_json(ac_uploader_t *u, int limit, ac_err_t *e);

/* ac_uploader_retry_failed queues failed uploads again; *n receives how many. */
int ac_uploader_retry_failed(ac_uploader_t *u, int *n, ac_err_t *e);

/* ac_uploader_stop kills running transfers (their rows go back to pending), closes every
 * handle and then calls stopped(ud) and frees u. */
void ac_uploader_stop(ac_uploader_t *u, void (*stopped)(void *ud));

#endif
