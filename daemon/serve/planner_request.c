/*
 * planner_request.c - the planner's life cycle and its requests for a pass (planner.h):
 * requested, deferred by the back-off of failed passes, taken by the owner.
 *
 * Thread: loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "planner.h"
#include "planner_int.h"

/* ---- life cycle ---- */

void ac_planner_init(ac_planner_t *pl, ac_db_t *db, ac_queue_t *queue,
                     const struct ac_config *cfg, const ac_planner_hooks_t *hooks)
{
    memset(pl, 0, sizeof *pl);
    pl->db = db;
    pl->queue = queue;
    pl->cfg = cfg;
    if (hooks != NULL)
        pl->hooks = *hooks;
}

void ac_planner_request(ac_planner_t *pl, bool all)
{
    if (!ac_backoff_due(&pl->retry, ac_planner_mono_s())) {
        pl->deferred = true;
        pl->deferred_all = pl->deferred_all || all;
        return;
    }
    pl->pending = true;
    pl->pending_all = pl->pending_all || all;
}

bool ac_planner_deferred(const ac_planner_t *pl, double *when)
{
    if (pl->deferred)
        *when = pl->retry.until;
    return pl->deferred;
}

bool ac_planner_wake(ac_planner_t *pl)
{
    if (pl->deferred && ac_backoff_due(&pl->retry, ac_planner_mono_s())) {
        pl->pending = true;
        pl->pending_all = pl->pending_all || pl->deferred_all;
        pl->deferred = pl->deferred_all = false;
    }
    return pl->pending;
}

bool ac_planner_take_request(ac_planner_t *pl, bool *all)
{
    bool pending = pl->pending;

    *all = pl->pending_all;
    pl->pending = pl->pending_all = false;
    return pending;
}

void ac_planner_free(ac_planner_t *pl)
{
    for (size_t i = 0; i < pl->nhc; i++)
        free(pl->hc[i].path);
    free(pl->hc);
    free(pl->plans);
    free(pl->bad);
    free(pl->badsets);
    free(pl->unread);
    pl->unread = NULL;
    pl->nunread = pl->capunread = 0;
    pl->hc = NULL;
    pl->plans = NULL;
    pl->bad = NULL;
    pl->badsets = NULL;
    pl->nhc = pl->nplans = pl->nbad = pl->nbadsets = 0;
}
