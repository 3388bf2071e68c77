/*
 * rrun.c - an rclone process on the loop (rrun.h). Loop thread only.
 */
#include "rrun.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "util.h"

double ac_rrun_now(void)
{
    return (double)uv_hrtime() / 1e9;
}

static void handle_closed(uv_handle_t *h)
{
    ac_rrun_t *run = h->data;

    if (--run->open == 0) {
        run->running = false;
        run->done(run);
    }
}

/* finish closes every handle once the process exited and both pipes ended. */
static void finish(ac_rrun_t *run)
{
    if (--run->pending > 0)
        return;
    run->seconds = ac_rrun_now() - run->t0;
    uv_close((uv_handle_t *)&run->proc, handle_closed);
    uv_close((uv_handle_t *)&run->pout, handle_closed);
    uv_close((uv_handle_t *)&run->perr, handle_closed);
    uv_close((uv_handle_t *)&run->limit, handle_closed);
}

static void exit_cb(uv_process_t *p, int64_t status, int signo)
{
    ac_rrun_t *run = p->data;

    uv_timer_stop(&run->limit);
    if (run->killed)
        run->status = 124;
    else
        run->status = signo != 0 ? 128 + signo : (int)status;
    finish(run);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char scratch[16384]; /* loop thread only: one read at a time */

    (void)h;
    (void)suggested;
    *buf = uv_buf_init(scratch, sizeof scratch);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    ac_rrun_t *run = s->data;
    bool is_out = s == (uv_stream_t *)&run->pout;
    char *dst = is_out ? run->out : run->err;
    size_t cap = is_out ? sizeof run->out : sizeof run->err;
    size_t *len = is_out ? &run->olen : &run->elen;

    if (n > 0) {
        size_t k = (size_t)n;
        if (*len + 1 < cap) {
            if (k > cap - 1 - *len)
                k = cap - 1 - *len;
            memcpy(dst + *len, buf->base, k);
            *len += k;
            dst[*len] = '\0';
        }
        return;
    }
    if (n < 0) {
        uv_read_stop(s);
        finish(run);
    }
}

static void limit_cb(uv_timer_t *t)
{
    ac_rrun_t *run = t->data;

    ac_log_warn("rclone ran longer than its time limit: stopped");
    run->killed = true;
    uv_process_kill(&run->proc, SIGKILL);
}

int ac_rrun_start(ac_rrun_t *run, uv_loop_t *loop, const char *const *argv, double timeout_s,
                  ac_rrun_cb done)
{
    uv_process_options_t o = {0};
    uv_stdio_container_t io[3];
    int rc;

    run->loop = loop;
    run->done = done;
    run->status = 127;
    run->out[0] = run->err[0] = '\0';
    run->olen = run->elen = 0;
    run->killed = false;
    run->seconds = 0;
    run->t0 = ac_rrun_now();
    uv_pipe_init(loop, &run->pout, 0);
    uv_pipe_init(loop, &run->perr, 0);
    uv_timer_init(loop, &run->limit);
    run->pout.data = run->perr.data = run->limit.data = run->proc.data = run;
    io[0].flags = UV_IGNORE;
    io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    io[1].data.stream = (uv_stream_t *)&run->pout;
    io[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    io[2].data.stream = (uv_stream_t *)&run->perr;
    o.file = argv[0];
    o.args = (char **)argv;
    o.exit_cb = exit_cb;
    o.stdio = io;
    o.stdio_count = 3;
    rc = uv_spawn(loop, &run->proc, &o);
    if (rc != 0) {
        /* Reported like rclone's own failure, through done once every handle is closed
         * (libuv: the process handle must be closed too). */
        snprintf(run->err, sizeof run->err, "cannot run %s: %s", argv[0], uv_strerror(rc));
        run->open = 4;
        run->running = true;
        uv_close((uv_handle_t *)&run->proc, handle_closed);
        uv_close((uv_handle_t *)&run->pout, handle_closed);
        uv_close((uv_handle_t *)&run->perr, handle_closed);
        uv_close((uv_handle_t *)&run->limit, handle_closed);
        return 0;
    }
    run->open = 4;
    run->pending = 3;
    run->running = true;
    uv_read_start((uv_stream_t *)&run->pout, alloc_cb, read_cb);
    uv_read_start((uv_stream_t *)&run->perr, alloc_cb, read_cb);
    uv_timer_start(&run->limit, limit_cb, (uint64_t)(timeout_s * 1000), 0);
    return 0;
}

void ac_rrun_kill(ac_rrun_t *run)
{
    if (run->running && !run->killed) {
        run->killed = true;
        uv_process_kill(&run->proc, SIGKILL);
    }
}

bool ac_rrun_running(const ac_rrun_t *run)
{
    return run->running;
}
