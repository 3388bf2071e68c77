/*
 * planner_pin.c - masters pinned for a session (pin.h): turning the stored pins into the
 * matching's pins (ac_match_pin_t, the candidates they name), and `astrocalctl use`:
 * checking a requested pin by the matching rules before storing it (planner.h).
 *
 * Thread: loop thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pin.h"
#include "planner_int.h"
#include "util.h"

void ac_planner_pins_free(struct ac_planner_pins *pp)
{
    for (int t = 0; t < AC_PIN_NTYPES; t++)
        free(pp->ids[t]);
    memset(pp, 0, sizeof *pp);
}

int ac_planner_find_cand(const struct ac_planner_inputs *in, int64_t id, const char *path)
{
    for (size_t i = 0; id > 0 && i < in->masters.n; i++)
        if (in->cands[i].id == id)
            return (int)i;
    for (size_t i = 0; path != NULL && i < in->masters.n; i++)
        if (strcmp(in->cands[i].path, path) == 0)
            return (int)i;
    return -1;
}

/* pin_one fills the matching's pin of one type from a stored pin. */
static int pin_one(const struct ac_planner_inputs *in, const ac_pin_t *p, int t,
                   struct ac_planner_pins *pp, ac_match_opts_t *mo)
{
    ac_match_pin_t *mp = &mo->pin[t];
    size_t n = 0;

    pp->ids[t] = calloc(in->masters.n + 1, sizeof *pp->ids[t]);
    if (pp->ids[t] == NULL)
        return -ENOMEM;
    if (p->cal_session_id != NULL) {
        for (size_t i = 0; i < in->masters.n; i++) {
            const char *src = in->masters.items[i].source_session_id;
            if (src != NULL && strcmp(src, p->cal_session_id) == 0 &&
                (int)in->cands[i].type == t)
                pp->ids[t][n++] = in->cands[i].id;
        }
        snprintf(mp->label, sizeof mp->label, "to the masters of %s session %s (AstroFiler)",
                 ac_match_type_name(t), p->cal_session_id);
        if (n == 0)
            snprintf(mp->label, sizeof mp->label,
                     "to %s session %s (linked in AstroFiler), which has no master",
                     ac_match_type_name(t), p->cal_session_id);
    } else {
        int ci = ac_planner_find_cand(in, p->master_rowid, p->master_path);
        if (ci >= 0)
            pp->ids[t][n++] = in->cands[ci].id;
        snprintf(mp->label, sizeof mp->label, "#%" PRId64 " %s", p->master_rowid,
                 ac_path_base(p->master_path != NULL ? p->master_path : "?"));
    }
    if (n == 0)
        pp->ids[t][n++] = -1; /* names no candidate: the session waits, saying so */
    mp->ids = pp->ids[t];
    mp->nids = n;
    mp->force = p->forced;
    return 0;
}

int ac_planner_pin_opts(ac_planner_t *pl, const struct ac_planner_inputs *in,
                        const char *session_id, struct ac_planner_pins *pp, ac_match_opts_t *mo,
                        ac_err_t *e)
{
    ac_pin_list_t pins = {0};
    int rc;

    memset(pp, 0, sizeof *pp);
    if ((rc = ac_catalog_pins(pl->db, session_id, &pins, e)) != 0)
        return rc;
    /* An astrocalctl pin wins over AstroFiler's link: those come first per type. */
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (size_t i = 0; i < pins.n && rc == 0; i++) {
            const ac_pin_t *p = &pins.items[i];
            int t = ac_pin_type_index(p->type);
            bool ours = p->source != NULL && strcmp(p->source, "astrocalctl") == 0;
            if (t < 0 || pp->ids[t] != NULL || ours != (pass == 0))
                continue;
            if (pin_one(in, p, t, pp, mo) != 0)
                rc = ac_err_set(e, -ENOMEM, "out of memory");
        }
    }
    ac_catalog_pins_free(&pins);
    if (rc != 0)
        ac_planner_pins_free(pp);
    return rc;
}

/* ---- astrocalctl use ---- */

int ac_planner_find_spec(const struct ac_planner_inputs *in, const char *spec, bool *by_id)
{
    char *end = NULL;
    const char *s = spec[0] == '#' ? spec + 1 : spec;
    long long id = strtoll(s, &end, 10);
    bool is_id = end != s && *end == '\0';

    if (by_id != NULL)
        *by_id = is_id;
    return is_id ? ac_planner_find_cand(in, id > 0 ? id : -1, NULL)
                 : ac_planner_find_cand(in, -1, spec);
}

/* resolve finds the candidate a request names (ac_planner_find_spec) and checks its type. */
static int resolve(const struct ac_planner_inputs *in, const char *spec, int t, ac_err_t *e)
{
    int ci = ac_planner_find_spec(in, spec, NULL);

    if (ci < 0)
        return ac_err_set(e, -ENOENT,
                          "no master '%s' in the catalogue (astrocalctl masters lists them by "
                          "id and path)",
                          spec);
    if ((int)in->cands[ci].type != t)
        return ac_err_set(e, -EINVAL, "master #%" PRId64 " %s is a %s, not a %s",
                          in->cands[ci].id, ac_path_base(in->cands[ci].path),
                          ac_match_type_name(in->cands[ci].type), ac_match_type_name(t));
    return ci;
}

int ac_planner_use(ac_planner_t *pl, const ac_planner_use_t *u, json_t **out, ac_err_t *e)
{
    struct ac_planner_inputs in;
    struct ac_planner_pins pp = {0};
    ac_session_list_t one = {0};
    ac_file_list_t files = {0};
    ac_match_light_t light;
    ac_match_opts_t mo;
    ac_match_result_t res = {0};
    int ci[AC_PIN_NTYPES] = {-1, -1, -1}, rc;
    int64_t pinid[AC_PIN_NTYPES];
    json_t *arr = NULL;

    *out = NULL;
    if ((rc = ac_planner_inputs_load(pl, &in, e)) != 0)
        return rc;
    if ((rc = ac_catalog_session_any(pl->db, u->session_id, &one, e)) != 0)
        goto done;
    if (one.n == 0) {
        rc = ac_err_set(e, -ENOENT, "no light session '%s'", u->session_id);
        goto done;
    }
    for (int t = 0; t < AC_PIN_NTYPES; t++)
        if (u->spec[t] != NULL && (ci[t] = resolve(&in, u->spec[t], t, e)) < 0) {
            rc = ci[t];
            goto done;
        }
    if ((rc = ac_catalog_session_raw_lights(pl->db, u->session_id, &files, e)) != 0)
        goto done;
    if ((rc = ac_planner_describe(pl, &one.items[0], &files, &light, e)) != 0)
        goto done;
    ac_planner_match_opts(pl, &mo);
    if ((rc = ac_planner_pin_opts(pl, &in, u->session_id, &pp, &mo, e)) != 0)
        goto done;
    for (int t = 0; t < AC_PIN_NTYPES; t++) {
        if (ci[t] < 0)
            continue;
        pinid[t] = in.cands[ci[t]].id;
        mo.pin[t] = (ac_match_pin_t){.ids = &pinid[t], .nids = 1, .force = u->force};
        snprintf(mo.pin[t].label, sizeof mo.pin[t].label, "#%" PRId64 " %s", pinid[t],
                 ac_path_base(in.cands[ci[t]].path));
    }
    if ((rc = ac_match_run(&light, in.cands, in.masters.n, &mo, &res, e)) != 0)
        goto done;
    /* Every requested master must pass (a bias the session does not need is accepted:
     * the plan says it is not needed). */
    for (int t = 0; t < AC_PIN_NTYPES; t++) {
        const ac_match_note_t *nt = ci[t] >= 0 ? &res.notes[ci[t]] : NULL;
        if (nt == NULL || nt->verdict != AC_MATCH_REJECTED)
            continue;
        rc = ac_err_set(e, -EEXIST, "%s #%" PRId64 " %s does not suit session %s: %s%s",
                        ac_match_type_name(t), nt->id, nt->name, u->session_id, nt->reason,
                        nt->fatal  ? " (this cannot be overridden, even with --force)"
                        : u->force ? ""
                                   : " (--force accepts it)");
        goto done;
    }
    arr = json_array();
    for (int t = 0; t < AC_PIN_NTYPES && rc == 0; t++) {
        const ac_match_note_t *nt = ci[t] >= 0 ? &res.notes[ci[t]] : NULL;
        ac_pin_t p = {0};
        if (nt == NULL)
            continue;
        p.session_id = (char *)u->session_id;
        p.type = (char *)ac_match_type_name(t);
        p.master_rowid = nt->id;
        p.master_path = in.cands[ci[t]].path;
        p.forced = nt->overridden[0] != '\0';
        p.override = nt->overridden[0] ? (char *)nt->overridden : NULL;
        rc = ac_catalog_pin_set(pl->db, &p, e);
        if (rc == 0) {
            ac_log_notice("session %s: %s pinned to #%" PRId64 " %s%s%s", u->session_id, p.type,
                          nt->id, p.master_path, p.forced ? ", forced over: " : "",
                          p.forced ? nt->overridden : "");
            json_array_append_new(arr,
                                  json_pack("{s:s,s:I,s:s,s:b,s:s?,s:s}", "type", p.type, "id",
                                            (json_int_t)nt->id, "path", p.master_path, "forced",
                                            p.forced, "override", p.override, "verdict",
                                            ac_match_verdict_name(nt->verdict)));
        }
    }
    if (rc == 0) {
        *out = arr;
        arr = NULL;
    }
done:
    json_decref(arr);
    ac_match_result_free(&res);
    ac_planner_pins_free(&pp);
    ac_catalog_files_free(&files);
    ac_catalog_sessions_free(&one);
    ac_planner_inputs_free(&in);
    return rc;
}

int ac_planner_unpin(ac_planner_t *pl, const char *session_id, int *n, ac_err_t *e)
{
    ac_session_list_t one = {0};
    int rc;

    if ((rc = ac_catalog_session_any(pl->db, session_id, &one, e)) != 0)
        return rc;
    if (one.n == 0)
        rc = ac_err_set(e, -ENOENT, "no light session '%s'", session_id);
    ac_catalog_sessions_free(&one);
    if (rc == 0)
        rc = ac_catalog_pin_clear(pl->db, session_id, 7u, n, e);
    if (rc == 0)
        ac_log_notice("session %s: %d pinned master%s removed: automatic choice", session_id,
                      *n, *n == 1 ? "" : "s");
    return rc;
}

/* ---- recalibration plans ---- */

/* plan_recal matches a session on its raw lights and records the plan without files. */
static int plan_recal(ac_planner_t *pl, struct ac_planner_inputs *in, const char *session_id,
                      bool force, ac_err_t *e)
{
    ac_session_list_t one = {0};
    ac_file_list_t files = {0}, none = {0};
    ac_match_light_t light;
    ac_match_result_t res = {0};
    int rc;

    if ((rc = ac_catalog_session_any(pl->db, session_id, &one, e)) != 0)
        return rc;
    if (one.n == 0) {
        ac_catalog_sessions_free(&one);
        return ac_err_set(e, -ENOENT, "no light session '%s'", session_id);
    }
    rc = ac_planner_match(pl, in, &one.items[0], true, &files, &light, &res, e);
    if (rc == 0)
        rc = ac_planner_record(pl, in, &one.items[0], &none, &res, force, e);
    ac_match_result_free(&res);
    ac_catalog_files_free(&files);
    ac_catalog_sessions_free(&one);
    return rc;
}

int ac_planner_plan_recals(ac_planner_t *pl, struct ac_planner_inputs *in, ac_err_t *e)
{
    ac_qfile_list_t fl = {0};
    int rc;

    if ((rc = ac_queue_recal_files(pl->queue, &fl, e)) != 0)
        return rc;
    for (size_t i = 0; i < fl.n && rc == 0; i++) {
        const ac_qfile_t *f = &fl.items[i];
        bool seen = false;
        ac_err_t se = {0};
        if (f->recal_output == NULL)
            continue;
        for (size_t j = 0; j < i && !seen; j++)
            seen = fl.items[j].recal_output != NULL &&
                   strcmp(fl.items[j].session_id, f->session_id) == 0;
        if (seen)
            continue;
        if ((rc = plan_recal(pl, in, f->session_id, false, &se)) != 0 && rc != AC_EBUSY &&
            rc != AC_ESQLITE) {
            ac_log_warn("planning the recalibration of session %s: %s", f->session_id, se.msg);
            rc = 0;
        } else if (rc != 0) {
            ac_err_set(e, rc, "%s", se.msg);
        }
    }
    ac_queue_files_free(&fl);
    return rc;
}

int ac_planner_plan_recal(ac_planner_t *pl, const char *session_id, bool *ready, ac_err_t *e)
{
    struct ac_planner_inputs in;
    ac_qfile_list_t fl = {0};
    const ac_plan_t *p;
    bool any = false;
    int rc;

    *ready = false;
    if ((rc = ac_queue_files(pl->queue, session_id, &fl, e)) != 0)
        return rc;
    for (size_t i = 0; i < fl.n; i++)
        any = any || fl.items[i].recal_output != NULL;
    ac_queue_files_free(&fl);
    if (!any)
        return ac_err_set(e, -ENOENT, "session '%s' is not being recalibrated", session_id);
    if ((rc = ac_planner_inputs_load(pl, &in, e)) != 0)
        return rc;
    rc = plan_recal(pl, &in, session_id, true, e);
    ac_planner_inputs_free(&in);
    p = ac_planner_find(pl, session_id);
    *ready = rc == 0 && p != NULL && p->status == AC_MATCH_READY;
    return rc;
}

int ac_planner_note_recal(ac_planner_t *pl, const char *session_id, ac_err_t *e)
{
    struct ac_planner_inputs in;
    int rc;

    if ((rc = ac_planner_inputs_load(pl, &in, e)) != 0)
        return rc;
    rc = plan_recal(pl, &in, session_id, false, e);
    ac_planner_inputs_free(&in);
    return rc;
}
