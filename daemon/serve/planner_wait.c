/*
 * planner_wait.c - whether a session that could be calibrated now should rather wait for a
 * master being built that suits it better, or for a master being fetched from the cloud,
 * and the reasons of a session that waits (see planner.h, planner_int.h).
 *
 * Thread: loop thread only.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "planner_int.h"
#include "util.h"

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

/* match_with matches the light again with the candidates in `with` made valid (the
 * others as they are): 0 with *alt (ac_match_result_free) when at least one was, else -1. */
static int match_with(const struct ac_planner_inputs *in, const bool *with,
                      const ac_match_light_t *light, const ac_match_opts_t *mo,
                      ac_match_result_t *alt)
{
    size_t n = in->masters.n, k = 0;
    ac_match_cand_t *c;
    int rc;

    for (size_t i = 0; i < n; i++)
        k += with[i];
    if (k == 0 || (c = malloc(n * sizeof *c)) == NULL)
        return -1;
    memcpy(c, in->cands, n * sizeof *c);
    for (size_t i = 0; i < n; i++)
        if (with[i])
            c[i].invalid = false;
    rc = ac_match_run(light, c, n, mo, alt, NULL);
    free(c);
    return rc == 0 ? 0 : -1;
}

/* why_waiting adds to a waiting result the masters that would have been chosen but are
 * marked broken: matched again without their marks, so the reason names exactly those. */
void ac_planner_why_waiting(const struct ac_planner_inputs *in, const ac_match_light_t *light,
                            const ac_match_opts_t *mo, ac_match_result_t *res)
{
    ac_match_result_t alt;

    if (match_with(in, in->marked, light, mo, &alt) != 0)
        return;
    for (int t = 0; t < AC_MATCH_NTYPES; t++) {
        int ci = alt.chosen[t];
        size_t len = strlen(res->reason);
        if (ci < 0 || res->chosen[t] >= 0 || !in->marked[ci])
            continue;
        snprintf(res->reason + len, sizeof res->reason - len,
                 "; the best %s, %s, is unusable (%s)", ac_match_type_name(t),
                 ac_path_base(in->cands[ci].path), in->cands[ci].invalid_reason);
    }
    ac_match_result_free(&alt);
}

/* wait_for_cloud makes the session wait for the masters only in the cloud that it would
 * choose if they were here (matched again as if they were, from their rows), asking for
 * their download: calibrating now would use a lesser master, or fail, for good. */
void ac_planner_wait_for_cloud(ac_planner_t *pl, const struct ac_planner_inputs *in,
                               const ac_match_light_t *light, const ac_match_opts_t *mo,
                               ac_match_result_t *res)
{
    ac_match_result_t alt;
    char text[sizeof res->reason] = "";

    if (pl->hooks.fetch_master == NULL || match_with(in, in->cloud, light, mo, &alt) != 0)
        return;
    for (int t = 0; t < AC_MATCH_NTYPES; t++) {
        int ci = alt.chosen[t];
        const ac_catalog_master_t *m = ci >= 0 ? &in->masters.items[ci] : NULL;
        char copy[4096], why[1200] = "";
        size_t len = strlen(text);
        int rc;
        if (m == NULL || !in->cloud[ci] || res->chosen[t] == ci)
            continue;
        rc = pl->hooks.fetch_master(pl->hooks.ud, m->rowid, (m->path != NULL ? m->path : ""),
                                    m->cloud_url, true, copy, sizeof copy, why, sizeof why);
        if (rc != 0 && rc != -EAGAIN)
            continue; /* in the cache meanwhile: a pass follows */
        snprintf(text + len, sizeof text - len, "%sthe master %s %s %s%s", len ? "; " : "",
                 ac_match_type_name(t), ac_path_base((m->path != NULL ? m->path : "")),
                 rc == 0 ? "is " : "", why);
    }
    ac_match_result_free(&alt);
    if (text[0] == '\0')
        return;
    if (res->status == AC_MATCH_WAITING) {
        size_t len = strlen(res->reason);
        snprintf(res->reason + len, sizeof res->reason - len, "; waiting: %s", text);
    } else {
        res->status = AC_MATCH_WAITING;
        snprintf(res->reason, sizeof res->reason, "waiting: %s", text);
    }
}
