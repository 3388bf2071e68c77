/*
 * fetch.h - lights and masters that are only in the cloud ([CLOUD] download_missing):
 * AstroFiler deletes a light's local file once its cloud copy is verified, keeping
 * fitsFileCloudURL; a master's backup is Masters.cloud_url. The fetcher looks ahead of the
 * scheduler at the next pending files of queued sessions; each whose file is missing but
 * has a cloud URL is downloaded with rclone into the cache (<cache_dir>/<file id>/<name>),
 * at most [CLOUD] transfers at once, so downloads overlap calibration. The scheduler asks
 * ac_fetcher_locate when it claims a light.
 *
 * One download: `rclone lsjson --stat` of the remote file (its size), free space on the
 * cache's file system for it plus [WORKERS] free_disk_reserve_mib, `rclone copyto` to a
 * temporary name (rclone compares the hashes where the backend has one), the size checked,
 * renamed into place. Files are evicted least recently used first once the cache holds
 * more than cache_max_gib, never one used in the last minute or about to be.
 *
 * A missing light without a cloud URL fails with that reason; a download that keeps
 * failing is retried with back-off ([QUEUE] retry_backoff_s, doubling) and, after
 * [QUEUE] max_attempts, the light fails with rclone's message.
 *
 * The planner asks too (ac_fetcher_want) when none of a session's lights is on disk: it
 * reads the header of the downloaded copy.
 *
 * Masters (AstroFiler's masters are Masters rows only, never fitsfile rows, so their one
 * URL is Masters.cloud_url): the planner asks ac_fetcher_master about every master whose
 * file is missing and, when one that is only in the cloud would be chosen for a session,
 * asks for its download (want) and the session waits ("waiting: the master dark NAME is
 * being fetched from the cloud"); once it is in the cache (<cache_dir>/master-<Masters.id>/
 * <name>, same verification) a planning pass reads its header from there and the master
 * cache loads it from there (ac_fetcher_master_copy). The masters of queued sessions that
 * still have lights pending or running are looked at ahead as well (fetched if missing)
 * and are never evicted meanwhile; neither is one used in the last minute (the planner's
 * pass, the start of its load). A master whose download failed is reported with rclone's
 * message and asked for again after a back-off (30 s doubled per failed round, at most an
 * hour); one without a URL stays unreadable ("file missing"), as before.
 *
 * Ownership: ac_fetcher_new returns an object owned by the caller until ac_fetcher_stop's
 * callback ran (it frees itself). cfg is borrowed (the live configuration). Thread: loop
 * thread only.
 */
#ifndef AC_FETCH_H
#define AC_FETCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "db.h"
#include "err.h"
#include "rrun.h"

typedef struct ac_fetcher ac_fetcher_t;

/* ac_fetcher_new makes the cache folder, reads what it holds (start-up: blocking) and
 * starts looking ahead; env is copied (rrun.h). NULL with e set when the cache folder
 * cannot be made. */
ac_fetcher_t *ac_fetcher_new(const ac_cloud_env_t *env, ac_err_t *e);

/* ac_fetcher_locate answers the scheduler's hooks.locate (scheduler.h) for a claimed
 * light. f may be NULL (cloud sync off): 0. */
int ac_fetcher_locate(ac_fetcher_t *f, const char *file_id, const char *path, char *input,
                      size_t isize, char *why, size_t wsize);

/* ac_fetcher_want answers the planner's hooks.fetch (planner.h): 1 with the cached copy
 * of a light in out; else 0, after asking for its download when its file is missing and
 * it has a cloud URL (env->fetched is called once it is in the cache). f may be NULL. */
int ac_fetcher_want(ac_fetcher_t *f, const char *file_id, const char *path, char *out,
                    size_t size);

/* ac_fetcher_master answers the planner's hooks.fetch_master (planner.h) for Masters row
 * rowid whose file path is missing, url its cloud_url (may be NULL): 1 with the cached
 * copy in out; 0 when it is not in the cache (why: "only in the cloud (URL), not fetched
 * yet", or "being fetched from the cloud (URL)"; want asks for its download, or again once
 * a failed one's back-off passed); -EAGAIN with why when its download failed (rclone's
 * message and when it is tried again); -ENOENT with why when it cannot be had (no URL,
 * cloud sync or download_missing off). f may be NULL. */
int ac_fetcher_master(ac_fetcher_t *f, int64_t rowid, const char *path, const char *url,
                      bool want, char *out, size_t osize, char *why, size_t wsize);

/* ac_fetcher_master_copy answers the master cache's resolve (mcache.h): 1 with the cached
 * copy of master path in out (used now), else 0. f may be NULL. */
int ac_fetcher_master_copy(ac_fetcher_t *f, const char *path, char *out, size_t size);

/* ac_fetcher_status_json: {queued, running, cached, cached_bytes, max_bytes, last_error}
 * (owned); f NULL: null. */
json_t *ac_fetcher_status_json(const ac_fetcher_t *f);

/* ac_fetcher_stop kills running downloads, closes its handles, then calls stopped(ud) and
 * frees f. */
void ac_fetcher_stop(ac_fetcher_t *f, void (*stopped)(void *ud));

#endif
