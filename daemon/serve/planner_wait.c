/*
 * planner_wait.c - whether a session that could be calibrated now should rather wait for a
 * master being built that suits it better (see planner.h, planner_int.h).
 *
 * Thread: loop thread only.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "planner_int.h"

/* unit_coming says whether a calibration session will still become a master: enough
 * frames, no master yet, and its build neither failed nor rejected. */
static bool unit_coming(const ac_planner_t *pl, const struct ac_planner_inputs *in,
                        const ac_calsession_t *u)
{
    if (!pl->cfg->build_masters || u->master_rowid != 0 ||
        (int)u->frames.n < pl->cfg->min_files_per_master || u->frames.n < 2)
        return false;
    for (size_t i = 0; i < in->builds.n; i++)
        if (strcmp(in->builds.items[i].key, u->key) == 0)
            return in->builds.items[i].state == AC_BUILD_PENDING ||
                   in->builds.items[i].state == AC_BUILD_RUNNING;
    return true; /* not queued yet: its frames may still be arriving */
}

static bool same_camera(const ac_match_light_t *l, const ac_calsession_t *u)
{
    const ac_catalog_file_t *f = u->frames.n > 0 ? &u->frames.items[0] : NULL;
    const char *inst = u->imager != NULL ? u->imager : f != NULL ? f->instrument : NULL;
    int xb = u->xbin > 0 ? u->xbin : f != NULL ? f->xbin : 0;

    if (inst != NULL && inst[0] != '\0' && strcasecmp(inst, "unknown") != 0 &&
        l->eq.instrument[0] != '\0' && !ac_meta_filter_equal(inst, l->eq.instrument))
        return false;
    return xb == 0 || l->eq.xbin == 0 || xb == l->eq.xbin;
}

/* ac_planner_better_coming says whether a master being built would suit the session better than
 * the one chosen now: a dark of the light's own exposure instead of a scaled one, a flat
 * of the light's own night and filter instead of another night's. Calibrating now would
 * use the lesser master for good, so the session waits (why says for what). */
bool ac_planner_better_coming(const ac_planner_t *pl, const struct ac_planner_inputs *in,
                              const ac_match_light_t *l, const ac_match_result_t *res,
                              char *why, size_t size)
{
    const ac_match_note_t *dark = ac_match_chosen(res, AC_MATCH_DARK);
    const ac_match_note_t *flat = ac_match_chosen(res, AC_MATCH_FLAT);
    /* A pinned master is the operator's choice: nothing better is waited for. */
    bool dark_exact = (dark != NULL && isfinite(dark->k) && fabs(dark->k - 1.0) < 1e-9) ||
                      res->pinned[AC_MATCH_DARK];
    bool flat_tonight = (flat != NULL && flat->nights == 0) || res->pinned[AC_MATCH_FLAT];

    for (size_t i = 0; i < in->units.n; i++) {
        const ac_calsession_t *u = &in->units.items[i];
        double exp = u->exposure;

        if (!unit_coming(pl, in, u) || !same_camera(l, u))
            continue;
        if (!isfinite(exp) && u->frames.n > 0)
            exp = u->frames.items[0].exposure;
        if (u->kind == AC_CAL_DARK && !dark_exact && isfinite(exp) &&
            isfinite(l->eq.exposure) &&
            fabs(exp - l->eq.exposure) <= fmax(pl->cfg->exposure_tolerance_s,
                                               pl->cfg->exposure_tolerance_pct / 100 * exp)) {
            snprintf(why, size, "waiting for the %g s master dark being built (session %s)",
                     exp, u->session_id);
            return true;
        }
        if (u->kind == AC_CAL_FLAT && !flat_tonight && u->date != NULL &&
            strcmp(u->date, l->night) == 0 &&
            ac_meta_filter_equal(u->filter != NULL ? u->filter : "", l->eq.filter)) {
            snprintf(why, size, "waiting for tonight's %s master flat being built (session %s)",
                     l->eq.filter[0] ? l->eq.filter : "", u->session_id);
            return true;
        }
    }
    return false;
}
