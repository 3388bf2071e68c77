/*
 * ctlsrv_fixture.h - a control server on a real libuv loop in the test process, for
 * test-ctlsrv.c and test-ctlaccess.c.
 *
 * Each test runs the server on a socket in its temporary directory; the loop runs on the
 * test's main thread and a scenario runs on a client thread with plain blocking sockets,
 * then stops the loop through a uv_async_t. The scenario only talks to the server through
 * the socket (the test handler answers a "stats" command with the server's counters), so
 * no server state is touched off the loop thread.
 *
 * struct srv_thread is the other way round, for test-harness.c and test-print.c: the
 * server's loop runs on a thread of its own and the test is its blocking client.
 *
 * Header-only (static functions marked unused), like tests/support/harness.h.
 */
#ifndef AC_CTLSRV_FIXTURE_H
#define AC_CTLSRV_FIXTURE_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctlsrv.h"
#include "test.h"

#define FX_FN __attribute__((unused)) static

/* What run_opts sets up besides the defaults of ac_ctlsrv_new (0 / NULL: unchanged). */
struct fx_opts {
    size_t max_pending;
    size_t max_clients;
    bool configure; /* call ac_ctlsrv_configure with the three below */
    const char *reader_group, *admin_group;
    unsigned idle_ms;
    ac_ctlauth_peer_fn peer_fn;
};

struct fixture {
    uv_loop_t loop;
    uv_async_t stop;
    ac_ctlsrv_t *srv;
    char path[256];
    void (*scenario)(struct fixture *);
    size_t max_pending;
    int closed;
};

/* ---- the handler, on the loop thread ---------------------------------------------------- */

struct slow {
    uv_timer_t timer;
    ac_ctlsrv_client_t *c;
    json_t *id;
};

FX_FN void slow_closed(uv_handle_t *h)
{
    free(h->data);
}

FX_FN void slow_fire(uv_timer_t *t)
{
    struct slow *s = t->data;

    /* The client may have gone: the reply is then dropped. */
    ac_ctlsrv_reply_ok(s->c, s->id, json_pack("{s:b}", "slow", 1));
    json_decref(s->id);
    ac_ctlsrv_client_unref(s->c);
    uv_close((uv_handle_t *)&s->timer, slow_closed);
}

FX_FN void handler(ac_ctlsrv_client_t *c, json_t *id, const char *cmd, json_t *args, void *ud)
{
    struct fixture *fx = ud;

    /* echo, and the two commands the permission tests use (one of each class). */
    if (strcmp(cmd, "echo") == 0 || strcmp(cmd, "status") == 0 || strcmp(cmd, "pause") == 0) {
        ac_ctlsrv_reply_ok(c, id, json_pack("{s:s,s:O}", "cmd", cmd, "args", args));
    } else if (strcmp(cmd, "fail") == 0) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_NOT_FOUND, "no session '%s'", "x");
    } else if (strcmp(cmd, "slow") == 0) {
        struct slow *s = calloc(1, sizeof *s);
        ASSERT_NOT_NULL(s);
        ac_ctlsrv_client_ref(c);
        s->c = c;
        s->id = json_incref(id);
        uv_timer_init(&fx->loop, &s->timer);
        s->timer.data = s;
        uv_timer_start(&s->timer, slow_fire, 100, 0);
    } else if (strcmp(cmd, "watch") == 0) {
        ac_ctlsrv_subscribe(c);
        ac_ctlsrv_reply_ok(c, id, json_pack("{s:b}", "watching", 1));
    } else if (strcmp(cmd, "emit") == 0) {
        json_int_t n = json_integer_value(json_object_get(args, "n"));
        json_int_t size = json_integer_value(json_object_get(args, "size"));
        size_t sent = 0;
        char *pad = calloc(1, (size_t)size + 1);
        ASSERT_NOT_NULL(pad);
        memset(pad, 'p', (size_t)size);
        for (json_int_t i = 0; i < (n ? n : 1); i++)
            sent += ac_ctlsrv_broadcast_event(fx->srv, "file_done",
                                              json_pack("{s:I,s:s}", "i", i, "pad", pad));
        free(pad);
        ac_ctlsrv_reply_ok(c, id, json_pack("{s:I}", "sent", (json_int_t)sent));
    } else if (strcmp(cmd, "big") == 0) {
        size_t size = (size_t)json_integer_value(json_object_get(args, "size"));
        char *pad = calloc(1, size + 1);
        ASSERT_NOT_NULL(pad);
        memset(pad, 'b', size);
        ac_ctlsrv_reply_ok(c, id, json_pack("{s:s}", "pad", pad));
        free(pad);
    } else if (strcmp(cmd, "stats") == 0) {
        ac_ctlsrv_reply_ok(c, id,
                           json_pack("{s:I,s:I}", "clients",
                                     (json_int_t)ac_ctlsrv_nclients(fx->srv), "watchers",
                                     (json_int_t)ac_ctlsrv_nwatchers(fx->srv)));
    } else {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_UNKNOWN_COMMAND, "unknown command '%s'", cmd);
    }
}

/* ---- the client side, on the scenario thread -------------------------------------------- */

struct conn {
    int fd;
    char buf[1 << 16];
    size_t len;
};

FX_FN void conn_open(struct conn *k, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    k->len = 0;
    k->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(k->fd >= 0);
    strcpy(sa.sun_path, path);
    ASSERT_OK(connect(k->fd, (struct sockaddr *)&sa, sizeof sa));
}

FX_FN void conn_send(struct conn *k, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(k->fd, s, n, MSG_NOSIGNAL);
        ASSERT(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

FX_FN void conn_sends(struct conn *k, const char *s)
{
    conn_send(k, s, strlen(s));
}

/* conn_line reads one line (without '\n') into a malloc'd string; NULL at EOF or reset.
 * Lines longer than the buffer are not expected from these tests (except "big", read with
 * conn_skip_line). */
FX_FN char *conn_line(struct conn *k)
{
    for (;;) {
        char *nl = memchr(k->buf, '\n', k->len);
        struct pollfd p = {.fd = k->fd, .events = POLLIN};
        ssize_t r;

        if (nl != NULL) {
            size_t n = (size_t)(nl - k->buf);
            char *out = malloc(n + 1);
            ASSERT_NOT_NULL(out);
            memcpy(out, k->buf, n);
            out[n] = '\0';
            memmove(k->buf, nl + 1, k->len - n - 1);
            k->len -= n + 1;
            return out;
        }
        ASSERT(k->len < sizeof k->buf);
        ASSERT_EQ(poll(&p, 1, 5000), 1);
        r = recv(k->fd, k->buf + k->len, sizeof k->buf - k->len, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return NULL;
        ASSERT(r > 0);
        k->len += (size_t)r;
    }
}

/* conn_json reads a line and parses it. */
FX_FN json_t *conn_json(struct conn *k)
{
    char *line = conn_line(k);
    json_t *j;

    ASSERT_NOT_NULL(line);
    j = json_loads(line, 0, NULL);
    if (j == NULL)
        AC_TEST_FAIL("not JSON: %s", line);
    free(line);
    return j;
}

FX_FN void conn_close(struct conn *k)
{
    close(k->fd);
}

/* request sends one line and returns the parsed reply. */
FX_FN json_t *request(struct conn *k, const char *line)
{
    conn_sends(k, line);
    return conn_json(k);
}

FX_FN const char *err_code(json_t *reply)
{
    return json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
}

FX_FN json_int_t result_int(json_t *reply, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(reply, "result"), key));
}

/* assert_stats asks the server's counters through k (request id) and requires clients
 * clients and, unless watchers < 0, watchers watchers. */
FX_FN void assert_stats(struct conn *k, int id, json_int_t clients, json_int_t watchers)
{
    char line[64];
    json_t *r;

    snprintf(line, sizeof line, "{\"id\":%d,\"cmd\":\"stats\"}\n", id);
    r = request(k, line);
    ASSERT_EQ(result_int(r, "clients"), clients);
    if (watchers >= 0)
        ASSERT_EQ(result_int(r, "watchers"), watchers);
    json_decref(r);
}

FX_FN void *scenario_thread(void *arg)
{
    struct fixture *fx = arg;

    fx->scenario(fx);
    uv_async_send(&fx->stop);
    return NULL;
}

FX_FN void on_closed(void *ud)
{
    ((struct fixture *)ud)->closed++;
}

FX_FN void on_stop(uv_async_t *a)
{
    struct fixture *fx = a->data;

    ac_ctlsrv_close(fx->srv, on_closed);
    uv_close((uv_handle_t *)a, NULL);
}

/* run_opts starts a server on <tmpdir>/ctl.sock set up as o says, runs scenario on a
 * thread, then closes the server and checks that every handle was closed. */
FX_FN void run_opts(void (*scenario)(struct fixture *), const struct fx_opts *o)
{
    struct fixture fx = {0};
    ac_err_t e = {0};
    pthread_t th;
    struct stat st;

    snprintf(fx.path, sizeof fx.path, "%s/ctl.sock", ac_test_tmpdir());
    fx.scenario = scenario;
    ASSERT_OK(uv_loop_init(&fx.loop));
    fx.srv = ac_ctlsrv_new(&fx.loop, handler, &fx);
    ASSERT_NOT_NULL(fx.srv);
    if (o->max_pending)
        ac_ctlsrv_set_max_pending(fx.srv, o->max_pending);
    if (o->max_clients)
        ac_ctlsrv_set_max_clients(fx.srv, o->max_clients);
    if (o->peer_fn != NULL)
        ac_ctlsrv_set_peer_fn(fx.srv, o->peer_fn, &fx);
    if (o->configure &&
        ac_ctlsrv_configure(fx.srv, o->reader_group, o->admin_group, o->idle_ms, &e) != 0)
        AC_TEST_FAIL("configure: %s", e.msg);
    if (ac_ctlsrv_listen(fx.srv, fx.path, 0600, &e) != 0)
        AC_TEST_FAIL("listen: %s", e.msg);
    ASSERT_OK(stat(fx.path, &st));
    ASSERT_EQ(st.st_mode & 0777, 0600);
    uv_async_init(&fx.loop, &fx.stop, on_stop);
    fx.stop.data = &fx;
    ASSERT_OK(pthread_create(&th, NULL, scenario_thread, &fx));
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    ASSERT_EQ(fx.closed, 1);
    ASSERT_OK(uv_loop_close(&fx.loop)); /* nothing left open */
    ASSERT_EQ(stat(fx.path, &st), -1);  /* the socket file is gone */
}

/* run: run_opts with the defaults and an output bound (0: the default). */
FX_FN void run(void (*scenario)(struct fixture *), size_t max_pending)
{
    run_opts(scenario, &(struct fx_opts){.max_pending = max_pending});
}

/* ---- a server whose loop runs on its own thread --------------------------------------- */

struct srv_thread {
    uv_loop_t loop;
    uv_async_t stop;
    ac_ctlsrv_t *srv;
    pthread_t th;
    bool srv_closed; /* set on the loop thread when the test's code closed srv itself */
};

FX_FN void srv_thread_on_stop(uv_async_t *a)
{
    struct srv_thread *st = a->data;

    if (!st->srv_closed)
        ac_ctlsrv_close(st->srv, NULL);
    uv_close((uv_handle_t *)a, NULL);
}

FX_FN void *srv_thread_main(void *arg)
{
    uv_run(&((struct srv_thread *)arg)->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* srv_thread_run runs the loop of st, whose server st->srv is made and listening, on a new
 * thread; srv_thread_start makes that server first, with handler fn and ud, listening on path
 * (mode 0600); srv_thread_stop closes the server there, joins the thread and requires the
 * loop to be empty. */
FX_FN void srv_thread_run(struct srv_thread *st)
{
    uv_async_init(&st->loop, &st->stop, srv_thread_on_stop);
    st->stop.data = st;
    ASSERT_OK(pthread_create(&st->th, NULL, srv_thread_main, st));
}

FX_FN void srv_thread_start(struct srv_thread *st, const char *path, ac_ctlsrv_handler fn,
                            void *ud)
{
    ASSERT_OK(uv_loop_init(&st->loop));
    st->srv = ac_ctlsrv_new(&st->loop, fn, ud);
    ASSERT_NOT_NULL(st->srv);
    ASSERT_OK(ac_ctlsrv_listen(st->srv, path, 0600, NULL));
    srv_thread_run(st);
}

FX_FN void srv_thread_stop(struct srv_thread *st)
{
    uv_async_send(&st->stop);
    pthread_join(st->th, NULL);
    ASSERT_OK(uv_loop_close(&st->loop));
}

#endif
