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

json_t *ac_planner_explain(ac_planner_t *pl, const char *session_id, ac_err_t *e)
{
    struct ac_planner_inputs in;
    json_t *plans = json_array();
    bool found = false;
    static const char *const tnames[AC_MATCH_NTYPES] = {"bias", "dark", "flat", "flatdark"};

    if (ac_planner_inputs_load(pl, &in, e) != 0) {
        json_decref(plans);
        return NULL;
    }
    for (size_t i = 0; i < in.sessions.n; i++) {
        const ac_catalog_session_t *s = &in.sessions.items[i];
        ac_file_list_t files = {0};
        ac_match_light_t light;
        ac_match_result_t res;
        ac_err_t se = {0};
        char text[8192];
        json_t *p, *chosen, *cands;

        if (session_id != NULL && strcmp(session_id, s->session_id) != 0)
            continue;
        found = true;
        if (ac_planner_match(pl, &in, s, false, &files, &light, &res, &se) != 0) {
            json_array_append_new(
                plans, json_pack("{s:s,s:s,s:s,s:b,s:n,s:{},s:[],s:s}", "session_id",
                                 s->session_id, "status", "waiting", "reason", se.msg, "later",
                                 0, "dark_scale", "chosen", "candidates", "text", se.msg));
            ac_catalog_files_free(&files);
            ac_match_result_free(&res);
            continue;
        }
        ac_match_plan_text(&res, text, sizeof text);
        chosen = json_object();
        for (int t = 0; t < AC_MATCH_NTYPES; t++) {
            int ci = res.chosen[t];
            json_object_set_new(
                chosen, tnames[t],
                ci < 0
                    ? json_null()
                    : json_pack("{s:I,s:s,s:b,s:s?}", "id", (json_int_t)in.cands[ci].id, "path",
                                in.cands[ci].path, "pinned", res.notes[ci].pinned, "override",
                                res.notes[ci].overridden[0] ? res.notes[ci].overridden : NULL));
        }
        cands = json_array();
        for (size_t k = 0; k < res.n; k++) {
            const ac_match_note_t *nt = &res.notes[k];
            json_array_append_new(
                cands, json_pack("{s:s,s:I,s:s,s:b,s:s,s:s,s:b}", "type",
                                 ac_match_type_name(nt->type), "id", (json_int_t)nt->id, "path",
                                 in.cands[k].path, "accepted", nt->verdict == AC_MATCH_CHOSEN,
                                 "verdict", ac_match_verdict_name(nt->verdict), "reason",
                                 nt->reason, "pinned", nt->pinned));
        }
        p = json_pack(
            "{s:s,s:s,s:s?,s:b,s:o,s:o,s:o,s:s}", "session_id", s->session_id, "status",
            ac_match_status_name(res.status), "reason", res.reason[0] ? res.reason : NULL,
            "later", res.later[0] || res.later[1] || res.later[2] || res.later[3], "dark_scale",
            num_or_null(res.dark_k), "chosen", chosen, "candidates", cands, "text", text);
        json_array_append_new(plans, p);
        ac_catalog_files_free(&files);
        ac_match_result_free(&res);
    }
    ac_planner_inputs_free(&in);
    if (session_id != NULL && !found) {
        json_decref(plans);
        ac_err_set(e, -ENOENT, "no session '%s' with uncalibrated lights", session_id);
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
    if (ac_planner_candidates(pl, &ml, &c, NULL) != 0) {
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
