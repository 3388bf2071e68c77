/*
 * history.h - keeps astrocald's history (astrocal_event, event.h) bounded: a timer on the
 * loop prunes the events older than [QUEUE] history_days and those beyond the newest
 * history_max_events, a few seconds after start-up and then once a day.
 *
 * A prune never holds the loop or the catalogue long: it deletes AC_HISTORY_BATCH rows per
 * short transaction and comes back on the next turn of the loop for the rest; a busy
 * catalogue (another program writing) puts it off by a minute.
 *
 * Ownership: the owner (daemon.c) embeds ac_history_t and closes its handle with the
 * others. Thread: loop thread only.
 */
#ifndef AC_HISTORY_H
#define AC_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "db.h"

struct ac_config;

#define AC_HISTORY_BATCH 500

typedef struct ac_history {
    uv_timer_t timer;
    ac_db_t *db;                 /* borrowed */
    const struct ac_config *cfg; /* borrowed: read at every prune (reload applies) */
    bool pruning;                /* a prune is between batches */
    char before[32];             /* its age bound, in astrocal_event.at's format */
    int deleted;                 /* rows it deleted so far */
} ac_history_t;

/* ac_history_init sets up the timer on loop (0 or a libuv error). */
int ac_history_init(ac_history_t *h, uv_loop_t *loop, ac_db_t *db, const struct ac_config *cfg);

/* ac_history_start schedules the first prune first_ms from now, then one a day. */
void ac_history_start(ac_history_t *h, uint64_t first_ms);

/* ac_history_stop stops pruning (a prune between batches ends there). */
void ac_history_stop(ac_history_t *h);

/* ac_history_before writes the age bound of a prune at unix time now: the local time
 * history_days before it, as 'YYYY-MM-DD HH:MM:SS'. Any thread. */
void ac_history_before(time_t now, int days, char out[32]);

#endif
