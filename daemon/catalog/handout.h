/*
 * handout.h - lights handed out to a batch cluster (astrocal_handout; docs/cluster.md).
 *
 * An exported light is marked handed out until an expiry: its queue row stays pending,
 * with not_before = the expiry, so the scheduler does not claim it meanwhile and takes it
 * back by itself once the mark has expired (expired marks are then deleted by the next
 * export or import). Importing its result ends the mark: recorded (done), or failed back
 * to the queue with the reason (pending, one attempt counted, claimable at once).
 *
 * Ownership: strings are borrowed. Thread: loop thread only (the owner of the ac_db_t).
 * Every function is one transaction.
 */
#ifndef AC_HANDOUT_H
#define AC_HANDOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "err.h"

/* ac_handout_mark marks the n pending files (ids, with their sessions) handed out under
 * export_id until expires (unix seconds). *marked (may be NULL) counts those marked (a
 * file that is neither pending nor done is not). A done file (exported for its
 * recalibration, --calibrated-with) keeps its state and its queue row: only the mark
 * says that it is out, so the daemon sees no work in it. */
int ac_handout_mark(ac_db_t *db, const char *const *file_ids, const char *const *session_ids,
                    size_t n, const char *export_id, double expires, int *marked, ac_err_t *e);

/* ac_handout_expire deletes the marks expired at now. *n (may be NULL): how many. */
int ac_handout_expire(ac_db_t *db, double now, int *n, ac_err_t *e);

/* ac_handout_get says whether file_id is handed out and until when (*expires). */
int ac_handout_get(ac_db_t *db, const char *file_id, bool *found, double *expires, ac_err_t *e);

/* ac_handout_fail ends file_id's mark with a failure: its queue row, when still pending
 * and still handed out, gets error and one more attempt and is claimable at once; when
 * done (a recalibration), it keeps its calibration and error says the recalibration
 * failed. *changed:
 * whether it was (false when the mark had already ended: the same failure imported twice
 * counts once). */
int ac_handout_fail(ac_db_t *db, const char *file_id, const char *error, bool *changed,
                    ac_err_t *e);

/* ac_handout_output_hash copies the catalogue's hash of file_id's calibrated output (its
 * fitsfile row, through astrocal_record) into hex (size bytes): "" when there is none. */
int ac_handout_output_hash(ac_db_t *db, const char *file_id, char *hex, size_t size,
                           ac_err_t *e);

/* ac_handout_release deletes file_id's mark (after its result was recorded). */
int ac_handout_release(ac_db_t *db, const char *file_id, ac_err_t *e);

#endif
