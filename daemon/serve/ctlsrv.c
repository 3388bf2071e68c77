/*
 * ctlsrv.c - the control socket server (see ctlsrv.h).
 *
 * Ownership. The server owns its listening pipe and a list of clients. A client owns its
 * pipe, an idle handle (used to resume dispatching after an asynchronous reply, so the
 * owner's handler is never re-entered from inside its own reply call), its framer and its
 * queued writes (each write request owns its line and frees it in write_cb). A client is
 * reference-counted: the connection holds one reference until both of its handles are
 * closed, the dispatcher holds one during a handler call, and the owner may hold more for
 * late replies. The server is freed when its own pipe and every client handle are closed.
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
 *    read (reading stops while a request awaits and a full line is already buffered).
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
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

struct ac_ctlsrv {
    uv_loop_t *loop;
    uv_pipe_t pipe;
    ac_ctlsrv_handler handler;
    void *ud;
    ac_ctlsrv_closed_cb closed_cb;
    ac_ctlsrv_client_t *clients;
    size_t nclients, nwatchers;
    size_t max_pending;
    unsigned open_handles; /* the listening pipe plus two per client not yet closed */
    unsigned long next_id;
    char *bound_path; /* the socket file we created, removed at close */
    dev_t bound_dev;
    ino_t bound_ino;
    bool closing;
    char rbuf[65536]; /* read buffer shared by all clients (reads are synchronous) */
};

struct ac_ctlsrv_client {
    uv_pipe_t pipe;
    uv_idle_t resume;
    uv_shutdown_t shutdown;
    ac_ctlsrv_t *srv; /* NULL once detached */
    ac_ctlsrv_client_t *prev, *next;
    ac_proto_framer_t framer;
    unsigned long id;
    int refs;
    int open_handles;
    bool reading, eof, awaiting, in_dispatch, subscribed, finishing, closing;
};

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
    srv->open_handles -= 2;
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

/* dispatch decodes one line and hands it to the handler or answers it. */
static void dispatch(ac_ctlsrv_client_t *c, const char *line, size_t len)
{
    ac_proto_request_t req;
    ac_err_t err = {0};
    int code;

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
    c->awaiting = true;
    ac_ctlsrv_client_ref(c); /* the handler may drop the last outside reference */
    c->srv->handler(c, req.id, req.cmd, req.args, c->srv->ud);
    ac_proto_request_free(&req);
    ac_ctlsrv_client_unref(c);
}

/* process dispatches buffered lines while no request awaits, then decides what to do with
 * the connection: answer too_long, finish after EOF, or start/stop reading. */
static void on_resume(uv_idle_t *h)
{
    process(h->data);
}

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
out:
    ac_ctlsrv_client_unref(c);
}

/* ---- accepting -------------------------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status)
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
    c->pipe.data = c;
    c->resume.data = c;
    c->open_handles = 2;
    srv->open_handles += 2;
    c->next = srv->clients;
    if (srv->clients != NULL)
        srv->clients->prev = c;
    srv->clients = c;
    srv->nclients++;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
        client_close(c);
        return;
    }
    if (srv->nclients > AC_CTLSRV_MAX_CLIENTS) {
        ac_log_warn("control socket: more than %d clients, refusing one",
                    AC_CTLSRV_MAX_CLIENTS);
        ac_ctlsrv_reply_error(c, json_null(), AC_PROTO_BUSY, "too many control clients (%d)",
                              AC_CTLSRV_MAX_CLIENTS);
        finish(c);
        return;
    }
    ac_log_debug("control client %lu connected", c->id);
    process(c); /* starts reading */
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
    uv_pipe_init(loop, &srv->pipe, 0);
    srv->pipe.data = srv;
    srv->open_handles = 1;
    return srv;
}

void ac_ctlsrv_set_max_pending(ac_ctlsrv_t *srv, size_t bytes)
{
    srv->max_pending = bytes;
}

size_t ac_ctlsrv_nclients(const ac_ctlsrv_t *srv)
{
    return srv->nclients;
}

size_t ac_ctlsrv_nwatchers(const ac_ctlsrv_t *srv)
{
    return srv->nwatchers;
}

/* probe says whether something listens on the socket file at path: 1 yes, 0 no (stale),
 * or -errno when it cannot tell. */
static int probe(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, rc;

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS)
        rc = 1;
    else if (errno == ECONNREFUSED || errno == ENOENT)
        rc = 0;
    else
        rc = -errno;
    close(fd);
    return rc;
}

/* start_listening is the part of listen and open_fd after the pipe has its socket. */
static int start_listening(ac_ctlsrv_t *srv, const char *what, ac_err_t *e)
{
    int rc = uv_listen((uv_stream_t *)&srv->pipe, SOMAXCONN, on_connection);

    if (rc < 0)
        return ac_err_set(e, rc, "cannot listen on control socket %s: %s", what,
                          uv_strerror(rc));
    return 0;
}

int ac_ctlsrv_listen(ac_ctlsrv_t *srv, const char *path, unsigned mode, ac_err_t *e)
{
    struct sockaddr_un sa;
    struct stat st;
    size_t n = strlen(path);
    int rc, fd;

    if (n == 0)
        return ac_err_set(e, -EINVAL, "control socket path is empty");
    if (n >= sizeof sa.sun_path)
        return ac_err_set(e, -ENAMETOOLONG,
                          "control socket path %s is %zu bytes long; a Unix socket path must "
                          "be shorter than %zu bytes",
                          path, n, sizeof sa.sun_path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return ac_err_set(e, -EEXIST,
                              "control socket path %s exists and is not a socket; not "
                              "replacing it",
                              path);
        rc = probe(path);
        if (rc > 0)
            return ac_err_set(e, -EADDRINUSE,
                              "another process is listening on control socket %s (is astrocald "
                              "already running?)",
                              path);
        if (rc < 0)
            return ac_err_set(e, rc, "cannot check control socket %s: %s", path, strerror(-rc));
        if (unlink(path) < 0 && errno != ENOENT)
            return ac_err_set(e, -errno, "cannot remove stale control socket %s: %s", path,
                              strerror(errno));
        ac_log_notice("removed stale control socket %s", path);
    }
    /* Bound here rather than with uv_pipe_bind, which in libuv 1.44 truncates long paths
     * silently and reports a missing directory as EACCES. */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ac_err_set(e, -errno, "cannot create control socket: %s", strerror(errno));
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n + 1);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        rc = ac_err_set(e, -errno, "cannot bind control socket %s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    if (chmod(path, (mode_t)mode) < 0 || stat(path, &st) < 0) {
        rc = ac_err_set(e, -errno, "cannot set mode %04o on control socket %s: %s", mode, path,
                        strerror(errno));
        goto fail;
    }
    srv->bound_path = strdup(path);
    if (srv->bound_path == NULL) {
        rc = ac_err_set(e, -ENOMEM, "out of memory");
        goto fail;
    }
    srv->bound_dev = st.st_dev;
    srv->bound_ino = st.st_ino;
    rc = uv_pipe_open(&srv->pipe, fd);
    if (rc < 0) {
        ac_err_set(e, rc, "cannot use control socket %s: %s", path, uv_strerror(rc));
        goto fail;
    }
    /* From here the pipe owns fd, and ac_ctlsrv_close removes the file. */
    return start_listening(srv, path, e);
fail:
    close(fd);
    unlink(path);
    free(srv->bound_path);
    srv->bound_path = NULL;
    return rc;
}

int ac_ctlsrv_open_fd(ac_ctlsrv_t *srv, int fd, ac_err_t *e)
{
    struct sockaddr_un sa;
    socklen_t sl = sizeof sa;
    int type = 0, acc = 0, rc;
    socklen_t il = sizeof type, al = sizeof acc;

    if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0 || sa.sun_family != AF_UNIX ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &il) < 0 || type != SOCK_STREAM ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) < 0 || !acc) {
        close(fd);
        return ac_err_set(e, -ENOTSOCK, "inherited fd %d is not a listening Unix stream socket",
                          fd);
    }
    rc = uv_pipe_open(&srv->pipe, fd);
    if (rc < 0) {
        close(fd);
        return ac_err_set(e, rc, "cannot use inherited socket fd %d: %s", fd, uv_strerror(rc));
    }
    return start_listening(srv, "(inherited)", e);
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
