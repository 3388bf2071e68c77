/*
 * history.c - pruning astrocald's history on a timer (see history.h).
 *
 * Thread: loop thread only (ac_history_before: any thread).
 */
#include "history.h"

#include <stdio.h>
#include <time.h>

#include "config.h"
#include "event.h"
#include "log.h"

#define DAY_MS (24u * 3600u * 1000u)
#define BUSY_RETRY_MS 60000u
#define NEXT_BATCH_MS 10u

void ac_history_before(time_t now, int days, char out[32])
{
    time_t t = now - (time_t)days * 86400;
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
}

static void prune_cb(uv_timer_t *t)
{
    ac_history_t *h = t->data;
    ac_err_t e = {0};
    int n = 0;

    if (!h->pruning) {
        ac_history_before(time(NULL), h->cfg->history_days, h->before);
        h->pruning = true;
        h->deleted = 0;
    }
    if (ac_event_prune(h->db, h->before, h->cfg->history_max_events, AC_HISTORY_BATCH, &n,
                       &e) != 0) {
        if (e.code == AC_EBUSY) { /* another program writes: this prune goes on later */
            uv_timer_start(t, prune_cb, BUSY_RETRY_MS, 0);
            return;
        }
        ac_log_warn("pruning the history: %s (next try in a day)", e.msg);
        h->pruning = false;
        uv_timer_start(t, prune_cb, DAY_MS, 0);
        return;
    }
    h->deleted += n;
    if (n == AC_HISTORY_BATCH) { /* more to go: the loop does other work first */
        uv_timer_start(t, prune_cb, NEXT_BATCH_MS, 0);
        return;
    }
    if (h->deleted > 0)
        ac_log_info("history pruned: %d event%s older than %d days or beyond the newest %d",
                    h->deleted, h->deleted == 1 ? "" : "s", h->cfg->history_days,
                    h->cfg->history_max_events);
    h->pruning = false;
    uv_timer_start(t, prune_cb, DAY_MS, 0);
}

int ac_history_init(ac_history_t *h, uv_loop_t *loop, ac_db_t *db, const struct ac_config *cfg)
{
    int rc;

    h->db = db;
    h->cfg = cfg;
    h->pruning = false;
    h->deleted = 0;
    rc = uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    return rc;
}

void ac_history_start(ac_history_t *h, uint64_t first_ms)
{
    uv_timer_start(&h->timer, prune_cb, first_ms, 0);
}

void ac_history_stop(ac_history_t *h)
{
    uv_timer_stop(&h->timer);
    h->pruning = false;
}
