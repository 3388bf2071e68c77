/*
 * event.h - astrocald's history (adapter): one row of astrocal_event per attempt, outcome
 * and operator decision, kept for [QUEUE] history_days and read back by `astrocalctl
 * history SESSION|FILE`.
 *
 * A row: id (increasing), at (local time 'YYYY-MM-DD HH:MM:SS.ffffff', as the rest of the
 * catalogue), kind (one of the AC_EV_* names below; other modules may add their own,
 * lower-case words joined by '_'), session_id and file_id (either may be NULL: a session
 * event has no file; a file event always names its session too, so a session's history
 * holds its files' events), message (a short human sentence, may be NULL) and detail (a
 * JSON object as text, may be NULL; stored minified through SQLite's json(), so malformed
 * JSON is refused with AC_ESQLITE rather than stored).
 *
 * The queue (queue.c) writes its own events inside the transaction of the change they
 * describe, so a history row exists exactly when the change committed. A caller that makes
 * a change and records it should likewise call ac_event_add inside the same ac_db_transact
 * (it joins the open transaction as a savepoint); outside one it commits by itself.
 *
 * Ownership: lists returned are the caller's (ac_event_list_free, safe on zeroed lists);
 * strings passed in are borrowed for the call.
 * Thread: loop thread only (the owner of the ac_db_t; checked). Names: any thread.
 */
#ifndef AC_EVENT_H
#define AC_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"

/* Kinds written by the queue and the planner (the detail keys each one carries are listed
 * in docs/protocol.md, "history"). */
#define AC_EV_SESSION_PLANNED "session_planned" /* state, reason, masters, sources */
#define AC_EV_SESSION_DONE "session_done"       /* state (done/partial/failed), counts */
#define AC_EV_ATTEMPT "attempt"                 /* a file claimed: attempt number */
#define AC_EV_CALIBRATED "calibrated"           /* output path and id, seconds */
#define AC_EV_RETRY "retry"                     /* an attempt failed, retried later */
#define AC_EV_FAILED "failed"                   /* a file failed for good */
#define AC_EV_SKIPPED "skipped"                 /* a file ended as skipped */
#define AC_EV_CANCELLED "cancelled"             /* a file or session cancelled */
#define AC_EV_RELEASED "released"               /* an attempt given back (not its fault) */
#define AC_EV_INTERRUPTED "interrupted"         /* running when the daemon died */
#define AC_EV_UNREADABLE "unreadable"           /* a light unreadable at planning */
#define AC_EV_OPERATOR "operator"               /* enqueue, pause, resume, retry */
/* Reserved for the manual masters and recalibration features (pin-recal). */
#define AC_EV_OVERRIDE "override"       /* masters pinned or unpinned by the operator */
#define AC_EV_RECALIBRATE "recalibrate" /* a done session redone */

/* An astrocal_event row (strings owned, NULL for SQL NULL). */
typedef struct ac_event {
    int64_t id;
    char *at, *kind, *session_id, *file_id, *message, *detail;
} ac_event_t;

typedef struct ac_event_list {
    ac_event_t *items;
    size_t n;
} ac_event_list_t;

void ac_event_list_free(ac_event_list_t *list);

/*
 * ac_event_add appends one event (at = now): kind required; session_id, file_id and
 * detail_json may be NULL; detail_json must be a JSON object's text when given. Joins an
 * open transaction (savepoint) or commits by itself. 0, AC_ESQLITE (malformed JSON
 * included), AC_EBUSY, -EINVAL (no kind).
 */
int ac_event_add(ac_db_t *db, const char *session_id, const char *file_id, const char *kind,
                 const char *detail_json, ac_err_t *e);

/* ac_event_add_msg is ac_event_add with a human message (may be NULL); *id (may be NULL)
 * receives the new row's id. */
int ac_event_add_msg(ac_db_t *db, const char *session_id, const char *file_id, const char *kind,
                     const char *message, const char *detail_json, int64_t *id, ac_err_t *e);

/*
 * ac_event_history lists, oldest first, the events of id: those whose session_id or
 * file_id is id (a session's list includes its files' events). At most limit rows (the
 * newest ones; limit <= 0 means 1000); *more (may be NULL) says whether older rows were
 * left out. An id with no events gives an empty list (the caller decides whether the id
 * exists).
 */
int ac_event_history(ac_db_t *db, const char *id, int limit, ac_event_list_t *out, bool *more,
                     ac_err_t *e);

/* ac_event_since lists up to limit events with id > after_id, oldest first. */
int ac_event_since(ac_db_t *db, int64_t after_id, int limit, ac_event_list_t *out, ac_err_t *e);

/*
 * ac_event_prune deletes, in one short transaction, at most batch rows (oldest first) that
 * are older than before_at (a timestamp in the 'at' format) or beyond the newest keep rows
 * (keep <= 0: no count bound). *deleted (may be NULL) counts them: a caller that must not
 * hold the catalogue long calls it again while *deleted == batch.
 */
int ac_event_prune(ac_db_t *db, const char *before_at, int64_t keep, int batch, int *deleted,
                   ac_err_t *e);

#endif
