/*
 * upload.c - the cloud upload queue worked off by rclone (upload.h). Loop thread only.
 */
#include "upload.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "backoff.h"
#include "cloud.h"
#include "log.h"
#include "rrun.h"
#include "upload_queue.h"
#include "util.h"

#define TICK_MS 1000
#define COLLECT_EVERY_S 60.0
#define PROBE_TIMEOUT_S 120.0
#define GATE_CAP_S 3600.0
#define NRECENT 32
#define RATE_WINDOW_S 60.0
#define SAME_NAME_WAIT_S 5.0

enum phase { PH_STAT, PH_COPY, PH_VERIFY };

struct xfer {
    ac_uploader_t *u;
    struct xfer *next;
    ac_up_row_t row;
    enum phase phase;
    uv_fs_t st;
    ac_rrun_t run;
    int64_t size;
    double copy_s;
    char rel[4096], remote[5200], url[5200];
};

struct recent {
    double at, bytes, secs;
};

struct ac_uploader {
    ac_cloud_env_t env;
    uv_loop_t *loop;
    ac_db_t *db;
    const struct ac_config *cfg;
    uv_timer_t timer;
    struct xfer *xfers;
    int nrunning;
    bool paused, stopping, kicked, empty, probing;
    ac_rrun_t probe;
    ac_backoff_t gate;
    ac_cloud_fault_t fault;
    bool remote_ok; /* the last probe or upload succeeded */
    char fault_msg[1024];
    double last_collect;
    struct recent recent[NRECENT];
    int nrecent;
    int counts[AC_UP_NSTATES]; /* last read */
    void (*stopped)(void *ud);
};

static double unix_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void timer_cb(uv_timer_t *t);

/* soon runs the next tick at once (something ended or changed). */
static void soon(ac_uploader_t *u)
{
    if (!u->stopping)
        uv_timer_start(&u->timer, timer_cb, 0, TICK_MS);
}

/* ---- the remote's health ---- */

static void remote_good(ac_uploader_t *u)
{
    if (u->fault != AC_CLOUD_FAULT_NONE)
        ac_log_notice("cloud: remote %s answers again", u->cfg->remote);
    u->fault = AC_CLOUD_FAULT_NONE;
    u->fault_msg[0] = '\0';
    u->remote_ok = true;
    ac_backoff_reset(&u->gate);
}

/* remote_bad records what rclone said and holds uploads back for the back-off. */
static void remote_bad(ac_uploader_t *u, const ac_rrun_t *run, const char *what)
{
    char last[900];
    ac_cloud_fault_t f =
        run->status == 124 ? AC_CLOUD_FAULT_TIMEOUT : ac_cloud_classify(run->status, run->err);
    double d = ac_backoff_fail(&u->gate, ac_rrun_now(), u->cfg->retry_backoff_s, GATE_CAP_S);

    ac_cloud_last_error(run->err, last, sizeof last);
    u->fault = f;
    u->remote_ok = false;
    snprintf(u->fault_msg, sizeof u->fault_msg, "%s: %s", ac_cloud_fault_text(f),
             last[0] ? last : "no message");
    ac_log_warn("cloud: %s on %s failed (exit %d): %s; uploads wait %.0f s", what,
                u->cfg->remote, run->status, u->fault_msg, d);
}

static void probe_done(ac_rrun_t *run)
{
    ac_uploader_t *u = run->data;

    u->probing = false;
    if (run->status == 0)
        remote_good(u);
    else
        remote_bad(u, run, "rclone lsf");
    if (u->stopping)
        ac_uploader_stop(u, u->stopped);
    else
        soon(u);
}

static void start_probe(ac_uploader_t *u)
{
    const char *argv[AC_CLOUD_ARGV_MAX];

    ac_cloud_argv(u->cfg, AC_CLOUD_LSF, u->cfg->remote, NULL, argv);
    u->probing = true;
    u->probe.data = u;
    ac_rrun_start(&u->probe, u->loop, argv, PROBE_TIMEOUT_S, probe_done);
}

/* ---- one upload ---- */

static void xfer_end(struct xfer *x)
{
    ac_uploader_t *u = x->u;

    for (struct xfer **p = &u->xfers; *p != NULL; p = &(*p)->next) {
        if (*p == x) {
            *p = x->next;
            break;
        }
    }
    u->nrunning--;
    ac_upq_row_clear(&x->row);
    free(x);
    if (u->stopping)
        ac_uploader_stop(u, u->stopped);
    else
        soon(u);
}

/* put_back returns the row to pending without counting the attempt, due again after
 * delay_s. */
static void put_back(struct xfer *x, double delay_s)
{
    ac_err_t e = {0};

    if (ac_upq_release(x->u->db, x->row.id, delay_s > 0 ? unix_now() + delay_s : NAN, &e) != 0)
        ac_log_warn("cloud: putting back the upload of %s: %s (redone at the next start)",
                    x->row.path, e.msg);
    xfer_end(x);
}

/* retry_later counts the attempt: pending after the back-off, failed after max_attempts. */
static void retry_later(struct xfer *x, const char *why)
{
    ac_uploader_t *u = x->u;
    ac_err_t e = {0};
    int rc;

    if (x->row.attempts >= u->cfg->max_attempts) {
        ac_log_err("cloud: upload of %s failed: %s", x->row.path, why);
        rc = ac_upq_fail(u->db, x->row.id, why, &e);
    } else {
        double d = ac_backoff_delay(u->cfg->retry_backoff_s, GATE_CAP_S, x->row.attempts - 1);
        ac_log_warn("cloud: upload of %s: %s; again in %.0f s", x->row.path, why, d);
        rc = ac_upq_defer(u->db, x->row.id, why, unix_now() + d, &e);
    }
    if (rc != 0)
        ac_log_warn("cloud: recording the failed upload of %s: %s", x->row.path, e.msg);
    xfer_end(x);
}

static void fail_now(struct xfer *x, const char *why)
{
    ac_err_t e = {0};

    ac_log_err("cloud: upload of %s failed: %s", x->row.path, why);
    if (ac_upq_fail(x->u->db, x->row.id, why, &e) != 0)
        ac_log_warn("cloud: recording the failed upload of %s: %s", x->row.path, e.msg);
    xfer_end(x);
}

/* check_remote compares rclone lsjson's answer with the local file: the size, and the hash
 * when the backend gave the catalogue's kind. 0, or -EIO with why. */
static int check_remote(struct xfer *x, const char *hash_type, char *why, size_t size)
{
    json_error_t je;
    json_t *o = json_loads(x->run.out, 0, &je), *h;
    const char *got = NULL;
    int rc = 0;

    if (!json_is_object(o)) {
        snprintf(why, size, "rclone lsjson gave no object for %s: %s", x->remote, je.text);
        rc = -EIO;
    } else if (json_integer_value(json_object_get(o, "Size")) != x->size) {
        snprintf(why, size, "%s has %lld bytes on the remote, %lld here", x->remote,
                 (long long)json_integer_value(json_object_get(o, "Size")), (long long)x->size);
        rc = -EIO;
    } else if (hash_type != NULL && (h = json_object_get(o, "Hashes")) != NULL &&
               (got = json_string_value(json_object_get(h, hash_type))) != NULL &&
               got[0] != '\0' && strcasecmp(got, x->row.hash) != 0) {
        snprintf(why, size, "%s has %s %s on the remote, the catalogue says %s", x->remote,
                 hash_type, got, x->row.hash);
        rc = -EIO;
    } else {
        ac_log_debug("cloud: %s verified (%lld bytes%s%s)", x->remote, (long long)x->size,
                     got != NULL && got[0] ? ", " : "", got != NULL && got[0] ? hash_type : "");
    }
    json_decref(o);
    return rc;
}

static void record(struct xfer *x)
{
    ac_uploader_t *u = x->u;
    ac_err_t e = {0};

    if (ac_upq_done(u->db, x->row.id, x->url, x->size, x->copy_s, &e) != 0) {
        /* Uploaded but not recorded (the catalogue is busy): uploaded again later, to the
         * same name, and recorded then. */
        ac_log_warn("cloud: %s uploaded but not recorded: %s", x->row.path, e.msg);
        put_back(x, 0);
        return;
    }
    ac_log_info("cloud: %s -> %s (%lld bytes, %.1f s)", x->row.path, x->url, (long long)x->size,
                x->copy_s);
    if (u->nrecent == NRECENT) {
        memmove(u->recent, u->recent + 1, (NRECENT - 1) * sizeof u->recent[0]);
        u->nrecent--;
    }
    u->recent[u->nrecent++] = (struct recent){ac_rrun_now(), (double)x->size, x->copy_s};
    remote_good(u);
    xfer_end(x);
}

static void run_done(ac_rrun_t *run)
{
    struct xfer *x = run->data;
    ac_uploader_t *u = x->u;
    const char *argv[AC_CLOUD_ARGV_MAX], *hash_type = NULL;
    char why[1200];

    if (u->stopping) {
        put_back(x, 0);
        return;
    }
    if (run->status != 0) {
        ac_cloud_fault_t f = ac_cloud_classify(run->status, run->err);
        remote_bad(u, run, x->phase == PH_COPY ? "rclone copyto" : "rclone lsjson");
        if (f == AC_CLOUD_FAULT_OTHER) {
            retry_later(x, u->fault_msg);
            return;
        }
        put_back(x, 0);
        return;
    }
    if (x->phase == PH_COPY) {
        x->copy_s = run->seconds;
        x->phase = PH_VERIFY;
        if (x->row.hash != NULL && x->row.hash[0] != '\0')
            hash_type = strcmp(x->row.kind, "master") == 0 ? "md5" : "sha256";
        ac_cloud_argv(u->cfg, AC_CLOUD_STAT, x->remote, hash_type, argv);
        ac_rrun_start(&x->run, u->loop, argv, u->cfg->transfer_timeout_s, run_done);
        return;
    }
    if (x->row.hash != NULL && x->row.hash[0] != '\0')
        hash_type = strcmp(x->row.kind, "master") == 0 ? "md5" : "sha256";
    if (check_remote(x, hash_type, why, sizeof why) != 0) {
        retry_later(x, why);
        return;
    }
    record(x);
}

static void stat_cb(uv_fs_t *req)
{
    struct xfer *x = req->data;
    ac_uploader_t *u = x->u;
    const char *argv[AC_CLOUD_ARGV_MAX];
    char why[10000], owner[4096];
    ac_err_t e = {0};
    int res = (int)req->result;

    x->size = res == 0 ? (int64_t)req->statbuf.st_size : -1;
    uv_fs_req_cleanup(req);
    if (u->stopping) {
        put_back(x, 0);
        return;
    }
    if (res != 0) {
        snprintf(why, sizeof why, "the local file %s: %s", x->row.path, uv_strerror(res));
        fail_now(x, why);
        return;
    }
    if (ac_cloud_rel(u->cfg->repository_dir, x->row.path, x->rel, sizeof x->rel) != 0 ||
        ac_cloud_remote_path(u->cfg, x->rel, x->remote, sizeof x->remote) != 0 ||
        ac_cloud_url(u->cfg, x->rel, x->url, sizeof x->url, &e) != 0) {
        snprintf(why, sizeof why, "no cloud name for %s: %s", x->row.path,
                 e.msg[0] ? e.msg : "path too long");
        fail_now(x, why);
        return;
    }
    /* Never two files under one name on the remote (a name outside the repository is the
     * base name alone): the other file's backup would be overwritten. */
    for (struct xfer *o = u->xfers; o != NULL; o = o->next) {
        if (o != x && o->phase != PH_STAT && strcmp(o->url, x->url) == 0) {
            put_back(x, SAME_NAME_WAIT_S); /* the same name is being written: after it */
            return;
        }
    }
    if (ac_upq_url_owner(u->db, x->row.id, x->url, owner, sizeof owner, &e) != 0) {
        put_back(x, SAME_NAME_WAIT_S); /* the catalogue is busy: later */
        return;
    }
    if (owner[0] != '\0') {
        snprintf(why, sizeof why,
                 "its cloud name %s is already %s's: keep output_dir and masters_dir inside "
                 "[DAEMON] repository_dir",
                 x->url, owner);
        fail_now(x, why);
        return;
    }
    x->phase = PH_COPY;
    x->run.data = x;
    ac_cloud_argv(u->cfg, AC_CLOUD_COPYTO, x->row.path, x->remote, argv);
    ac_rrun_start(&x->run, u->loop, argv, u->cfg->transfer_timeout_s, run_done);
}

/* start_one claims the next due upload and starts it; false when none was started. */
static bool start_one(ac_uploader_t *u)
{
    struct xfer *x;
    ac_err_t e = {0};
    bool found = false;

    x = calloc(1, sizeof *x);
    if (x == NULL)
        return false;
    if (ac_upq_claim(u->db, unix_now(), &x->row, &found, &e) != 0 || !found) {
        if (e.code != 0 && !ac_db_unavailable(e.code))
            ac_log_warn("cloud: claiming the next upload: %s", e.msg);
        u->empty = e.code == 0;
        ac_upq_row_clear(&x->row);
        free(x);
        return false;
    }
    x->u = u;
    x->next = u->xfers;
    u->xfers = x;
    u->nrunning++;
    x->phase = PH_STAT;
    x->st.data = x;
    if (uv_fs_stat(u->loop, &x->st, x->row.path, stat_cb) != 0) {
        x->st.result = -EIO;
        stat_cb(&x->st);
    }
    return true;
}

static void tick(ac_uploader_t *u)
{
    ac_err_t e = {0};
    double now = ac_rrun_now();

    if (u->stopping || !u->env.ok(u->env.ud))
        return;
    if (u->kicked || now - u->last_collect >= COLLECT_EVERY_S) {
        int added = 0;
        if (ac_upq_collect(u->db, &added, &e) == 0) {
            u->kicked = false;
            u->last_collect = now;
            if (added > 0) {
                u->empty = false;
                ac_log_debug("cloud: %d new upload%s queued", added, added == 1 ? "" : "s");
            }
        }
    }
    if (u->probing || u->paused || !u->cfg->upload_calibrated)
        return;
    if (u->fault != AC_CLOUD_FAULT_NONE) {
        /* One probe at a time, once the back-off is over: an upload, or a listing. */
        if (u->nrunning > 0 || !ac_backoff_due(&u->gate, now))
            return;
        if (!start_one(u))
            start_probe(u);
        return;
    }
    while (u->nrunning < u->cfg->transfers && start_one(u))
        ;
}

static void timer_cb(uv_timer_t *t)
{
    tick(t->data);
}

/* ---- public ---- */

ac_uploader_t *ac_uploader_new(const ac_cloud_env_t *env, ac_err_t *e)
{
    ac_uploader_t *u = calloc(1, sizeof *u);
    const struct ac_config *cfg = env->cfg;
    int n = 0;

    if (u == NULL) {
        ac_err_set(e, -ENOMEM, "out of memory");
        return NULL;
    }
    u->env = *env;
    u->loop = env->loop;
    u->db = env->db;
    u->cfg = cfg;
    u->kicked = true;
    if (ac_upq_recover(u->db, &n, e) != 0) {
        free(u);
        return NULL;
    }
    if (n > 0)
        ac_log_notice("cloud: %d interrupted upload%s will be redone", n, n == 1 ? "" : "s");
    uv_timer_init(u->loop, &u->timer);
    u->timer.data = u;
    ac_log_notice("cloud: remote %s, rclone %s%s%s", cfg->remote, cfg->rclone_program,
                  cfg->rclone_config[0] ? ", config " : "", cfg->rclone_config);
    start_probe(u);
    uv_timer_start(&u->timer, timer_cb, TICK_MS, TICK_MS);
    return u;
}

void ac_uploader_kick(ac_uploader_t *u)
{
    if (u == NULL || u->stopping)
        return;
    u->kicked = true;
    uv_timer_start(&u->timer, timer_cb, 0, TICK_MS);
}

void ac_uploader_pause(ac_uploader_t *u, bool pause)
{
    if (u == NULL)
        return;
    if (u->paused != pause)
        ac_log_notice("cloud: uploads %s", pause ? "paused" : "resumed");
    u->paused = pause;
    if (!pause)
        ac_uploader_kick(u);
}

bool ac_uploader_idle(const ac_uploader_t *u)
{
    if (u == NULL)
        return true;
    if (u->nrunning > 0 || u->probing)
        return false;
    return u->paused || !u->cfg->upload_calibrated || u->fault != AC_CLOUD_FAULT_NONE ||
           (u->empty && !u->kicked);
}

static double rate_bps(const ac_uploader_t *u)
{
    double b = 0, s = 0, now = ac_rrun_now();

    for (int i = 0; i < u->nrecent; i++) {
        if (now - u->recent[i].at <= RATE_WINDOW_S) {
            b += u->recent[i].bytes;
            s += u->recent[i].secs;
        }
    }
    return s > 0 ? b / s : 0;
}

json_t *ac_uploader_status_json(ac_uploader_t *u)
{
    ac_err_t e = {0};
    double retry = 0;

    if (u == NULL)
        return json_pack("{s:b}", "enabled", 0);
    if (ac_upq_counts(u->db, u->counts, &e) != 0)
        ac_log_debug("cloud: counting uploads: %s", e.msg); /* the last counts stand */
    if (u->fault != AC_CLOUD_FAULT_NONE)
        retry = fmax(0, u->gate.until - ac_rrun_now());
    return json_pack("{s:b,s:b,s:b,s:i,s:i,s:i,s:i,s:f,s:s,s:s,s:o,s:o}", "enabled", 1,
                     "paused", u->paused, "upload_calibrated", u->cfg->upload_calibrated,
                     "queued", u->counts[AC_UP_PENDING], "running", u->nrunning, "done",
                     u->counts[AC_UP_DONE], "failed", u->counts[AC_UP_FAILED], "rate_bps",
                     rate_bps(u), "remote_name", u->cfg->remote, "remote",
                     u->fault != AC_CLOUD_FAULT_NONE ? ac_cloud_fault_text(u->fault)
                     : u->remote_ok                  ? "ok"
                                                     : "unknown",
                     "remote_error", u->fault_msg[0] ? json_string(u->fault_msg) : json_null(),
                     "retry_in_s",
                     u->fault != AC_CLOUD_FAULT_NONE ? json_real(retry) : json_null());
}

json_t *ac_uploader_list_json(ac_uploader_t *u, int limit, ac_err_t *e)
{
    ac_up_list_t l = {0};
    json_t *r, *a;

    if (ac_upq_list(u->db, limit, &l, e) != 0)
        return NULL;
    a = json_array();
    for (size_t i = 0; i < l.n; i++) {
        const ac_up_row_t *w = &l.items[i];
        json_array_append_new(
            a, json_pack("{s:I,s:s,s:s,s:s,s:s,s:i,s:o,s:o,s:o,s:o,s:o}", "id",
                         (json_int_t)w->id, "kind", w->kind ? w->kind : "", "ref",
                         w->ref ? w->ref : "", "path", w->path ? w->path : "", "state",
                         ac_upq_state_name((ac_up_state_t)w->state), "attempts", w->attempts,
                         "error", w->error ? json_string(w->error) : json_null(), "url",
                         w->url ? json_string(w->url) : json_null(), "bytes",
                         w->bytes >= 0 ? json_integer(w->bytes) : json_null(), "seconds",
                         isfinite(w->seconds) && w->state == AC_UP_DONE ? json_real(w->seconds)
                                                                        : json_null(),
                         "finished_at",
                         w->finished_at ? json_string(w->finished_at) : json_null()));
    }
    ac_upq_list_free(&l);
    r = ac_uploader_status_json(u);
    json_object_set_new(r, "uploads", a);
    return r;
}

int ac_uploader_retry_failed(ac_uploader_t *u, int *n, ac_err_t *e)
{
    int rc = ac_upq_retry_failed(u->db, n, e);

    if (rc == 0) {
        u->empty = false;
        ac_uploader_kick(u);
    }
    return rc;
}

static void timer_closed(uv_handle_t *h)
{
    ac_uploader_t *u = h->data;
    void (*stopped)(void *) = u->stopped;
    void *ud = u->env.ud;

    free(u);
    if (stopped != NULL)
        stopped(ud);
}

void ac_uploader_stop(ac_uploader_t *u, void (*stopped)(void *ud))
{
    u->stopped = stopped;
    if (!u->stopping) {
        u->stopping = true;
        uv_timer_stop(&u->timer);
        for (struct xfer *x = u->xfers; x != NULL; x = x->next)
            if (ac_rrun_running(&x->run))
                ac_rrun_kill(&x->run);
        if (u->probing)
            ac_rrun_kill(&u->probe);
    }
    if (u->nrunning > 0 || u->probing || uv_is_closing((uv_handle_t *)&u->timer))
        return; /* called again as each one ends */
    uv_close((uv_handle_t *)&u->timer, timer_closed);
}
