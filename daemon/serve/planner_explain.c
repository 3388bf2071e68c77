/*
 * planner_explain.c - what `astrocalctl plan` and `astrocalctl masters` show (see
 * planner.h): every session's matching with its candidates and verdicts, every master as
 * matching sees it (a master marked broken is not valid, with its reason), and the master
 * builds.
 *
 * Thread: loop thread only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "planner_int.h"

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *key_or_null(const char *k)
{
    return k != NULL && k[0] != '\0' ? json_string(k) : json_null();
}

json_t *ac_planner_header_json(const ac_meta_t *m)
{
    return json_pack(
        "{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "type_key", key_or_null(m->type_key),
        "exposure", num_or_null(m->exptime), "exposure_key", key_or_null(m->exp_key),
        "ccd_temp", num_or_null(m->ccd_temp), "ccd_temp_key", key_or_null(m->temp_key),
        "set_temp", num_or_null(m->set_temp), "set_temp_key", key_or_null(m->set_key),
        "binning_key", key_or_null(m->bin_key), "date_obs", key_or_null(m->date_obs),
        "date_key", key_or_null(m->date_key), "bayerpat", key_or_null(m->bayerpat));
}

/* inferred_json lists the frames of the session whose type came from their path. */
static json_t *inferred_json(ac_planner_t *pl, const char *session_id)
{
    ac_inferred_list_t l;
    ac_err_t e = {0};
    json_t *a = json_array();

    if (ac_catalog_session_inferred(pl->db, session_id, &l, &e) != 0)
        return a; /* shown as none: the plan itself does not depend on it */
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "path", l.items[i].path, "type",
                                           l.items[i].frame_type, "reason", l.items[i].reason));
    ac_catalog_inferred_free(&l);
    return a;
}

/* explain_one builds the plan of one session (recal: of a done one, on its raw lights). */
static json_t *explain_one(ac_planner_t *pl, struct ac_planner_inputs *in,
                           const ac_catalog_session_t *s, bool recal, ac_match_result_t *res)
{
    static const char *const tnames[AC_MATCH_NTYPES] = {"bias", "dark", "flat", "flatdark"};
    ac_file_list_t files = {0};
    ac_match_light_t light;
    ac_err_t se = {0};
    char text[8192];
    json_t *chosen, *cands;

    const ac_meta_t *lm;
    json_t *hdr;

    if (ac_planner_match(pl, in, s, recal, &files, &light, res, &se) != 0) {
        ac_catalog_files_free(&files);
        ac_match_result_free(res);
        return json_pack("{s:s,s:s,s:s,s:b,s:n,s:{},s:[],s:s}", "session_id", s->session_id,
                         "status", "waiting", "reason", se.msg, "later", 0, "dark_scale",
                         "chosen", "candidates", "text", se.msg);
    }
    lm = ac_planner_light_meta(pl, &files); /* from the header cache, before files go */
    hdr = lm != NULL ? ac_planner_header_json(lm) : json_null();
    ac_catalog_files_free(&files);
    ac_match_plan_text(res, text, sizeof text);
    chosen = json_object();
    for (int t = 0; t < AC_MATCH_NTYPES; t++) {
        int ci = res->chosen[t];
        json_object_set_new(
            chosen, tnames[t],
            ci < 0
                ? json_null()
                : json_pack("{s:I,s:s,s:b,s:s?}", "id", (json_int_t)in->cands[ci].id, "path",
                            in->cands[ci].path, "pinned", res->notes[ci].pinned, "override",
                            res->notes[ci].overridden[0] ? res->notes[ci].overridden : NULL));
    }
    cands = json_array();
    for (size_t k = 0; k < res->n; k++) {
        const ac_match_note_t *nt = &res->notes[k];
        json_array_append_new(cands, json_pack("{s:s,s:I,s:s,s:b,s:s,s:s,s:b}", "type",
                                               ac_match_type_name(nt->type), "id",
                                               (json_int_t)nt->id, "path", in->cands[k].path,
                                               "accepted", nt->verdict == AC_MATCH_CHOSEN,
                                               "verdict", ac_match_verdict_name(nt->verdict),
                                               "reason", nt->reason, "pinned", nt->pinned));
    }
    return json_pack(
        "{s:s,s:s,s:s?,s:b,s:o,s:o,s:o,s:s,s:o,s:o}", "session_id", s->session_id, "status",
        ac_match_status_name(res->status), "reason", res->reason[0] ? res->reason : NULL,
        "later", res->later[0] || res->later[1] || res->later[2] || res->later[3], "dark_scale",
        num_or_null(res->dark_k), "chosen", chosen, "candidates", cands, "text", text, "header",
        hdr, "inferred", inferred_json(pl, s->session_id));
}

/* explain_done adds to a done session's plan the masters that would now replace the ones
 * it was calibrated with ("better": [{type, used, now}]); NULL when it has no raw light.
 * *better counts them. */
static json_t *explain_done(ac_planner_t *pl, struct ac_planner_inputs *in,
                            const ac_qsession_t *q, int *better)
{
    static const int types[3] = {AC_MATCH_BIAS, AC_MATCH_DARK, AC_MATCH_FLAT};
    ac_session_list_t one = {0};
    ac_match_result_t res = {0};
    json_t *p = NULL, *arr;

    *better = 0;
    if (ac_catalog_session_any(pl->db, q->session_id, &one, NULL) != 0 || one.n == 0) {
        ac_catalog_sessions_free(&one);
        return NULL;
    }
    p = explain_one(pl, in, &one.items[0], true, &res);
    arr = json_array();
    for (int k = 0; k < 3 && res.notes != NULL && res.status == AC_MATCH_READY; k++) {
        const char *used = k == 0 ? q->bias_master : k == 1 ? q->dark_master : q->flat_master;
        int ci = res.chosen[types[k]];
        if (ci < 0 || used == NULL || strcmp(in->cands[ci].path, used) == 0)
            continue;
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:I}", "type",
                                             ac_match_type_name(types[k]), "used", used, "now",
                                             in->cands[ci].path, "id",
                                             (json_int_t)in->cands[ci].id));
        (*better)++;
    }
    json_object_set_new(p, "done", json_true());
    json_object_set_new(p, "better", arr);
    ac_match_result_free(&res);
    ac_catalog_sessions_free(&one);
    return p;
}

json_t *ac_planner_explain(ac_planner_t *pl, const char *session_id, ac_err_t *e)
{
    struct ac_planner_inputs in;
    ac_qsession_list_t done = {0};
    json_t *plans = json_array();
    bool found = false;

    if (ac_planner_inputs_load(pl, &in, e) != 0) {
        json_decref(plans);
        return NULL;
    }
    for (size_t i = 0; i < in.sessions.n; i++) {
        const ac_catalog_session_t *s = &in.sessions.items[i];
        ac_match_result_t res;

        if (session_id != NULL && strcmp(session_id, s->session_id) != 0)
            continue;
        found = true;
        json_array_append_new(plans, explain_one(pl, &in, s, false, &res));
        ac_match_result_free(&res);
    }
    /* Done sessions: one asked for by name, or (all) those a better master would improve. */
    if ((session_id == NULL || !found) && ac_queue_sessions(pl->queue, &done, NULL) == 0) {
        for (size_t i = 0; i < done.n; i++) {
            const ac_qsession_t *q = &done.items[i];
            int better = 0;
            json_t *p;
            if (q->state != AC_SESS_DONE ||
                (session_id != NULL && strcmp(session_id, q->session_id) != 0))
                continue;
            if ((p = explain_done(pl, &in, q, &better)) == NULL)
                continue;
            found = found || session_id != NULL;
            if (better > 0 || session_id != NULL)
                json_array_append_new(plans, p);
            else
                json_decref(p);
        }
    }
    ac_queue_sessions_free(&done);
    ac_planner_inputs_free(&in);
    if (session_id != NULL && !found) {
        json_decref(plans);
        ac_err_set(e, -ENOENT, "no session '%s' with lights to calibrate, nor done",
                   session_id);
        return NULL;
    }
    return json_pack("{s:o}", "plans", plans);
}

static json_t *text_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* builds_json lists the master builds: queued, running, built, and those rejected by their
 * quality check (empty when the list cannot be read). */
static json_t *builds_json(ac_planner_t *pl)
{
    ac_build_row_list_t bl = {0};
    json_t *arr = json_array();

    if (ac_catalog_build_list(pl->db, &bl, NULL) != 0)
        return arr;
    for (size_t i = 0; i < bl.n; i++) {
        const ac_build_row_t *b = &bl.items[i];
        json_t *q = b->quality_json ? json_loads(b->quality_json, 0, NULL) : NULL;
        json_array_append_new(arr,
                              json_pack("{s:s,s:s,s:i,s:o,s:o,s:o}", "key", b->key, "state",
                                        ac_catalog_build_state_name(b->state), "attempts",
                                        b->attempts, "error", text_or_null(b->error),
                                        "master_path", text_or_null(b->master_path), "quality",
                                        q != NULL ? q : json_null()));
    }
    ac_catalog_build_rows_free(&bl);
    return arr;
}

json_t *ac_planner_masters_json(ac_planner_t *pl, ac_err_t *e)
{
    ac_master_list_t ml = {0};
    ac_match_cand_t *c = NULL;
    json_t *arr;

    if (ac_catalog_masters(pl->db, &ml, e) != 0)
        return NULL;
    if (ac_planner_candidates(pl, &ml, &c, NULL, NULL) != 0) {
        ac_catalog_masters_free(&ml);
        ac_err_set(e, -ENOMEM, "out of memory");
        return NULL;
    }
    arr = json_array();
    for (size_t i = 0; i < ml.n; i++) {
        char bin[32];
        snprintf(bin, sizeof bin, "%dx%d", c[i].eq.xbin, c[i].eq.ybin);
        json_array_append_new(
            arr, json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:s?,s:o,s:o,s:o,s:s,s:s,s:b,s:s?}", "id",
                           (json_int_t)c[i].id, "type", ac_match_type_name(c[i].type), "path",
                           c[i].path, "telescope", c[i].eq.telescope, "instrument",
                           c[i].eq.instrument, "exposure", num_or_null(c[i].eq.exposure),
                           "filter", c[i].eq.filter[0] ? c[i].eq.filter : NULL, "ccd_temp",
                           num_or_null(c[i].eq.ccd_temp), "gain", num_or_null(c[i].eq.gain),
                           "offset", num_or_null(c[i].eq.offset), "binning", bin, "date",
                           c[i].date, "valid", !c[i].invalid, "reason",
                           c[i].invalid ? c[i].invalid_reason : NULL));
    }
    free(c);
    ac_catalog_masters_free(&ml);
    return json_pack("{s:o,s:o}", "masters", arr, "builds", builds_json(pl));
}
