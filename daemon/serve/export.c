/*
 * export.c - the control command `export` (export.h, docs/protocol.md, docs/cluster.md):
 * the manifest lines of the selected lights, planned as the daemon would calibrate them,
 * and the lights marked handed out so that the daemon leaves them alone meanwhile.
 *
 * Which lights: the pending files of the selected sessions that are queued with a ready
 * plan; a selected session that is not (waiting for masters, paused, done...) is listed
 * in "skipped" with the reason, and so is one whose masters have no MD5 in the catalogue
 * (a shard verifies every master before use). A light already handed out (mark not
 * expired) is not exported again. The daemon reads nothing but the catalogue and its
 * plans: it neither stats nor opens the lights (astrocalctl measures their sizes) and
 * writes no file. The selection calibrated_with (lights already done, recalibrated in
 * place) is export_recal.c.
 *
 * Thread: loop thread.
 */
#include "export.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "handout.h"
#include "manifest.h"
#include "util.h"

double ac_export_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define EXPORT_HOLD_DEFAULT_H 48.0

struct sel {
    json_t *sessions; /* array of ids, or NULL */
    const char *since, *until, *with;
    int all;
};

/* selected: is session s chosen by the selection (before its state is looked at)? */
static bool selected(const struct sel *sel, const ac_qsession_t *s)
{
    size_t i;
    json_t *v;

    if (sel->sessions != NULL) {
        json_array_foreach(sel->sessions, i, v)
        {
            if (json_is_string(v) && strcmp(json_string_value(v), s->session_id) == 0)
                return true;
        }
        return false;
    }
    if (sel->since != NULL || sel->until != NULL) {
        const char *d = s->session_date != NULL ? s->session_date : "";
        if (sel->since != NULL && strncmp(d, sel->since, 10) < 0)
            return false;
        if (sel->until != NULL && strncmp(d, sel->until, 10) > 0)
            return false;
        return d[0] != '\0';
    }
    return sel->all != 0;
}

static void skip(json_t *skipped, const char *sid, const char *why)
{
    json_array_append_new(skipped, json_pack("{s:s,s:s}", "session_id", sid, "reason", why));
}

json_t *ac_export_masters_json(const ac_plan_t *plan, char *why, size_t size)
{
    json_t *ms = json_object();

    for (int i = 0; i < AC_M_COUNT; i++) {
        if (plan->key.path[i][0] == '\0')
            continue;
        if (strlen(plan->key.md5[i]) != 32) {
            snprintf(why, size,
                     "master %s %s has no MD5 in the catalogue (Masters.hash_value): a "
                     "shard could not verify it",
                     ac_masters_kind_name(i), plan->key.path[i]);
            json_decref(ms);
            return NULL;
        }
        json_object_set_new(
            ms, ac_manifest_master_key[i],
            json_pack("{s:s,s:s}", "path", plan->key.path[i], "md5", plan->key.md5[i]));
    }
    return ms;
}

/* session_lines appends the manifest lines of session s's pending files to lines, with
 * their ids to ids/sids (borrowed from lines' strings). */
static void session_lines(ac_daemon_t *d, const ac_qsession_t *s, double now, json_t *lines,
                          json_t *skipped, ac_err_t *e)
{
    const ac_plan_t *plan = ac_planner_find(&d->planner, s->session_id);
    ac_qfile_list_t files = {0};
    ac_engine_opts_t *eng = malloc(sizeof *eng);
    char why[1024] = "";
    json_t *ms = NULL;

    if (eng == NULL) {
        ac_err_set(e, -ENOMEM, "out of memory");
        return;
    }
    if (s->state != AC_SESS_QUEUED) {
        snprintf(why, sizeof why, "session is %s%s%s", ac_queue_sess_state_name(s->state),
                 s->reason && s->reason[0] ? ": " : "", s->reason ? s->reason : "");
    } else if (plan == NULL || plan->status != AC_MATCH_READY) {
        snprintf(why, sizeof why, "no ready plan%s%s", plan ? ": " : "",
                 plan ? plan->reason : "");
    } else if ((ms = ac_export_masters_json(plan, why, sizeof why)) != NULL &&
               ac_queue_files(&d->queue, s->session_id, &files, e) != 0) {
        snprintf(why, sizeof why, "%s", e->msg);
    }
    if (why[0] != '\0') {
        skip(skipped, s->session_id, why);
        goto out;
    }
    for (size_t i = 0; i < files.n; i++) {
        const ac_qfile_t *f = &files.items[i];
        char out[4096];
        int same = 0;

        if (f->state != AC_FILE_PENDING || (isfinite(f->not_before) && f->not_before > now))
            continue; /* running, ended, handed out or waiting for its back-off */
        ac_sched_engine_opts(&d->cfg, eng);
        if (d->cfg.output_dir[0] != '\0' &&
            ac_queue_same_name(&d->queue, f->file_id, ac_path_base(f->path), &same, e) == 0 &&
            same > 0) { /* as the scheduler: <output_dir>/<file id>/ (sched.c claim) */
            size_t n = strlen(eng->output_dir);
            snprintf(eng->output_dir + n, sizeof eng->output_dir - n, "/%s", f->file_id);
        }
        if (ac_engine_output_path(f->path, eng, out, sizeof out) != 0)
            continue;
        json_array_append_new(
            lines, json_pack("{s:i,s:s,s:s,s:s,s:O,s:f,s:o,s:s}", "v", AC_MANIFEST_VERSION,
                             "file_id", f->file_id, "session_id", s->session_id, "light",
                             f->path, "masters", ms, "dark_scale", plan->key.k, "options",
                             ac_manifest_opts_json(eng), "output", out));
    }
out:
    json_decref(ms);
    ac_queue_files_free(&files);
    free(eng);
}

void ac_export_cmd(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    struct sel sel = {0};
    ac_qsession_list_t ss = {0};
    json_t *lines = NULL, *skipped = NULL, *v;
    json_error_t je;
    double hold = EXPORT_HOLD_DEFAULT_H, now = ac_export_now(), expires;
    char export_id[AC_UUID_LEN + 1];
    const char **ids = NULL, **sids = NULL;
    ac_err_t e = {0};
    int marked = 0;
    size_t i;

    lines = json_object(); /* stands for absent arguments */
    if (json_unpack_ex(args != NULL && !json_is_null(args) ? args : lines, &je, JSON_STRICT,
                       "{s?o,s?s,s?s,s?b,s?s,s?F}", "sessions", &sel.sessions, "since",
                       &sel.since, "until", &sel.until, "all_uncalibrated", &sel.all,
                       "calibrated_with", &sel.with, "hold_hours", &hold) != 0) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS, "bad arguments: %s", je.text);
        json_decref(lines);
        return;
    }
    json_decref(lines);
    lines = NULL;
    if ((sel.sessions != NULL) + (sel.since != NULL || sel.until != NULL) + (sel.all != 0) +
                (sel.with != NULL) !=
            1 ||
        (sel.sessions != NULL && !json_is_array(sel.sessions)) || !(hold > 0 && hold < 1e5)) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS,
                              "give exactly one of sessions [ids], since/until, "
                              "all_uncalibrated: true or calibrated_with: MASTER "
                              "(hold_hours > 0)");
        return;
    }
    expires = now + hold * 3600.0;
    ac_handout_expire(d->db, now, NULL, &e);
    lines = json_array();
    skipped = json_array();
    if (ac_queue_sessions(&d->queue, &ss, &e) != 0)
        goto fail;
    if (sel.sessions != NULL) { /* sessions asked for by id that do not exist */
        json_array_foreach(sel.sessions, i, v)
        {
            bool found = false;
            for (size_t k = 0; k < ss.n && !found; k++)
                found = json_is_string(v) &&
                        strcmp(ss.items[k].session_id, json_string_value(v)) == 0;
            if (!found) {
                ac_err_set(&e, -ENOENT, "no session '%s'",
                           json_is_string(v) ? json_string_value(v) : "?");
                goto fail;
            }
        }
    }
    if (sel.with != NULL && ac_export_recal_lines(d, sel.with, lines, skipped, &e) != 0)
        goto fail;
    for (i = 0; i < ss.n && sel.with == NULL; i++) {
        if (!selected(&sel, &ss.items[i]))
            continue;
        e.code = 0;
        session_lines(d, &ss.items[i], now, lines, skipped, &e);
        if (e.code == -ENOMEM)
            goto fail;
    }
    ids = calloc(json_array_size(lines) + 1, sizeof *ids);
    sids = calloc(json_array_size(lines) + 1, sizeof *sids);
    if (ids == NULL || sids == NULL || ac_catalog_uuid4(export_id) != 0) {
        ac_err_set(&e, -ENOMEM, "out of memory");
        goto fail;
    }
    json_array_foreach(lines, i, v)
    {
        ids[i] = json_string_value(json_object_get(v, "file_id"));
        sids[i] = json_string_value(json_object_get(v, "session_id"));
    }
    if (ac_handout_mark(d->db, ids, sids, json_array_size(lines), export_id, expires, &marked,
                        &e) != 0)
        goto fail;
    ac_sched_kick(&d->sched); /* its next timer now waits for the expiry */
    ac_ctlsrv_reply_ok(c, id,
                       json_pack("{s:s,s:f,s:i,s:o,s:o}", "export_id", export_id, "expires",
                                 expires, "handed_out", marked, "lights", lines, "skipped",
                                 skipped));
    lines = skipped = NULL;
    goto out;
fail:
    ac_ctlsrv_reply_error(c, id, ac_proto_code_from_err(e.code), "%s",
                          e.msg[0] ? e.msg : ac_strerror(e.code));
out:
    free(ids);
    free(sids);
    json_decref(lines);
    json_decref(skipped);
    ac_queue_sessions_free(&ss);
}
