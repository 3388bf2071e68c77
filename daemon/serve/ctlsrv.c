/*
 * ctlsrv.c - the control socket server (see ctlsrv.h): connections, framing, replies,
 * events, the permission check and the idle timeout. Setting up and binding the socket is
 * ctlsrv_setup.c; the state both share is ctlsrv_int.h.
 *
 * Ownership. The server owns its listening pipe and a list of clients. A client owns its
 * pipe, an idle handle (used to resume dispatching after an asynchronous reply, so the
 * owner's handler is never re-entered from inside its own reply call), a timer (the idle
 * timeout), its framer and its queued writes (each write request owns its line and frees it
 * in write_cb). A client is reference-counted: the connection holds one reference until all
 * CLIENT_HANDLES of its handles are closed, the dispatcher holds one during a handler call, and
 * the owner may hold more for late replies. The server is freed when its own pipe and every
 * client handle are closed.
 *
 * Client states, in order: open (reading, dispatching) -> finishing (a final reply is being
 * flushed with uv_shutdown; nothing more is read or sent) -> closing (uv_close requested)
 * -> detached (handles closed; only references keep the struct). Unsent output is flushed
 * on a graceful end (client EOF, too_long, too many clients) and dropped on a hard one
 * (read error, write error, not reading, server close).
 *
 * Invariants:
 *  - at most one request per client is with the handler (awaiting) at a time;
 *  - a client's lines are dispatched in order, never while awaiting;
 *  - the bytes buffered in a client's framer stay below twice AC_PROTO_MAX_LINE plus one
 *    read (reading stops while a request awaits and a full line is already buffered);
 *  - a client's idle timer runs exactly while it is open, awaits no reply and is not a
 *    watcher; it is restarted each time a request goes to the handler, so bytes that never
 *    complete a line (or requests that are refused) do not keep a connection alive;
 *  - a client's level (what it may do) is decided once, when it is accepted.
 *
 * Thread: loop thread only.
 */
#include "ctlsrv.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctlsrv_int.h"
#include "log.h"

struct wreq {
    uv_write_t req;
    ac_ctlsrv_client_t *c;
    char *line;
};

static void client_close(ac_ctlsrv_client_t *c);
static void process(ac_ctlsrv_client_t *c);
static void on_resume(uv_idle_t *h);

/* ---- lifetime --------------------------------------------------------------------------- */

static void srv_maybe_free(ac_ctlsrv_t *srv)
{
    ac_ctlsrv_closed_cb cb;
    void *ud;

    if (!srv->closing || srv->open_handles > 0)
        return;
    cb = srv->closed_cb;
    ud = srv->ud;
    free(srv->bound_path);
    free(srv);
    if (cb != NULL)
        cb(ud);
}

void ac_ctlsrv_client_ref(ac_ctlsrv_client_t *c)
{
    c->refs++;
}

void ac_ctlsrv_client_unref(ac_ctlsrv_client_t *c)
{
    if (--c->refs > 0)
        return;
    ac_proto_framer_free(&c->framer);
    free(c);
}

bool ac_ctlsrv_client_alive(const ac_ctlsrv_client_t *c)
{
    return !c->closing && !c->finishing;
}

static void on_client_handle_closed(uv_handle_t *h)
{
    ac_ctlsrv_client_t *c = h->data;
    ac_ctlsrv_t *srv = c->srv;

    if (--c->open_handles > 0)
        return;
    c->srv = NULL;
    srv->open_handles -= CLIENT_HANDLES;
    ac_ctlsrv_client_unref(c); /* the connection's reference */
    srv_maybe_free(srv);
}

/* client_close closes c's handles now; queued writes are cancelled (write_cb frees them). */
static void client_close(ac_ctlsrv_client_t *c)
{
    ac_ctlsrv_t *srv = c->srv;

    if (c->closing)
        return;
    c->closing = true;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->clients = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    srv->nclients--;
    if (c->subscribed)
        srv->nwatchers--;
    ac_log_debug("control client %lu disconnected", c->id);
    uv_idle_stop(&c->resume);
    uv_close((uv_handle_t *)&c->pipe, on_client_handle_closed);
    uv_close((uv_handle_t *)&c->resume, on_client_handle_closed);
    uv_close((uv_handle_t *)&c->idle, on_client_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    client_close(req->data);
}

/* finish flushes what is queued for c, then closes it; nothing more is read or sent. */
static void finish(ac_ctlsrv_client_t *c)
{
    int rc;

    if (c->finishing || c->closing)
        return;
    c->finishing = true;
    uv_timer_stop(&c->idle);
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->pipe);
        c->reading = false;
    }
    c->shutdown.data = c;
    rc = uv_shutdown(&c->shutdown, (uv_stream_t *)&c->pipe, on_shutdown);
    if (rc < 0)
        client_close(c);
}

/* ---- output ----------------------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    ac_ctlsrv_client_t *c = w->c;

    free(w->line);
    free(w);
    if (status < 0 && status != UV_ECANCELED && !c->closing) {
        ac_log_debug("control client %lu: write failed: %s", c->id, uv_strerror(status));
        client_close(c);
    }
}

/* send queues line (taken) on c. */
static int send_line(ac_ctlsrv_client_t *c, char *line, size_t len)
{
    struct wreq *w;
    uv_buf_t buf;
    size_t queued;
    int rc;

    if (line == NULL)
        return -ENOMEM;
    if (c->closing || c->finishing) {
        free(line);
        return -EPIPE;
    }
    queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);
    if (queued > c->srv->max_pending) {
        ac_log_warn("control client %lu does not read (%zu bytes unsent): disconnecting", c->id,
                    queued);
        free(line);
        client_close(c);
        return -ENOBUFS;
    }
    w = malloc(sizeof *w);
    if (w == NULL) {
        free(line);
        return -ENOMEM;
    }
    w->c = c;
    w->line = line;
    buf = uv_buf_init(line, (unsigned)len);
    rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_write);
    if (rc < 0) {
        free(line);
        free(w);
        client_close(c);
        return rc == UV_EPIPE ? -EPIPE : rc;
    }
    return 0;
}

/* replied marks the awaited request answered and schedules the next one. */
static void replied(ac_ctlsrv_client_t *c)
{
    if (!c->awaiting)
        return;
    c->awaiting = false;
    if (!c->in_dispatch && !c->closing)
        uv_idle_start(&c->resume, on_resume);
}

int ac_ctlsrv_reply_ok(ac_ctlsrv_client_t *c, json_t *id, json_t *result)
{
    size_t len = 0;
    char *line;
    int rc;

    if (c->closing || c->finishing) {
        json_decref(result);
        return -EPIPE;
    }
    line = ac_proto_encode_reply(id, result, &len); /* result is taken here */
    rc = send_line(c, line, len);
    replied(c);
    return rc;
}

int ac_ctlsrv_reply_error(ac_ctlsrv_client_t *c, json_t *id, int code, const char *fmt, ...)
{
    char *msg = NULL, *line;
    size_t len = 0;
    va_list ap;
    int rc, n;

    if (c->closing || c->finishing)
        return -EPIPE;
    va_start(ap, fmt);
    n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    line = ac_proto_encode_error(id, code, n < 0 ? "(no memory)" : msg, &len);
    if (n >= 0)
        free(msg);
    rc = send_line(c, line, len);
    replied(c);
    return rc;
}

void ac_ctlsrv_subscribe(ac_ctlsrv_client_t *c)
{
    if (c->subscribed || c->closing)
        return;
    c->subscribed = true;
    c->srv->nwatchers++;
}

size_t ac_ctlsrv_broadcast_event(ac_ctlsrv_t *srv, const char *event, json_t *data)
{
    ac_ctlsrv_client_t *c, *next;
    size_t len = 0, sent = 0;
    char *line;

    if (srv->nwatchers == 0) {
        json_decref(data);
        return 0;
    }
    line = ac_proto_encode_event(event, data, &len);
    if (line == NULL)
        return 0;
    for (c = srv->clients; c != NULL; c = next) {
        char *copy;

        next = c->next; /* send_line may close c and unlink it */
        if (!c->subscribed || c->finishing)
            continue;
        copy = malloc(len);
        if (copy == NULL)
            break;
        memcpy(copy, line, len);
        if (send_line(c, copy, len) == 0)
            sent++;
    }
    free(line);
    return sent;
}

/* ---- input ------------------------------------------------------------------------------ */

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return false;
    return true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    ac_ctlsrv_client_t *c = h->data;

    *buf = uv_buf_init(c->srv->rbuf, sizeof c->srv->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    ac_ctlsrv_client_t *c = s->data;
    int rc;

    if (nread > 0) {
        rc = ac_proto_framer_feed(&c->framer, buf->base, (size_t)nread);
        if (rc == -ENOMEM) {
            ac_log_warn("control client %lu: out of memory buffering input", c->id);
            client_close(c);
            return;
        }
    } else if (nread == UV_EOF) {
        c->eof = true;
        c->reading = false; /* libuv stops reading at EOF */
    } else if (nread < 0) {
        ac_log_debug("control client %lu: read failed: %s", c->id, uv_strerror((int)nread));
        client_close(c);
        return;
    }
    process(c);
}

/* refuse answers a request the client may not make (not_allowed). */
static void refuse(ac_ctlsrv_client_t *c, const ac_proto_request_t *req, int need)
{
    char msg[256], *reply;
    size_t rlen = 0;

    ac_ctlauth_deny_message(&c->srv->pol, req->cmd, need, msg, sizeof msg);
    ac_log_notice("control: %s refused for %s: %s", req->cmd, c->who, msg);
    reply = ac_proto_encode_error(req->id, AC_PROTO_NOT_ALLOWED, msg, &rlen);
    send_line(c, reply, rlen);
}

/* dispatch decodes one line and hands it to the handler or answers it (malformed lines,
 * and commands above the client's level: the permission check happens here, before any
 * handler runs). */
static void dispatch(ac_ctlsrv_client_t *c, const char *line, size_t len)
{
    ac_proto_request_t req;
    ac_err_t err = {0};
    int code, need;

    if (blank(line, len))
        return;
    if (ac_proto_request_decode(line, len, &req, &code, &err) < 0) {
        ac_log_debug("control client %lu: %s", c->id, err.msg);
        size_t rlen = 0;
        char *reply = ac_proto_encode_error(req.id, code, err.msg, &rlen);

        send_line(c, reply, rlen);
        ac_proto_request_free(&req);
        return;
    }
    need = ac_proto_cmd_access(req.cmd);
    if (c->level < need) {
        refuse(c, &req, need);
        ac_proto_request_free(&req);
        return;
    }
    if (need >= AC_PROTO_ACCESS_CHANGE)
        ac_log_notice("control: %s by %s", req.cmd, c->who);
    uv_timer_stop(&c->idle); /* a served request: the idle time starts again */
    c->awaiting = true;
    ac_ctlsrv_client_ref(c); /* the handler may drop the last outside reference */
    c->srv->handler(c, req.id, req.cmd, req.args, c->srv->ud);
    ac_proto_request_free(&req);
    ac_ctlsrv_client_unref(c);
}

static void on_resume(uv_idle_t *h)
{
    process(h->data);
}

static void on_idle_timeout(uv_timer_t *t)
{
    ac_ctlsrv_client_t *c = t->data;
    unsigned ms = c->srv->idle_ms;

    ac_log_info("control client %lu (%s) %s for %u %s: closing", c->id, c->who,
                ac_proto_framer_pending(&c->framer) > 0 ? "stuck in the middle of a line"
                                                        : "sent no request",
                ms % 1000 == 0 ? ms / 1000 : ms, ms % 1000 == 0 ? "s" : "ms");
    client_close(c); /* unsent output is dropped: an idle client may not read either */
}

/* idle_update runs c's idle timer exactly when the invariant says (see the top). */
static void idle_update(ac_ctlsrv_client_t *c)
{
    if (c->awaiting || c->subscribed || c->srv->idle_ms == 0) {
        uv_timer_stop(&c->idle);
        return;
    }
    if (!uv_is_active((uv_handle_t *)&c->idle))
        uv_timer_start(&c->idle, on_idle_timeout, c->srv->idle_ms, 0);
}

/* process dispatches buffered lines while no request awaits, then decides what to do with
 * the connection: answer too_long, finish after EOF, or start/stop reading. */
static void process(ac_ctlsrv_client_t *c)
{
    const char *line;
    size_t len;
    bool want;

    if (c->in_dispatch)
        return;
    uv_idle_stop(&c->resume);
    ac_ctlsrv_client_ref(c);
    c->in_dispatch = true;
    while (!c->closing && !c->finishing && !c->awaiting &&
           ac_proto_framer_next(&c->framer, &line, &len))
        dispatch(c, line, len);
    c->in_dispatch = false;
    if (c->closing || c->finishing)
        goto out;
    if (!c->awaiting && ac_proto_framer_too_long(&c->framer)) {
        ac_log_notice("control client %lu sent a line longer than %d bytes: closing", c->id,
                      AC_PROTO_MAX_LINE);
        ac_ctlsrv_reply_error(c, json_null(), AC_PROTO_TOO_LONG,
                              "request line longer than %d bytes", AC_PROTO_MAX_LINE);
        finish(c);
        goto out;
    }
    if (!c->awaiting && c->eof) {
        finish(c);
        goto out;
    }
    want = !c->eof && !ac_proto_framer_too_long(&c->framer) &&
           ac_proto_framer_pending(&c->framer) <= AC_PROTO_MAX_LINE;
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) < 0) {
            client_close(c);
            goto out;
        }
        c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->pipe);
        c->reading = false;
    }
    idle_update(c);
out:
    ac_ctlsrv_client_unref(c);
}

/* ---- accepting -------------------------------------------------------------------------- */

/* admit reads c's credentials, decides its level and applies the connection limit: the
 * last AC_CTLSRV_RESERVED_CLIENTS slots are for root and the daemon's own user. Returns
 * false when c was refused (busy). */
static bool admit(ac_ctlsrv_t *srv, ac_ctlsrv_client_t *c)
{
    ac_ctlauth_peer_t peer = {0};
    uv_os_fd_t fd = -1;
    size_t limit = srv->max_clients;
    bool priv;

    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
        srv->peer_fn(fd, &peer, srv->peer_ud) < 0)
        ac_log_warn("control client %lu: cannot read its credentials: it may do nothing",
                    c->id);
    ac_ctlauth_describe(&peer, c->who, sizeof c->who);
    c->level = ac_ctlauth_level(&srv->pol, peer.known, peer.uid, peer.groups, peer.ngroups);
    priv = peer.known && ac_ctlauth_privileged(&srv->pol, peer.uid);
    ac_ctlauth_peer_free(&peer);
    if (!priv)
        limit = limit > AC_CTLSRV_RESERVED_CLIENTS ? limit - AC_CTLSRV_RESERVED_CLIENTS : 0;
    if (srv->nclients <= limit)
        return true;
    ac_log_warn("control socket: %zu clients%s, refusing %s", srv->nclients - 1,
                priv ? "" : " (the rest are reserved for root and the daemon's user)", c->who);
    ac_ctlsrv_reply_error(c, json_null(), AC_PROTO_BUSY, "too many control clients (%zu)",
                          srv->nclients - 1);
    finish(c);
    return false;
}

void ac_ctlsrv_on_connection(uv_stream_t *server, int status)
{
    ac_ctlsrv_t *srv = server->data;
    ac_ctlsrv_client_t *c;

    if (status < 0) {
        ac_log_warn("control socket: accept failed: %s", uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        ac_log_warn("control socket: out of memory accepting a client");
        return;
    }
    c->srv = srv;
    c->id = ++srv->next_id;
    c->refs = 1;
    ac_proto_framer_init(&c->framer, AC_PROTO_MAX_LINE);
    uv_pipe_init(srv->loop, &c->pipe, 0);
    uv_idle_init(srv->loop, &c->resume);
    uv_timer_init(srv->loop, &c->idle);
    c->pipe.data = c;
    c->resume.data = c;
    c->idle.data = c;
    c->open_handles = CLIENT_HANDLES;
    srv->open_handles += CLIENT_HANDLES;
    c->next = srv->clients;
    if (srv->clients != NULL)
        srv->clients->prev = c;
    srv->clients = c;
    srv->nclients++;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
        client_close(c);
        return;
    }
    if (!admit(srv, c))
        return;
    ac_log_debug("control client %lu connected: %s", c->id, c->who);
    process(c); /* starts reading, arms the idle timer */
}

/* ---- server ----------------------------------------------------------------------------- */

ac_ctlsrv_t *ac_ctlsrv_new(uv_loop_t *loop, ac_ctlsrv_handler handler, void *ud)
{
    ac_ctlsrv_t *srv = calloc(1, sizeof *srv);

    if (srv == NULL)
        return NULL;
    /* A client that goes away while we write must give EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    srv->loop = loop;
    srv->handler = handler;
    srv->ud = ud;
    srv->max_pending = AC_CTLSRV_MAX_PENDING;
    srv->max_clients = AC_CTLSRV_MAX_CLIENTS;
    srv->idle_ms = AC_CTLSRV_IDLE_TIMEOUT_MS;
    srv->peer_fn = ac_ctlauth_peer_get;
    srv->pol.self_uid = geteuid();
    srv->socket_gid = getegid();
    srv->reader_is_socket_group = true;
    ac_ctlauth_group_of(srv->socket_gid, &srv->pol.reader);
    srv->pol.admin = srv->pol.reader;
    uv_pipe_init(loop, &srv->pipe, 0);
    srv->pipe.data = srv;
    srv->open_handles = 1;
    return srv;
}

void ac_ctlsrv_set_max_pending(ac_ctlsrv_t *srv, size_t bytes)
{
    srv->max_pending = bytes;
}

void ac_ctlsrv_set_max_clients(ac_ctlsrv_t *srv, size_t n)
{
    srv->max_clients = n;
}

void ac_ctlsrv_set_peer_fn(ac_ctlsrv_t *srv, ac_ctlauth_peer_fn fn, void *ud)
{
    srv->peer_fn = fn != NULL ? fn : ac_ctlauth_peer_get;
    srv->peer_ud = ud;
}

size_t ac_ctlsrv_nclients(const ac_ctlsrv_t *srv)
{
    return srv->nclients;
}

size_t ac_ctlsrv_nwatchers(const ac_ctlsrv_t *srv)
{
    return srv->nwatchers;
}

static void on_srv_closed(uv_handle_t *h)
{
    ac_ctlsrv_t *srv = h->data;

    srv->open_handles--;
    srv_maybe_free(srv);
}

void ac_ctlsrv_close(ac_ctlsrv_t *srv, ac_ctlsrv_closed_cb cb)
{
    struct stat st;

    /* Remove the socket file only if it is still the one we created. */
    if (srv->bound_path != NULL && stat(srv->bound_path, &st) == 0 &&
        st.st_dev == srv->bound_dev && st.st_ino == srv->bound_ino)
        unlink(srv->bound_path);
    srv->closing = true;
    srv->closed_cb = cb;
    while (srv->clients != NULL)
        client_close(srv->clients);
    uv_close((uv_handle_t *)&srv->pipe, on_srv_closed);
}
