/*
 * planner_now.c - plans computed without recording them, and masters named by the
 * operator (planner.h: ac_planner_plan_now, ac_planner_master_named). The cluster
 * export's --calibrated-with (export_recal.c) asks which masters each done session would
 * be calibrated with now, exactly as a recalibration would plan it (planner_pin.c
 * plan_recal), but must neither queue the session nor change its row.
 *
 * Thread: loop thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "planner_int.h"
#include "util.h"

int ac_planner_master_named(ac_planner_t *pl, const char *spec, char *path, size_t size,
                            int64_t *id, ac_err_t *e)
{
    struct ac_planner_inputs in;
    bool by_id = false;
    int rc, ci;

    *id = 0;
    path[0] = '\0';
    if ((rc = ac_planner_inputs_load(pl, &in, e)) != 0)
        return rc;
    ci = ac_planner_find_spec(&in, spec, &by_id);
    if (ci >= 0) {
        ac_strlcpy(path, in.cands[ci].path, size);
        *id = in.cands[ci].id;
    } else if (by_id) {
        rc = ac_err_set(e, -ENOENT,
                        "no master '%s' in the catalogue (astrocalctl masters lists them by "
                        "id and path)",
                        spec);
    } else {
        ac_strlcpy(path, spec, size); /* removed from Masters since: its path still names it */
    }
    ac_planner_inputs_free(&in);
    return rc;
}

/* plan_one matches one session on its raw lights and fills *p (nothing recorded). */
static int plan_one(ac_planner_t *pl, struct ac_planner_inputs *in, const char *session_id,
                    ac_plan_t *p, ac_err_t *e)
{
    ac_session_list_t one = {0};
    ac_file_list_t files = {0};
    ac_match_light_t light;
    ac_match_result_t res = {0};
    ac_err_t se = {0};
    int rc;

    memset(p, 0, sizeof *p);
    ac_strlcpy(p->session_id, session_id, sizeof p->session_id);
    p->status = AC_MATCH_WAITING;
    if ((rc = ac_catalog_session_any(pl->db, session_id, &one, e)) != 0)
        return rc;
    if (one.n == 0) {
        snprintf(p->reason, sizeof p->reason, "no light session '%s' in the catalogue",
                 session_id);
    } else if ((rc = ac_planner_match(pl, in, &one.items[0], true, &files, &light, &res,
                                      &se)) != 0) {
        snprintf(p->reason, sizeof p->reason, "%s", se.msg);
        rc = rc == AC_EBUSY || rc == AC_ESQLITE ? ac_err_set(e, rc, "%s", se.msg) : 0;
    } else {
        ac_planner_key(pl, in, &res, &p->key);
        p->status = res.status;
        ac_strlcpy(p->reason, res.reason, sizeof p->reason);
    }
    ac_match_result_free(&res);
    ac_catalog_files_free(&files);
    ac_catalog_sessions_free(&one);
    return rc;
}

int ac_planner_plan_now(ac_planner_t *pl, const char *const *session_ids, size_t n,
                        ac_plan_t *out, ac_err_t *e)
{
    struct ac_planner_inputs in;
    int rc;

    if (n == 0)
        return 0;
    if ((rc = ac_planner_inputs_load(pl, &in, e)) != 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = plan_one(pl, &in, session_ids[i], &out[i], e);
    ac_planner_inputs_free(&in);
    return rc;
}
