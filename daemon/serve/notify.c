/*
 * notify.c - [NOTIFY] programs (see notify.h).
 *
 * One run owns four handles: the process, its stdout and stderr pipes and a timer. The
 * timer has three uses in turn: the time limit (SIGTERM to the group), the grace before
 * SIGKILL, and, once the program has ended, the bound on draining its pipes. A run is
 * freed when the four handles are closed; then the next queued run starts.
 */
#include "notify.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

extern char **environ;

#define RUN_HANDLES 4
#define MAX_FACTS 16

enum phase { PHASE_RUNNING, PHASE_TERM_SENT, PHASE_KILL_SENT, PHASE_DRAINING };

struct stream {
    uv_pipe_t pipe;
    char rbuf[4096];
    char line[1024];
    size_t len;
    bool eof;
    const char *name;
};

struct ac_notify_run {
    ac_notify_t *n;
    ac_notify_run_t *next;
    const char *which; /* "on_session_done" or "on_failure" (static) */
    char *program;
    char **env; /* NULL-terminated: environ's pointers (borrowed) and own[] */
    char *own[MAX_FACTS];
    size_t nown;
    uv_process_t proc;
    struct stream s[2];
    uv_timer_t timer;
    int open_handles;
    int phase;
    bool exited, closing, truncated;
    int pid;
    size_t logged;
};

void ac_notify_facts_init(ac_notify_facts_t *f)
{
    memset(f, 0, sizeof *f);
    f->calibrated = f->failed = f->cancelled = f->total = -1;
    f->fwhm_median = NAN;
}

static size_t add_var(char **out, size_t n, size_t max, const char *name, const char *value)
{
    size_t len;

    if (value == NULL || n >= max)
        return n;
    len = strlen(name) + strlen(value) + 2;
    out[n] = malloc(len);
    if (out[n] == NULL)
        return n;
    snprintf(out[n], len, "%s=%s", name, value);
    return n + 1;
}

static size_t add_int(char **out, size_t n, size_t max, const char *name, int v)
{
    char buf[24];

    if (v < 0)
        return n;
    snprintf(buf, sizeof buf, "%d", v);
    return add_var(out, n, max, name, buf);
}

size_t ac_notify_env(const ac_notify_facts_t *f, char **out, size_t max)
{
    size_t n = 0;
    char buf[32];

    n = add_var(out, n, max, "ASTROCAL_EVENT", f->event);
    n = add_var(out, n, max, "ASTROCAL_SESSION", f->session_id);
    n = add_var(out, n, max, "ASTROCAL_OBJECT", f->object);
    n = add_var(out, n, max, "ASTROCAL_STATE", f->state);
    n = add_var(out, n, max, "ASTROCAL_FILE", f->file_id);
    n = add_var(out, n, max, "ASTROCAL_PATH", f->path);
    n = add_var(out, n, max, "ASTROCAL_OUTPUT_DIR", f->output_dir);
    n = add_var(out, n, max, "ASTROCAL_REASON", f->reason);
    n = add_var(out, n, max, "ASTROCAL_MASTER_KIND", f->kind);
    n = add_int(out, n, max, "ASTROCAL_CALIBRATED", f->calibrated);
    n = add_int(out, n, max, "ASTROCAL_FAILED", f->failed);
    n = add_int(out, n, max, "ASTROCAL_CANCELLED", f->cancelled);
    n = add_int(out, n, max, "ASTROCAL_TOTAL", f->total);
    if (isfinite(f->fwhm_median)) {
        snprintf(buf, sizeof buf, "%.3f", f->fwhm_median);
        n = add_var(out, n, max, "ASTROCAL_FWHM_MEDIAN", buf);
    }
    return n;
}

void ac_notify_init(ac_notify_t *n, uv_loop_t *loop, const struct ac_config *cfg)
{
    memset(n, 0, sizeof *n);
    n->loop = loop;
    n->cfg = cfg;
}

static void run_free(ac_notify_run_t *r)
{
    for (size_t i = 0; i < r->nown; i++)
        free(r->own[i]);
    free(r->env);
    free(r->program);
    free(r);
}

static void start_next(ac_notify_t *n);

static void on_closed(uv_handle_t *h)
{
    ac_notify_run_t *r = h->data;
    ac_notify_t *n = r->n;

    if (--r->open_handles > 0)
        return;
    for (ac_notify_run_t **pp = &n->running; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    n->nrunning--;
    run_free(r);
    start_next(n);
}

static void run_close(ac_notify_run_t *r)
{
    if (r->closing)
        return;
    r->closing = true;
    uv_close((uv_handle_t *)&r->proc, on_closed);
    uv_close((uv_handle_t *)&r->s[0].pipe, on_closed);
    uv_close((uv_handle_t *)&r->s[1].pipe, on_closed);
    uv_close((uv_handle_t *)&r->timer, on_closed);
}

static void maybe_finish(ac_notify_run_t *r)
{
    if (r->exited && r->s[0].eof && r->s[1].eof)
        run_close(r);
}

/* flush_line logs what the stream holds as one line (bounded per run). */
static void flush_line(ac_notify_run_t *r, struct stream *s)
{
    if (s->len == 0)
        return;
    s->line[s->len] = '\0';
    if (r->logged <= AC_NOTIFY_OUTPUT_MAX) {
        ac_log_info("notify %s [%d] %s: %s", r->which, r->pid, s->name, s->line);
    } else if (!r->truncated) {
        r->truncated = true;
        ac_log_warn("notify %s [%d]: more than %d bytes of output, the rest is not logged",
                    r->which, r->pid, AC_NOTIFY_OUTPUT_MAX);
    }
    s->len = 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct stream *s = (struct stream *)h; /* pipe is the first member */

    (void)suggested;
    *buf = uv_buf_init(s->rbuf, sizeof s->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct stream *s = (struct stream *)st;
    ac_notify_run_t *r = st->data;

    for (ssize_t i = 0; i < nread; i++) {
        char ch = buf->base[i];
        r->logged++;
        if (ch == '\n' || s->len + 1 >= sizeof s->line) {
            if (ch != '\n')
                s->line[s->len++] = ch;
            flush_line(r, s);
        } else {
            s->line[s->len++] = ch;
        }
    }
    if (nread < 0) { /* EOF or a read error: nothing more from this pipe */
        flush_line(r, s);
        uv_read_stop(st);
        s->eof = true;
        maybe_finish(r);
    }
}

static void kill_group(ac_notify_run_t *r, int sig)
{
    if (r->pid > 0)
        kill(-r->pid, sig); /* detached: the program leads its own process group */
}

static void on_timer(uv_timer_t *t)
{
    ac_notify_run_t *r = t->data;

    switch (r->phase) {
    case PHASE_RUNNING:
        ac_log_warn("notify %s [%d]: still running after %d s: SIGTERM", r->which, r->pid,
                    r->n->cfg->notify_timeout_s);
        kill_group(r, SIGTERM);
        r->phase = PHASE_TERM_SENT;
        uv_timer_start(t, on_timer, AC_NOTIFY_KILL_GRACE_S * 1000u, 0);
        break;
    case PHASE_TERM_SENT:
        ac_log_warn("notify %s [%d]: still running %d s after SIGTERM: SIGKILL", r->which,
                    r->pid, AC_NOTIFY_KILL_GRACE_S);
        kill_group(r, SIGKILL);
        r->phase = PHASE_KILL_SENT;
        break;
    case PHASE_DRAINING:
        /* Something the program left behind holds its pipes: stop reading them. */
        flush_line(r, &r->s[0]);
        flush_line(r, &r->s[1]);
        run_close(r);
        break;
    default:
        break;
    }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    ac_notify_run_t *r = p->data;

    r->exited = true;
    if (sig != 0)
        ac_log_warn("notify %s [%d]: %s killed by signal %d", r->which, r->pid, r->program,
                    sig);
    else if (status != 0)
        ac_log_warn("notify %s [%d]: %s exited with status %lld", r->which, r->pid, r->program,
                    (long long)status);
    else
        ac_log_info("notify %s [%d]: %s exited with status 0", r->which, r->pid, r->program);
    r->phase = PHASE_DRAINING;
    uv_timer_start(&r->timer, on_timer, AC_NOTIFY_DRAIN_S * 1000u, 0);
    maybe_finish(r);
}

/* run_start spawns r (already counted in nrunning and listed). */
static void run_start(ac_notify_run_t *r)
{
    ac_notify_t *n = r->n;
    uv_process_options_t o = {0};
    uv_stdio_container_t stdio[3];
    char *args[2] = {r->program, NULL};
    int rc;

    r->open_handles = RUN_HANDLES;
    uv_timer_init(n->loop, &r->timer);
    r->timer.data = r;
    for (int i = 0; i < 2; i++) {
        uv_pipe_init(n->loop, &r->s[i].pipe, 0);
        r->s[i].pipe.data = r;
        r->s[i].name = i == 0 ? "stdout" : "stderr";
    }
    r->proc.data = r;
    stdio[0].flags = UV_IGNORE;
    for (int i = 0; i < 2; i++) {
        stdio[i + 1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        stdio[i + 1].data.stream = (uv_stream_t *)&r->s[i].pipe;
    }
    o.file = r->program;
    o.args = args;
    o.env = r->env;
    o.flags = UV_PROCESS_DETACHED;
    o.stdio_count = 3;
    o.stdio = stdio;
    o.exit_cb = on_exit_cb;
    rc = uv_spawn(n->loop, &r->proc, &o);
    if (rc != 0) {
        ac_log_warn("notify %s: cannot run %s: %s", r->which, r->program, uv_strerror(rc));
        run_close(r);
        return;
    }
    r->pid = r->proc.pid;
    n->started++;
    ac_log_info("notify %s [%d]: started %s", r->which, r->pid, r->program);
    for (int i = 0; i < 2; i++)
        uv_read_start((uv_stream_t *)&r->s[i].pipe, on_alloc, on_read);
    uv_timer_start(&r->timer, on_timer, (uint64_t)n->cfg->notify_timeout_s * 1000u, 0);
}

static void start_next(ac_notify_t *n)
{
    while (!n->closing && n->queue_head != NULL && n->nrunning < n->cfg->notify_max_running) {
        ac_notify_run_t *r = n->queue_head;

        n->queue_head = r->next;
        if (n->queue_head == NULL)
            n->queue_tail = NULL;
        n->nqueued--;
        r->next = n->running;
        n->running = r;
        n->nrunning++;
        run_start(r);
    }
}

/* submit queues a run of program (which: the key's name) with the facts f. */
static void submit(ac_notify_t *n, const char *which, const char *program,
                   const ac_notify_facts_t *f)
{
    ac_notify_run_t *r;
    size_t nenv = 0, k = 0;

    if (program == NULL || program[0] == '\0' || n->closing)
        return;
    if (n->nqueued >= AC_NOTIFY_QUEUE_MAX) {
        n->dropped++;
        ac_log_warn("notify %s: %d runs already wait; this one (%s %s) is dropped", which,
                    n->nqueued, f->event ? f->event : "", f->session_id ? f->session_id : "");
        return;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL)
        goto oom;
    r->n = n;
    r->which = which;
    r->program = strdup(program);
    while (environ != NULL && environ[nenv] != NULL)
        nenv++;
    r->env = calloc(nenv + MAX_FACTS + 1, sizeof *r->env);
    if (r->program == NULL || r->env == NULL)
        goto oom;
    for (size_t i = 0; i < nenv; i++)
        if (strncmp(environ[i], "ASTROCAL_", 9) != 0)
            r->env[k++] = environ[i];
    r->nown = ac_notify_env(f, r->own, MAX_FACTS);
    for (size_t i = 0; i < r->nown; i++)
        r->env[k++] = r->own[i];
    if (n->queue_tail != NULL)
        n->queue_tail->next = r;
    else
        n->queue_head = r;
    n->queue_tail = r;
    n->nqueued++;
    start_next(n);
    return;
oom:
    if (r != NULL)
        run_free(r);
    ac_log_warn("notify %s: out of memory", which);
}

void ac_notify_session_done(ac_notify_t *n, const ac_notify_facts_t *f)
{
    submit(n, "on_session_done", n->cfg->on_session_done, f);
}

void ac_notify_failure(ac_notify_t *n, const ac_notify_facts_t *f)
{
    submit(n, "on_failure", n->cfg->on_failure, f);
}

void ac_notify_close(ac_notify_t *n)
{
    n->closing = true;
    if (n->nqueued > 0)
        ac_log_warn("notify: stopping; %d waiting run%s dropped", n->nqueued,
                    n->nqueued == 1 ? "" : "s");
    while (n->queue_head != NULL) {
        ac_notify_run_t *r = n->queue_head;
        n->queue_head = r->next;
        run_free(r);
    }
    n->queue_tail = NULL;
    n->nqueued = 0;
}

bool ac_notify_busy(const ac_notify_t *n)
{
    return n->running != NULL;
}
