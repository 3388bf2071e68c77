/*
 * ctlcmd.c - the control commands (docs/protocol.md): a table of {name, handler}. Each
 * handler decodes its arguments strictly, calls the one function that does the work (the
 * scheduler for the queue's requests, scheduler.h; the planner for plans and masters; the
 * queue for what it lists; the daemon for reload and after an import) and encodes the
 * reply, once, after any change is committed. The rules live in those modules, not here.
 *
 * The catalogue: `status` answers from memory when the catalogue cannot be read (the last
 * counts read; a rollback-journal catalogue locked by another program), and says whether
 * it is busy or lost; other commands that read it answer `busy` then. Once it is lost
 * (replaced or deleted) every command that changes something is refused with the reason.
 *
 * Thread: loop thread only.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctlcmd_int.h"
#include "ctlgrade.h"
#include "daemon.h"
#include "event.h"
#include "export.h"
#include "importer.h"
#include "fetch.h"
#include "ingest.h"
#include "upload.h"
#include "log.h"
#include "proto.h"
#include "util.h"
#include "version.h"

typedef void (*handler_fn)(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args);

bool ac_ctlcmd_unpack(ac_ctlsrv_client_t *c, json_t *id, json_t *args, const char *fmt, ...)
{
    json_error_t err;
    json_t *empty = NULL;
    va_list ap;
    int rc;

    if (args == NULL || json_is_null(args))
        args = empty = json_object();
    va_start(ap, fmt);
    rc = json_vunpack_ex(args, &err, JSON_STRICT, fmt, ap);
    va_end(ap);
    json_decref(empty);
    if (rc != 0) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS, "bad arguments: %s", err.text);
        return false;
    }
    return true;
}

void ac_ctlcmd_reply_err(ac_ctlsrv_client_t *c, json_t *id, const ac_err_t *e)
{
    ac_ctlsrv_reply_error(c, id, ac_proto_code_from_err(e->code), "%s",
                          e->msg[0] ? e->msg : ac_strerror(e->code));
}

static json_t *str_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* names_json maps counts per state to {"name": count} with the state names. */
static json_t *names_json(const int *counts, int n, const char *(*name)(int))
{
    json_t *o = json_object();

    for (int s = 0; s < n; s++)
        json_object_set_new(o, name(s), json_integer(counts[s]));
    return o;
}

static const char *file_state_name(int s)
{
    return ac_queue_file_state_name((ac_file_state_t)s);
}

static const char *sess_state_name(int s)
{
    return ac_queue_sess_state_name((ac_sess_state_t)s);
}

/* session_entry describes a session: its state as users see it (a done session's outcome:
 * done, partial or failed), the reason (a finished one's: counts and the most common
 * error), and eta_s (NAN: none). */
static json_t *session_entry(const ac_daemon_t *d, const ac_qsession_t *s, double eta_s)
{
    const ac_plan_t *p = ac_planner_find(&d->planner, s->session_id);
    int total = 0;

    for (int i = 0; i < AC_FILE_NSTATES; i++)
        total += s->counts[i];
    return json_pack("{s:s,s:o,s:o,s:o,s:s,s:o,s:i,s:i,s:o,s:o}", "id", s->session_id, "object",
                     str_or_null(p ? p->object : NULL), "date",
                     str_or_null(p && p->date[0] ? p->date : s->session_date), "filter",
                     str_or_null(p ? p->light_filter : NULL), "state", ac_queue_sess_shown(s),
                     "reason", str_or_null(s->reason ? s->reason : s->outcome_reason),
                     "priority", s->priority, "total", total, "files",
                     names_json(s->counts, AC_FILE_NSTATES, file_state_name), "eta_s",
                     isfinite(eta_s) ? json_real(eta_s) : json_null());
}

/* session_etas estimates when each queued session will be done, in claim order (the
 * list's order): the files left before it and in it, at the rate of the last minute, or
 * else at the mean time per calibrated file (the session's, else every session's) spread
 * over the frames that run at once. Not queued, or the queue paused: NAN. */
static void session_etas(const ac_daemon_t *d, const ac_qsession_list_t *sl, double *eta)
{
    double rate = ac_sched_rate(&d->sched), sum = 0, all_avg = NAN, cum = 0;
    int par = d->cfg.max_in_flight > 0 && d->cfg.max_in_flight < d->cfg.workers
                  ? d->cfg.max_in_flight
                  : d->cfg.workers;
    long ndone = 0;

    for (size_t i = 0; i < sl->n; i++)
        if (isfinite(sl->items[i].avg_seconds)) {
            sum += sl->items[i].avg_seconds * sl->items[i].counts[AC_FILE_DONE];
            ndone += sl->items[i].counts[AC_FILE_DONE];
        }
    if (ndone > 0)
        all_avg = sum / (double)ndone;
    for (size_t i = 0; i < sl->n; i++) {
        const ac_qsession_t *s = &sl->items[i];
        int left = s->counts[AC_FILE_PENDING] + s->counts[AC_FILE_RUNNING];
        double per = rate > 0                   ? 1.0 / rate
                     : isfinite(s->avg_seconds) ? s->avg_seconds / (par > 0 ? par : 1)
                     : isfinite(all_avg)        ? all_avg / (par > 0 ? par : 1)
                                                : NAN;
        eta[i] = NAN;
        if (s->state != AC_SESS_QUEUED || d->sched.pause_reason[0] != '\0')
            continue;
        cum += left * per;
        eta[i] = cum;
    }
}

/* ---- commands ---- */

static void cmd_version(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    if (ac_ctlcmd_unpack(c, id, args, "{}"))
        ac_ctlsrv_reply_ok(
            c, id, json_pack("{s:s,s:i}", "version", AC_VERSION, "protocol", AC_PROTO_VERSION));
}

/* status_now fills st for `status`: read now, or else (the catalogue cannot be read) the
 * counts last read with what the scheduler knows in memory; the ETA is then unknown. */
static int status_now(ac_daemon_t *d, ac_sched_status_t *st, ac_err_t *e)
{
    const ac_sched_t *s = &d->sched;

    if (ac_sched_status(s, st, e) == 0) {
        d->last_status = *st;
        d->have_last_status = true;
        return 0;
    }
    if (e->code != AC_EBUSY || !d->have_last_status)
        return e->code;
    *st = d->last_status;
    st->state = ac_sched_state(s);
    st->pause_reason = s->pause_reason;
    st->in_flight = ac_sched_jobs(s);
    st->rate_fps = ac_sched_rate(s);
    st->eta_s = NAN;
    st->load_per_cpu = s->load_per_cpu;
    st->cpu_pressure = s->cpu_pressure;
    st->backing_off = s->backing_off;
    st->throttle_reason = s->throttle_reason;
    return 0;
}

/* last_error_json is {at, message} of the last message logged at err level, or null. */
static json_t *last_error_json(void)
{
    char msg[1024], at[32];
    double t = ac_log_last_error(msg, sizeof msg);
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
        return json_null();
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:s,s:o}", "at", at, "message", ac_proto_string(msg));
}

static void cmd_status(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    ac_sched_status_t st;
    ac_err_t e = {0};
    char note[1200];
    json_t *r;

    if (!ac_ctlcmd_unpack(c, id, args, "{}"))
        return;
    if (status_now(d, &st, &e) != 0) {
        ac_ctlcmd_reply_err(c, id, &e);
        return;
    }
    if (d->catalogue_lost) { /* paused until a restart, whatever the scheduler says */
        st.state = "paused";
        st.pause_reason = ac_daemon_catalogue_note(d, note, sizeof note);
        st.eta_s = NAN;
    }
    r = json_pack(
        "{s:s,s:o,s:f,s:i,s:i,s:o,s:o,s:f,s:o,s:{s:I,s:I},s:{s:f,s:o,s:b,s:o},s:o}", "state",
        st.state, "pause_reason", str_or_null(st.pause_reason), "uptime_s",
        (double)(ac_now_ns() - d->started_ns) / 1e9, "workers", d->cfg.workers, "in_flight",
        st.in_flight, "files", names_json(st.files, AC_FILE_NSTATES, file_state_name),
        "sessions", names_json(st.sessions, AC_SESS_NSTATES, sess_state_name), "rate_fps",
        st.rate_fps, "eta_s", isfinite(st.eta_s) ? json_real(st.eta_s) : json_null(), "memory",
        "budget_bytes", (json_int_t)(d->cfg.memory_budget_mib * 1048576u), "used_bytes",
        (json_int_t)st.used_bytes, "throttle", "load_per_cpu", st.load_per_cpu, "cpu_pressure",
        isfinite(st.cpu_pressure) ? json_real(st.cpu_pressure) : json_null(), "backing_off",
        st.backing_off, "reason", str_or_null(st.throttle_reason), "running",
        ac_sched_running_json(&d->sched));
    /* Finished sessions by outcome: done counts only those whose every light ended well. */
    json_object_set_new(json_object_get(r, "sessions"), "partial", json_integer(st.partial));
    json_object_set_new(json_object_get(r, "sessions"), "failed", json_integer(st.failed));
    json_object_set_new(r, "last_session", str_or_null(d->last_session));
    json_object_set_new(r, "build", ac_sched_build_json(&d->sched));
    json_object_set_new(r, "ingest",
                        d->ingest != NULL ? ac_ingest_status_json(d->ingest) : json_null());
    json_object_set_new(r, "catalogue", ac_daemon_catalogue_json(d));
    json_object_set_new(r, "version", json_string(AC_VERSION));
    json_object_set_new(r, "pid", json_integer((json_int_t)getpid()));
    json_object_set_new(r, "last_error", last_error_json());
    json_object_set_new(r, "uploads", ac_uploader_status_json(d->uploader));
    json_object_set_new(r, "downloads", ac_fetcher_status_json(d->fetcher));
    ac_ctlsrv_reply_ok(c, id, r);
}

static void cmd_uploads(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    json_int_t limit = 50;
    ac_err_t e = {0};
    json_t *r;

    if (!ac_ctlcmd_unpack(c, id, args, "{s?I}", "limit", &limit))
        return;
    if (limit < 1 || limit > 100000) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS, "limit: 1 to 100000");
        return;
    }
    if (d->uploader == NULL) {
        ac_ctlsrv_reply_ok(c, id, ac_uploader_status_json(NULL));
        return;
    }
    r = ac_uploader_list_json(d->uploader, (int)limit, &e);
    if (r == NULL)
        ac_ctlcmd_reply_err(c, id, &e);
    else
        ac_ctlsrv_reply_ok(c, id, r);
}

static void cmd_sessions(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    static const char *const shown[] = {"waiting", "queued", "paused",   "done",
                                        "partial", "failed", "cancelled"};
    ac_grade_rows_t gr = {0};
    ac_qsession_list_t sl = {0};
    const char *state = NULL;
    ac_err_t e = {0};
    double *eta;
    json_t *arr;

    if (!ac_ctlcmd_unpack(c, id, args, "{s?s}", "state", &state))
        return;
    if (state != NULL && ac_name_find(shown, 7, state) < 0) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS,
                              "unknown state '%s' (waiting, queued, paused, done, partial, "
                              "failed or cancelled)",
                              state);
        return;
    }
    if (ac_queue_sessions(&d->queue, &sl, &e) != 0) {
        ac_ctlcmd_reply_err(c, id, &e);
        return;
    }
    eta = calloc(sl.n ? sl.n : 1, sizeof *eta);
    if (eta == NULL) {
        ac_queue_sessions_free(&sl);
        ac_ctlsrv_reply_error(c, id, AC_PROTO_INTERNAL, "out of memory");
        return;
    }
    session_etas(d, &sl, eta);
    if (ac_catalog_grade_rows(d->db, NULL, &gr, &e) != 0) {
        free(eta);
        ac_queue_sessions_free(&sl);
        ac_ctlcmd_reply_err(c, id, &e);
        return;
    }
    arr = json_array();
    /* Active sessions in claim order, then done and cancelled ones. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < sl.n; i++) {
            bool finished =
                sl.items[i].state == AC_SESS_DONE || sl.items[i].state == AC_SESS_CANCELLED;
            if (finished != (pass == 1) ||
                (state != NULL && strcmp(state, ac_queue_sess_shown(&sl.items[i])) != 0))
                continue;
            json_t *entry = session_entry(d, &sl.items[i], eta[i]);
            ac_grade_summary_t sum;
            ac_ctlgrade_session_summary(&gr, sl.items[i].session_id, &sum);
            json_object_set_new(entry, "grading", ac_ctlgrade_summary_json(&sum));
            json_array_append_new(arr, entry);
        }
    free(eta);
    ac_catalog_grade_rows_free(&gr);
    ac_queue_sessions_free(&sl);
    ac_ctlsrv_reply_ok(c, id, json_pack("{s:o}", "sessions", arr));
}

static void cmd_session(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    const char *sid = NULL;
    ac_qsession_t s = {0};
    ac_qfile_list_t fl = {0};
    ac_grade_rows_t gr = {0};
    ac_grade_summary_t sum;
    ac_err_t e = {0};
    json_t *entry, *files;

    if (!ac_ctlcmd_unpack(c, id, args, "{s:s}", "id", &sid))
        return;
    if (ac_queue_session(&d->queue, sid, &s, &e) != 0 ||
        ac_queue_files(&d->queue, sid, &fl, &e) != 0 ||
        ac_catalog_grade_rows(d->db, sid, &gr, &e) != 0) {
        ac_queue_files_free(&fl);
        ac_queue_session_clear(&s);
        ac_ctlcmd_reply_err(c, id, &e);
        return;
    }
    entry = session_entry(d, &s, NAN);
    {
        json_t *links = s.links_json != NULL ? json_loads(s.links_json, 0, NULL) : NULL;
        json_object_set_new(entry, "links", links != NULL ? links : json_null());
    }
    ac_grade_summarise(&gr, &sum);
    json_object_set_new(entry, "grading", ac_ctlgrade_summary_json(&sum));
    json_object_set_new(entry, "masters",
                        json_pack("{s:o,s:o,s:o,s:o}", "bias", str_or_null(s.bias_master),
                                  "dark", str_or_null(s.dark_master), "flat",
                                  str_or_null(s.flat_master), "flatdark",
                                  str_or_null(s.flatdark_master)));
    files = json_array();
    for (size_t i = 0; i < fl.n; i++) {
        const ac_qfile_t *f = &fl.items[i];
        const ac_grade_row_t *g = ac_ctlgrade_find(&gr, f->file_id);
        json_array_append_new(
            files, json_pack("{s:s,s:s,s:s,s:i,s:o,s:o,s:o,s:o}", "file_id", f->file_id, "path",
                             f->path, "state", ac_queue_file_state_name(f->state), "attempts",
                             f->attempts, "error", str_or_null(f->error), "output_path",
                             str_or_null(f->output_path), "seconds",
                             isfinite(f->seconds) ? json_real(f->seconds) : json_null(),
                             "grade", g != NULL ? ac_ctlgrade_row_json(g) : json_null()));
    }
    ac_catalog_grade_rows_free(&gr);
    ac_queue_files_free(&fl);
    ac_queue_session_clear(&s);
    ac_ctlsrv_reply_ok(c, id, json_pack("{s:o,s:o}", "session", entry, "files", files));
}

static void cmd_masters(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    ac_err_t e = {0};
    json_t *r;

    if (!ac_ctlcmd_unpack(c, id, args, "{}"))
        return;
    r = ac_planner_masters_json(&d->planner, &e);
    if (r == NULL)
        ac_ctlcmd_reply_err(c, id, &e);
    else
        ac_ctlsrv_reply_ok(c, id, r);
}

static void cmd_plan(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    const char *sid = NULL;
    ac_err_t e = {0};
    json_t *r;

    if (!ac_ctlcmd_unpack(c, id, args, "{s?s}", "session", &sid))
        return;
    r = ac_planner_explain(&d->planner, sid, &e);
    if (r == NULL)
        ac_ctlcmd_reply_err(c, id, &e);
    else
        ac_ctlsrv_reply_ok(c, id, r);
}

/* reply_session answers a request that changed a session with its state after the change
 * (s is cleared), or with the error. */
static void reply_session(ac_ctlsrv_client_t *c, json_t *id, int rc, ac_qsession_t *s,
                          const ac_err_t *e)
{
    if (rc != 0)
        ac_ctlcmd_reply_err(c, id, e);
    else
        ac_ctlsrv_reply_ok(c, id,
                           json_pack("{s:s,s:s,s:i}", "session", s->session_id, "state",
                                     ac_queue_sess_shown(s), "priority", s->priority));
    ac_queue_session_clear(s);
}

static void cmd_enqueue(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    const char *sid = NULL;
    json_int_t prio = INT32_MIN;
    int p;
    ac_qsession_t s = {0};
    ac_err_t e = {0};
    int rc;

    if (!ac_ctlcmd_unpack(c, id, args, "{s:s,s?I}", "session", &sid, "priority", &prio))
        return;
    p = (int)prio;
    rc = ac_sched_enqueue(&d->sched, sid, prio != INT32_MIN ? &p : NULL, &s, &e);
    reply_session(c, id, rc, &s, &e);
}

static void cmd_pause_resume(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args,
                             bool pause)
{
    const char *sid = NULL;
    ac_qsession_t s = {0};
    ac_err_t e = {0};
    int rc;

    const char *what = NULL;

    if (!ac_ctlcmd_unpack(c, id, args, "{s?s,s?s}", "session", &sid, "what", &what))
        return;
    if (what != NULL) { /* "uploads": the cloud upload queue only */
        if (strcmp(what, "uploads") != 0 || sid != NULL || d->uploader == NULL) {
            ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS, "%s",
                                  strcmp(what, "uploads") != 0
                                      ? "what: only \"uploads\" can be paused by name"
                                  : sid != NULL ? "give either session or what, not both"
                                                : "cloud sync is off ([CLOUD] enabled)");
            return;
        }
        ac_uploader_pause(d->uploader, pause);
        ac_ctlsrv_reply_ok(c, id, ac_uploader_status_json(d->uploader));
        return;
    }
    if (sid == NULL) {
        ac_sched_pause_queue(&d->sched, pause);
        ac_ctlsrv_reply_ok(
            c, id, json_pack("{s:s,s:n}", "state", ac_sched_state(&d->sched), "session"));
        return;
    }
    rc = ac_sched_pause_session(&d->sched, sid, pause, &s, &e);
    reply_session(c, id, rc, &s, &e);
}

static void cmd_pause(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    cmd_pause_resume(d, c, id, args, true);
}

static void cmd_resume(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    cmd_pause_resume(d, c, id, args, false);
}

static void cmd_cancel(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    const char *sid = NULL, *file = NULL;
    int all = 0, n = 0;
    ac_err_t e = {0};

    if (!ac_ctlcmd_unpack(c, id, args, "{s?s,s?s,s?b}", "session", &sid, "file", &file, "all",
                          &all))
        return;
    if ((sid != NULL) + (file != NULL) + (all != 0) != 1) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS,
                              "give exactly one of session, file or all: true");
        return;
    }
    if (ac_sched_cancel(&d->sched, sid, file, &n, &e) != 0)
        ac_ctlcmd_reply_err(c, id, &e);
    else
        ac_ctlsrv_reply_ok(c, id,
                           json_pack("{s:o,s:o,s:b,s:i}", "session", str_or_null(sid), "file",
                                     str_or_null(file), "all", all != 0, "cancelled_files", n));
}

static void cmd_retry(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    const char *file = NULL, *sid = NULL;
    int all = 0, uploads = 0, changed = 0;
    ac_err_t e = {0};

    if (!ac_ctlcmd_unpack(c, id, args, "{s?s,s?s,s?b,s?b}", "file", &file, "session", &sid,
                          "all_failed", &all, "uploads", &uploads))
        return;
    if ((file != NULL) + (sid != NULL) + (all != 0) + (uploads != 0) != 1) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS,
                              "give exactly one of file, session, all_failed: true or "
                              "uploads: true");
        return;
    }
    if (uploads && d->uploader == NULL) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS, "cloud sync is off ([CLOUD] enabled)");
        return;
    }
    if (uploads ? ac_uploader_retry_failed(d->uploader, &changed, &e) != 0
                : ac_sched_retry(&d->sched, file, sid, &changed, &e) != 0)
        ac_ctlcmd_reply_err(c, id, &e);
    else
        ac_ctlsrv_reply_ok(c, id,
                           json_pack("{s:i,s:b}", "retried", changed, "uploads", uploads));
}

struct import_req {
    ac_daemon_t *d;
    ac_ctlsrv_client_t *c;
    json_t *id;
};

static void import_done(void *ud, const ac_import_result_t *res)
{
    struct import_req *r = ud;
    json_t *errs = json_array();

    for (size_t i = 0; i < res->n_error_list; i++)
        json_array_append_new(errs, json_pack("{s:o,s:s}", "path",
                                              ac_proto_string(res->error_list[i].path),
                                              "message", res->error_list[i].message));
    if (!ac_ctlsrv_client_alive(r->c))
        json_decref(errs);
    else if (res->code != 0 && res->code != AC_ECANCELED)
        ac_ctlsrv_reply_error(r->c, r->id, ac_proto_code_from_err(res->code), "%s",
                              res->message);
    else
        ac_ctlsrv_reply_ok(r->c, r->id,
                           json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:o}", "registered",
                                     res->registered, "duplicates", res->duplicates, "skipped",
                                     res->skipped, "untyped", res->skipped_untyped, "inferred",
                                     res->inferred, "masters", res->masters, "sessions_created",
                                     res->sessions_created, "errors", errs));
    if (res->code == 0)
        ac_log_info("import %s: %d registered (%d with a type from the path), %d masters, %d "
                    "duplicates, %d skipped (%d without a frame type), %d errors",
                    res->dir, res->registered, res->inferred, res->masters, res->duplicates,
                    res->skipped, res->skipped_untyped, res->errors);
    ac_ctlsrv_client_unref(r->c);
    json_decref(r->id);
    r->d->imports--;
    ac_daemon_imported(r->d);
    free(r);
}

/* import_master_hashed: the import has just hashed this master; the master cache takes
 * its MD5 rather than reading it again when the master is used soon. */
static void import_master_hashed(void *ud, const ac_import_item_t *it)
{
    struct import_req *r = ud;

    ac_mcache_vouch(&r->d->mc, it->path, &it->st, it->md5);
}

/* import_progress: a batch of the import is registered; its lights are planned now, so a
 * long import is calibrated while the rest of it is read. Unless the last planning pass
 * was recent for its length (it runs on the loop, as the registration does: at most a
 * tenth of the loop's time), or nothing would start by itself (enable_light_calibration
 * = False); the next batch, or the import's end, plans these too. */
static void import_progress(void *ud)
{
    struct import_req *r = ud;
    ac_daemon_t *d = r->d;

    if (!d->stopping && d->cfg.enable_light_calibration &&
        ac_now_ns() - d->plan_end_ns >= 10 * d->plan_loop_ns)
        ac_daemon_frames_registered(d);
}

static void cmd_import(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    const char *dir = NULL;
    struct import_req *r;
    ac_import_opts_t io;
    ac_err_t e = {0};
    struct stat st;

    if (!ac_ctlcmd_unpack(c, id, args, "{s:s}", "dir", &dir))
        return;
    if (dir[0] != '/') {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS, "dir must be an absolute path: '%s'",
                              dir);
        return;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_NOT_FOUND, "no such directory: %s", dir);
        return;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_INTERNAL, "out of memory");
        return;
    }
    r->d = d;
    r->c = c;
    r->id = id != NULL ? json_incref(id) : NULL;
    ac_ctlsrv_client_ref(c);
    ac_import_opts_default(&io);
    io.utc_offset_h = d->cfg.site_utc_offset_h;
    io.type_from_path = d->cfg.type_from_path;
    io.progress = import_progress;
    io.master_hashed = import_master_hashed;
    io.hooks_ud = r;
    if (ac_import_start(d->loop, d->db, dir, &io, import_done, r, &e) != 0) {
        ac_ctlsrv_client_unref(c);
        json_decref(r->id);
        free(r);
        ac_ctlcmd_reply_err(c, id, &e);
        return;
    }
    d->imports++;
}

/* split_names turns "A, B" into a JSON array. */
static json_t *split_names(const char *list)
{
    json_t *arr = json_array();
    char buf[2048], *save = NULL;

    ac_strlcpy(buf, list, sizeof buf);
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        char *name = ac_str_trim(t);
        if (name[0] != '\0')
            json_array_append_new(arr, json_string(name));
    }
    return arr;
}

static void cmd_reload(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    char changed[2048] = "", ignored[2048] = "";
    ac_err_t e = {0};

    if (!ac_ctlcmd_unpack(c, id, args, "{}"))
        return;
    if (ac_daemon_reload(d, changed, sizeof changed, ignored, sizeof ignored, &e) != 0) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_CONFLICT, "%s", e.msg);
        return;
    }
    ac_ctlsrv_reply_ok(c, id,
                       json_pack("{s:o,s:o}", "changed", split_names(changed), "ignored",
                                 split_names(ignored)));
}

static void cmd_config(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    size_t n = 0;
    const ac_config_entry_t *t = ac_config_table(&n);
    json_t *cfg = json_object();
    char buf[AC_CONFIG_TEXT_MAX];

    if (!ac_ctlcmd_unpack(c, id, args, "{}")) {
        json_decref(cfg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *sec = json_object_get(cfg, t[i].section);
        if (sec == NULL) {
            sec = json_object();
            json_object_set_new(cfg, t[i].section, sec);
        }
        if (ac_config_get_text(&d->cfg, &t[i], buf, sizeof buf) == 0)
            json_object_set_new(sec, t[i].key, json_string(buf));
    }
    ac_ctlsrv_reply_ok(c, id, json_pack("{s:o}", "config", cfg));
}

/* ---- grading (docs/grading.md) ---- */

static void cmd_watch(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    if (!ac_ctlcmd_unpack(c, id, args, "{}"))
        return;
    ac_ctlsrv_subscribe(c);
    ac_ctlsrv_reply_ok(c, id, json_pack("{s:b}", "watching", 1));
}

/* history lists the events of a session or a file (event.h), oldest first. */
static void cmd_history(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    const char *key = NULL;
    json_int_t limit = 0;
    ac_event_list_t l = {0};
    ac_err_t e = {0};
    bool more = false;
    json_t *arr;

    if (!ac_ctlcmd_unpack(c, id, args, "{s:s,s?I}", "id", &key, "limit", &limit))
        return;
    if (limit < 0 || limit > 100000) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS, "limit must be 1 to 100000 (0: 1000)");
        return;
    }
    if (ac_event_history(d->db, key, (int)limit, &l, &more, &e) != 0) {
        ac_ctlcmd_reply_err(c, id, &e);
        return;
    }
    if (l.n == 0) { /* no event: an id astrocald does not know is an error */
        ac_qsession_t s = {0};
        ac_qfile_t f = {0};
        bool known = ac_queue_session(&d->queue, key, &s, NULL) == 0 ||
                     ac_queue_file(&d->queue, key, &f, NULL) == 0;
        ac_queue_session_clear(&s);
        ac_queue_file_clear(&f);
        if (!known) {
            ac_ctlsrv_reply_error(c, id, AC_PROTO_NOT_FOUND,
                                  "no session or file '%s' in astrocald's queue or history",
                                  key);
            return;
        }
    }
    arr = json_array();
    for (size_t i = 0; i < l.n; i++) {
        const ac_event_t *ev = &l.items[i];
        json_t *detail = ev->detail != NULL ? json_loads(ev->detail, 0, NULL) : NULL;
        json_array_append_new(
            arr, json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)ev->id, "at",
                           str_or_null(ev->at), "kind", str_or_null(ev->kind), "session_id",
                           str_or_null(ev->session_id), "file_id", str_or_null(ev->file_id),
                           "message", str_or_null(ev->message), "detail",
                           detail != NULL ? detail : json_null()));
    }
    ac_event_list_free(&l);
    ac_ctlsrv_reply_ok(c, id,
                       json_pack("{s:s,s:o,s:b}", "id", key, "events", arr, "more", more));
}

/* clang-format off */
static const struct {
    const char *name;
    handler_fn fn;
} commands[] = {
    {"version", cmd_version},       {"status", cmd_status},   {"sessions", cmd_sessions},
    {"session", cmd_session},       {"masters", cmd_masters}, {"plan", cmd_plan},
    {"enqueue", cmd_enqueue},       {"pause", cmd_pause},     {"resume", cmd_resume},
    {"cancel", cmd_cancel},         {"retry", cmd_retry},     {"import", cmd_import},
    {"reload", cmd_reload},         {"config", cmd_config},   {"watch", cmd_watch},
    {"history", cmd_history},       {"preview", ac_ctlcmd_preview},
    {"use", ac_ctlcmd_use},               {"recalibrate", ac_ctlcmd_recalibrate},
    {"uploads", cmd_uploads},
    {"export", ac_export_cmd},       {"import-results", ac_import_results_cmd},
    {"grade", ac_ctlcmd_grade},            {"accept", ac_ctlcmd_accept},   {"reject", ac_ctlcmd_reject},
    {"regrade", ac_ctlcmd_regrade},
};
/* clang-format on */

void ac_ctlcmd_handle(ac_ctlsrv_client_t *c, json_t *id, const char *cmd, json_t *args,
                      void *ud)
{
    ac_daemon_t *d = ud;

    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, cmd) == 0) {
            if (d->catalogue_lost && ac_proto_cmd_access(cmd) == AC_PROTO_ACCESS_CHANGE &&
                strcmp(cmd, "reload") != 0) {
                char note[1200];
                ac_ctlsrv_reply_error(c, id, AC_PROTO_CONFLICT, "%s",
                                      ac_daemon_catalogue_note(d, note, sizeof note));
                return;
            }
            commands[i].fn(d, c, id, args);
            return;
        }
    }
    ac_ctlsrv_reply_error(c, id, AC_PROTO_UNKNOWN_COMMAND, "unknown command '%s'", cmd);
}
