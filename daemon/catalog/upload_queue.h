/*
 * upload_queue.h - the cloud upload queue, astrocal_upload (schema version 4): which
 * calibrated frames and built masters still have to reach the rclone remote, and recording
 * them once they did.
 *
 * States: pending -> running (claimed) -> done, or back to pending with a not_before
 * (transient failure, back-off) or failed (final). A daemon that dies while a row runs
 * leaves it running: ac_upq_recover puts it back to pending at the next start, so the
 * upload is redone. Recording is one transaction that sets the catalogue's cloud URL
 * (fitsfile.fitsFileCloudURL or Masters.cloud_url) and the row's state: a row is recorded
 * once, never twice. Rows are added by ac_upq_collect from what astrocald made
 * (astrocal_record's outputs, astrocal_build's masters) whose cloud URL is still empty, so
 * nothing made while the daemon was down or before cloud sync was enabled is missed.
 *
 * Ownership: rows' TEXT members are owned (ac_upq_rows_free). Thread: the owner of the
 * ac_db_t (the loop thread); statements try briefly (ac_db_state), AC_EBUSY otherwise.
 */
#ifndef AC_UPLOAD_QUEUE_H
#define AC_UPLOAD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"

typedef enum ac_up_state {
    AC_UP_PENDING = 0,
    AC_UP_RUNNING,
    AC_UP_DONE,
    AC_UP_FAILED,
    AC_UP_NSTATES
} ac_up_state_t;

typedef struct ac_up_row {
    int64_t id;
    char *kind; /* "file" or "master" */
    char *ref;  /* fitsFileId, or Masters.id as text */
    char *path; /* the local file */
    char *hash; /* the catalogue's: SHA-256 of a frame, MD5 of a master; may be NULL */
    int state;  /* ac_up_state_t */
    int attempts;
    double not_before; /* unix seconds, NAN when none */
    char *error;
    char *url;
    int64_t bytes; /* -1 when unknown */
    double seconds;
    char *finished_at;
} ac_up_row_t;

typedef struct ac_up_list {
    ac_up_row_t *items;
    size_t n;
} ac_up_list_t;

const char *ac_upq_state_name(ac_up_state_t s);

/* ac_upq_collect queues what astrocald made whose cloud URL is empty and which is not in
 * the queue yet; *added (may be NULL) receives how many. */
int ac_upq_collect(ac_db_t *db, int *added, ac_err_t *e);

/* ac_upq_recover puts rows left running by a daemon that died back to pending (redone);
 * *n (may be NULL) receives how many. */
int ac_upq_recover(ac_db_t *db, int *n, ac_err_t *e);

/* ac_upq_claim marks the oldest pending row whose back-off is over (not_before <= now,
 * unix seconds) running, counts the attempt and copies it to *out; *found false when none. */
int ac_upq_claim(ac_db_t *db, double now, ac_up_row_t *out, bool *found, ac_err_t *e);

/* ac_upq_done records a verified upload in one transaction: the catalogue row's cloud URL
 * and the upload row done with url, bytes and seconds. -ENOENT when the upload row is not
 * running (already recorded) or its catalogue row is gone; nothing is written then. */
int ac_upq_done(ac_db_t *db, int64_t id, const char *url, int64_t bytes, double seconds,
                ac_err_t *e);

/* ac_upq_url_owner copies into owner the local path of another file (not upload id's
 * own) that already has url as its cloud URL (a frame, a master, or an upload recorded),
 * "" when none: two files must never share one name on the remote. */
int ac_upq_url_owner(ac_db_t *db, int64_t id, const char *url, char *owner, size_t size,
                     ac_err_t *e);

/* ac_upq_defer puts a running row back to pending until not_before with the error;
 * ac_upq_fail makes it failed for good. */
int ac_upq_defer(ac_db_t *db, int64_t id, const char *error, double not_before, ac_err_t *e);
int ac_upq_fail(ac_db_t *db, int64_t id, const char *error, ac_err_t *e);

/* ac_upq_release puts a running row back to pending without counting the attempt (the
 * daemon is stopping, the remote failed, another upload writes the same name), due again
 * at not_before (unix seconds; NAN: at once). */
int ac_upq_release(ac_db_t *db, int64_t id, double not_before, ac_err_t *e);

/* ac_upq_retry_failed turns every failed row back to pending (attempts 0); *n receives how
 * many (may be NULL). */
int ac_upq_retry_failed(ac_db_t *db, int *n, ac_err_t *e);

/* ac_upq_counts fills counts[AC_UP_NSTATES]. */
int ac_upq_counts(ac_db_t *db, int *counts, ac_err_t *e);

/* ac_upq_list lists the rows not done, then the last `done` ones (newest first), at most
 * limit in all. */
int ac_upq_list(ac_db_t *db, int limit, ac_up_list_t *out, ac_err_t *e);

void ac_upq_row_clear(ac_up_row_t *r);
void ac_upq_list_free(ac_up_list_t *l);

/* ---- Downloads (serve/fetch.c): which queued lights may have to come from the cloud ---- */

typedef struct ac_dl_row {
    char *file_id, *path;
    char *url; /* fitsfile.fitsFileCloudURL, NULL when empty or the column is absent */
} ac_dl_row_t;

typedef struct ac_dl_list {
    ac_dl_row_t *items;
    size_t n;
} ac_dl_list_t;

/* ac_upq_lookahead lists the next pending files of queued sessions (priority first, then
 * queue order; the scheduler's order but for the dates), at most limit, and in *masters
 * (may be NULL) the masters with a cloud URL chosen for queued sessions that still have
 * lights pending or running: file_id "master-<Masters.id>", path its master_path (the
 * fetcher keeps their downloads in its cache meanwhile). Both freed with
 * ac_upq_dl_list_free (nothing to free on failure). */
int ac_upq_lookahead(ac_db_t *db, int limit, ac_dl_list_t *out, ac_dl_list_t *masters,
                     ac_err_t *e);

/* ac_upq_file_url copies a fitsfile row's cloud URL into out ("" when none). */
int ac_upq_file_url(ac_db_t *db, const char *file_id, char *out, size_t size, ac_err_t *e);

void ac_upq_dl_list_free(ac_dl_list_t *l);

#endif
