/*
 * ctlcmd_ops.c - the control commands on grading (grade, accept, reject, regrade) and on
 * masters chosen by hand (use, recalibrate); the table that dispatches them is in ctlcmd.c
 * (docs/protocol.md).
 *
 * Thread: loop thread only.
 */
#include <string.h>

#include "ctlcmd_int.h"
#include "ctlgrade.h"
#include "daemon.h"
#include "event.h"
#include "log.h"
#include "proto.h"
#include "util.h"

void ac_ctlcmd_grade(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    const char *sid = NULL;
    ac_grade_rows_t gr = {0};
    ac_grade_summary_t sum;
    ac_qsession_t s = {0};
    ac_err_t e = {0};
    json_t *files;

    if (!ac_ctlcmd_unpack(c, id, args, "{s:s}", "session", &sid))
        return;
    if (ac_queue_session(&d->queue, sid, &s, &e) != 0 ||
        ac_catalog_grade_rows(d->db, sid, &gr, &e) != 0) {
        ac_queue_session_clear(&s);
        ac_ctlcmd_reply_err(c, id, &e);
        return;
    }
    ac_queue_session_clear(&s);
    ac_grade_summarise(&gr, &sum);
    files = json_array();
    for (size_t i = 0; i < gr.n; i++)
        json_array_append_new(files, ac_ctlgrade_row_json(&gr.items[i]));
    ac_catalog_grade_rows_free(&gr);
    ac_ctlsrv_reply_ok(c, id,
                       json_pack("{s:s,s:b,s:o,s:o}", "session", sid, "judged",
                                 d->cfg.calibration_quality_check, "summary",
                                 ac_ctlgrade_summary_json(&sum), "files", files));
}

static void cmd_verdict(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args,
                        const char *verdict)
{
    const char *file = NULL;
    int clear = 0;
    char session[64] = "", msg[4200];
    ac_err_t e = {0};

    if (!ac_ctlcmd_unpack(c, id, args, "{s:s,s?b}", "file", &file, "clear", &clear))
        return;
    if (ac_sched_grade_override(&d->sched, file, clear ? NULL : verdict, session, &e) != 0) {
        ac_ctlcmd_reply_err(c, id, &e);
        return;
    }
    snprintf(msg, sizeof msg, "%s: %s", file,
             clear ? "the grading verdict applies again" : verdict);
    ac_log_notice("%s (operator)", msg);
    ac_ctlsrv_reply_ok(c, id,
                       json_pack("{s:s,s:s,s:o,s:s}", "file", file, "session", session,
                                 "override", clear ? json_null() : json_string(verdict),
                                 "message", msg));
}

void ac_ctlcmd_accept(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    cmd_verdict(d, c, id, args, "accepted");
}

void ac_ctlcmd_reject(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    cmd_verdict(d, c, id, args, "rejected");
}

void ac_ctlcmd_regrade(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    const char *sid = NULL;
    int all = 0, n = 0;
    char msg[256];
    ac_err_t e = {0};

    if (!ac_ctlcmd_unpack(c, id, args, "{s:s,s?b}", "session", &sid, "all", &all))
        return;
    if (ac_sched_grade_again(&d->sched, sid, !all, &n, &e) != 0) {
        ac_ctlcmd_reply_err(c, id, &e);
        return;
    }
    snprintf(msg, sizeof msg, "session %s: %d light%s to grade again%s", sid, n,
             n == 1 ? "" : "s", d->cfg.grading ? "" : " (grading = False: not until it is on)");
    ac_ctlsrv_reply_ok(
        c, id, json_pack("{s:s,s:i,s:s}", "session", sid, "regraded", n, "message", msg));
}

/* use_args decodes {session, bias?, dark?, flat?, force?} (+ auto? when with_auto). */
static bool use_args(ac_ctlsrv_client_t *c, json_t *id, json_t *args, ac_planner_use_t *u,
                     bool *autom, bool with_auto)
{
    int force = 0, au = 0;

    memset(u, 0, sizeof *u);
    if (with_auto ? !ac_ctlcmd_unpack(c, id, args, "{s:s,s?s,s?s,s?s,s?b,s?b}", "session",
                                      &u->session_id, "bias", &u->spec[0], "dark", &u->spec[1],
                                      "flat", &u->spec[2], "force", &force, "auto", &au)
                  : !ac_ctlcmd_unpack(c, id, args, "{s:s,s?s,s?s,s?s,s?b}", "session",
                                      &u->session_id, "bias", &u->spec[0], "dark", &u->spec[1],
                                      "flat", &u->spec[2], "force", &force))
        return false;
    u->force = force;
    *autom = au;
    return true;
}

void ac_ctlcmd_use(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    ac_planner_use_t u;
    bool autom = false, any;
    ac_err_t e = {0};
    json_t *r = NULL;

    if (!use_args(c, id, args, &u, &autom, true))
        return;
    any = u.spec[0] != NULL || u.spec[1] != NULL || u.spec[2] != NULL;
    if (autom == any) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS,
                              "bad arguments: give masters (bias, dark, flat) or auto");
        return;
    }
    if (ac_sched_use(&d->sched, &u, autom, &r, &e) != 0)
        ac_ctlcmd_reply_err(c, id, &e);
    else
        ac_ctlsrv_reply_ok(c, id, r);
}

void ac_ctlcmd_recalibrate(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    ac_planner_use_t u;
    bool autom = false;
    ac_err_t e = {0};
    json_t *r = NULL;

    if (!use_args(c, id, args, &u, &autom, false))
        return;
    if (ac_sched_recalibrate(&d->sched, &u, &r, &e) != 0)
        ac_ctlcmd_reply_err(c, id, &e);
    else
        ac_ctlsrv_reply_ok(c, id, r);
}
