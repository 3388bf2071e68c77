/*
 * export_recal.c - the export's selection calibrated_with (export.h,
 * ac_export_recal_lines; docs/cluster.md "Recalibrating what a master was used for").
 *
 * Every done light whose calibration record names the master (as bias, dark, flat or
 * flat-dark) and that is not handed out already is recalibrated in place with the masters
 * the daemon would choose for its session now: the plan a recalibration would make
 * (ac_planner_plan_now: raw lights, pins, the masters in the catalogue now). So the
 * operator first makes or pins the replacement (astrocalctl use SESSION --dark NEW), then
 * exports. A session is refused (listed in "skipped" with the reason) when:
 *  - it is not done (the daemon is calibrating it: export again once it is done);
 *  - no usable set of masters suits it now (the planner's reason);
 *  - the planner still chooses the very master being replaced (nothing would change:
 *    make or pin a replacement first);
 *  - a master it would use has no MD5 in the catalogue (a shard verifies every master).
 * Each line names the existing output as both "output" and "replaces": the shard writes
 * the new file beside it (recalfile.h STAGED) and import_results swaps it in and updates
 * the existing catalogue rows, as the daemon's own recalibration does (sched_recal.c).
 * The output keeps its compression (a .fz stays compressed), as in sched_recal.c, and the
 * line carries the catalogue's hash of the output it replaces ("replaces_sha256"): the
 * import swaps only over that very file (not over one the daemon recalibrated since).
 *
 * Thread: loop thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "handout.h"
#include "manifest.h"
#include "util.h"

/* uses: whether the plan would use the master at path, and as which (AC_M_*), or -1. */
static int uses(const ac_plan_t *p, const char *path)
{
    for (int i = 0; i < AC_M_COUNT; i++)
        if (strcmp(p->key.path[i], path) == 0)
            return i;
    return -1;
}

/* refusal: why session sid (plan p) cannot be recalibrated away from path, or "". */
static void refusal(ac_daemon_t *d, const ac_plan_t *p, const char *path, int64_t id, char *why,
                    size_t size)
{
    ac_qsession_t qs = {0};
    ac_err_t e = {0};
    int t;

    why[0] = '\0';
    if (ac_queue_session(&d->queue, p->session_id, &qs, &e) != 0)
        snprintf(why, size, "%s", e.msg);
    else if (qs.state != AC_SESS_DONE)
        snprintf(why, size,
                 "session is %s: the daemon is calibrating it; export again once it is done",
                 ac_queue_sess_state_name(qs.state));
    else if (p->status != AC_MATCH_READY)
        snprintf(why, size, "no usable replacement: %s",
                 p->reason[0] ? p->reason : "no set of masters suits it now");
    else if ((t = uses(p, path)) >= 0)
        snprintf(why, size,
                 "the daemon would still use this %s (#%lld %s): make or pin a replacement "
                 "first (astrocalctl use %s --%s NEW), then export again",
                 ac_masters_kind_name(t), (long long)id, ac_path_base(path), p->session_id,
                 t == AC_M_FLATDARK ? "flat" : ac_manifest_master_key[t]);
    ac_queue_session_clear(&qs);
}

/* session_lines appends the lines of the files [first, end) of one session. */
static int session_lines(ac_daemon_t *d, const ac_plan_t *p, const ac_qfile_t *files, size_t n,
                         json_t *lines, json_t *ms, ac_err_t *e)
{
    ac_engine_opts_t *eng = malloc(sizeof *eng);

    if (eng == NULL)
        return ac_err_set(e, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *out = files[i].output_path;
        size_t len = strlen(out);
        char sha[129];

        if (ac_handout_output_hash(d->db, files[i].file_id, sha, sizeof sha, e) != 0) {
            free(eng);
            return e->code;
        }
        ac_sched_engine_opts(&d->cfg, eng);
        eng->out.compress = len > 3 && strcmp(out + len - 3, ".fz") == 0;
        json_array_append_new(
            lines, json_pack("{s:i,s:s,s:s,s:s,s:O,s:f,s:o,s:s,s:s,s:s}", "v",
                             AC_MANIFEST_VERSION, "file_id", files[i].file_id, "session_id",
                             p->session_id, "light", files[i].path, "masters", ms, "dark_scale",
                             p->key.k, "options", ac_manifest_opts_json(eng), "output", out,
                             "replaces", out, "replaces_sha256", sha));
    }
    free(eng);
    return 0;
}

int ac_export_recal_lines(ac_daemon_t *d, const char *spec, json_t *lines, json_t *skipped,
                          ac_err_t *e)
{
    ac_qfile_list_t fl = {0};
    const char **sids = NULL;
    ac_plan_t *plans = NULL;
    char path[4096], why[1024];
    int64_t id = 0;
    size_t ns = 0, i, k;
    int rc;

    if ((rc = ac_planner_master_named(&d->planner, spec, path, sizeof path, &id, e)) != 0 ||
        (rc = ac_queue_calibrated_with(&d->queue, path, &fl, e)) != 0)
        return rc;
    if (fl.n == 0) {
        rc = ac_err_set(e, -ENOENT,
                        "no calibrated light recorded with master %s (or all of them are "
                        "handed out already)",
                        path);
        goto out;
    }
    sids = calloc(fl.n, sizeof *sids);
    plans = calloc(fl.n, sizeof *plans);
    if (sids == NULL || plans == NULL) {
        rc = ac_err_set(e, -ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < fl.n; i++) /* listed by session */
        if (ns == 0 || strcmp(sids[ns - 1], fl.items[i].session_id) != 0)
            sids[ns++] = fl.items[i].session_id;
    if ((rc = ac_planner_plan_now(&d->planner, sids, ns, plans, e)) != 0)
        goto out;
    for (i = 0, k = 0; k < ns && rc == 0; k++) {
        size_t first = i;
        json_t *ms = NULL;

        while (i < fl.n && strcmp(fl.items[i].session_id, sids[k]) == 0)
            i++;
        refusal(d, &plans[k], path, id, why, sizeof why);
        if (why[0] == '\0' && (ms = ac_export_masters_json(&plans[k], why, sizeof why)) != NULL)
            rc = session_lines(d, &plans[k], &fl.items[first], i - first, lines, ms, e);
        if (why[0] != '\0')
            json_array_append_new(skipped,
                                  json_pack("{s:s,s:s}", "session_id", sids[k], "reason", why));
        json_decref(ms);
    }
out:
    free(sids);
    free(plans);
    ac_queue_files_free(&fl);
    return rc;
}
