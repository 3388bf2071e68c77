/*
 * ctlsrv.h - the control socket server: a Unix stream socket speaking JSON lines
 * (common/proto.h, docs/protocol.md), on the libuv loop.
 *
 * The server owns the listening handle and one client object per connection. It frames
 * lines, decodes envelopes, answers malformed input itself (bad_request, unsupported_version,
 * too_long) and hands every well-formed request to the owner's handler, which knows the
 * commands (daemon/serve/ctlcmd.c). Each request gets exactly one reply, through
 * ac_ctlsrv_reply_ok or ac_ctlsrv_reply_error, either inside the handler or later.
 *
 * Ordering: a client's requests are handled one at a time, in order; the next request is
 * dispatched only after the previous one has been replied to, so replies come in request
 * order even when a command (import) answers later. Events for `watch` subscribers go out
 * as they are broadcast, between replies.
 *
 * Limits: a request line is at most AC_PROTO_MAX_LINE bytes (an oversized line gets a
 * too_long reply and the connection is closed after that reply); a client's unsent output
 * is bounded (AC_CTLSRV_MAX_PENDING by default): a client that stops reading while replies
 * or events pile up is disconnected; at most AC_CTLSRV_MAX_CLIENTS connections (one more
 * gets a `busy` error and is closed), of which the last AC_CTLSRV_RESERVED_CLIENTS are
 * only for root and the daemon's own user, so they always get `status` even when other
 * users hold every other slot. A client that makes no request for the idle timeout
 * (AC_CTLSRV_IDLE_TIMEOUT_MS by default; also one stuck in the middle of a line) is closed
 * with an info log line; a client waiting for a reply, and a `watch` subscriber, is never
 * idle.
 *
 * Permissions (ctlauth.h): every connection's credentials are read with SO_PEERCRED (and
 * its groups from the user database) when it is accepted, which fixes its level once for
 * the connection. Before the handler sees a request, the server compares the command's
 * class (ac_proto_cmd_access, common/proto.c) with that level and answers `not_allowed`
 * itself when it is too low; the handler only ever sees permitted commands. Each changing
 * command is logged at notice level with who sent it ("control: pause by uid 1000 (alice)
 * pid 1234"), as is each refusal.
 *
 * Lifetime: ac_ctlsrv_new, then ac_ctlsrv_listen or ac_ctlsrv_open_fd, and always
 * ac_ctlsrv_close (also after a failed listen) followed by running the loop until the
 * close callback. A client object stays valid while the connection is open or while
 * someone holds a reference (ac_ctlsrv_client_ref); replying to a client whose connection
 * has gone is allowed and does nothing.
 *
 * The server ignores SIGPIPE for the process (ac_ctlsrv_new): a client that disconnects
 * in the middle of a reply must produce EPIPE, not kill the daemon.
 *
 * Thread: loop thread only, every function.
 */
#ifndef AC_CTLSRV_H
#define AC_CTLSRV_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "ctlauth.h"
#include "err.h"
#include "proto.h"

#define AC_CTLSRV_MAX_PENDING (1u << 20)
#define AC_CTLSRV_MAX_CLIENTS 64
#define AC_CTLSRV_RESERVED_CLIENTS 4
#define AC_CTLSRV_IDLE_TIMEOUT_MS 30000u

typedef struct ac_ctlsrv ac_ctlsrv_t;
typedef struct ac_ctlsrv_client ac_ctlsrv_client_t;

/*
 * The request handler. request_id (never NULL; json_null() when the request had none), cmd
 * and args (an object, {} when absent) are borrowed for the duration of the call. To reply
 * after returning, take ac_ctlsrv_client_ref(c) and json_incref(request_id) first, and
 * release both after replying.
 */
typedef void (*ac_ctlsrv_handler)(ac_ctlsrv_client_t *c, json_t *request_id, const char *cmd,
                                  json_t *args, void *ud);

/* Called once every handle of the server is closed and the server is freed; ud is the
 * pointer given to ac_ctlsrv_new. */
typedef void (*ac_ctlsrv_closed_cb)(void *ud);

/* ac_ctlsrv_new creates a server on loop (not yet listening). Returns NULL on allocation
 * failure. Owned by the caller until ac_ctlsrv_close. It starts with the defaults of
 * ac_ctlsrv_configure(srv, "", "", AC_CTLSRV_IDLE_TIMEOUT_MS). */
ac_ctlsrv_t *ac_ctlsrv_new(uv_loop_t *loop, ac_ctlsrv_handler handler, void *ud);

/*
 * ac_ctlsrv_configure sets who may do what and the idle timeout ([DAEMON] reader_group,
 * admin_group, socket_idle_timeout_s). reader_group: members may use the read-only
 * commands; "" means the group of the socket file (known once listening; until then the
 * daemon's group). admin_group: members may use every command; "" means the daemon's
 * group (its effective gid). Root and the daemon's own user may always do everything.
 * Either is a group name or a number. idle_timeout_ms 0 disables the timeout. Applies to
 * connections accepted from now on (the timeout also to the next idle period of the
 * others). Looks the groups up (blocking NSS). Returns 0, or AC_ECONFIG with "reader_group:
 * no group named 'x'" in e (nothing changed).
 */
int ac_ctlsrv_configure(ac_ctlsrv_t *srv, const char *reader_group, const char *admin_group,
                        unsigned idle_timeout_ms, ac_err_t *e);

/*
 * ac_ctlsrv_listen binds path, sets its mode (e.g. 0660) and listens. A mode with o+w
 * (every local user could connect) gives -EPERM. An existing socket
 * file is replaced only when nothing listens on it (checked by connecting); a live one gives
 * -EADDRINUSE, a file that is not a socket -EEXIST, a path of 108 bytes or more (the
 * sun_path limit) -ENAMETOOLONG; each with a message naming the path. The socket file is
 * removed again by ac_ctlsrv_close. 0 or a negative code.
 */
int ac_ctlsrv_listen(ac_ctlsrv_t *srv, const char *path, unsigned mode, ac_err_t *e);

/* ac_ctlsrv_open_fd serves an already listening Unix stream socket (systemd socket
 * activation, ac_sd_listen_fd). The server owns fd from now on, even on failure. 0 or a
 * negative code (-ENOTSOCK when fd is not a listening AF_UNIX stream socket). */
int ac_ctlsrv_open_fd(ac_ctlsrv_t *srv, int fd, ac_err_t *e);

/* ac_ctlsrv_set_max_pending changes the per-client output bound (for tests). */
void ac_ctlsrv_set_max_pending(ac_ctlsrv_t *srv, size_t bytes);

/* ac_ctlsrv_set_max_clients changes the connection limit (AC_CTLSRV_MAX_CLIENTS, the
 * reserved slots included; for tests). */
void ac_ctlsrv_set_max_clients(ac_ctlsrv_t *srv, size_t n);

/* ac_ctlsrv_set_peer_fn replaces the credentials source (ac_ctlauth_peer_get; NULL
 * restores it), so tests running as root can play other users. */
void ac_ctlsrv_set_peer_fn(ac_ctlsrv_t *srv, ac_ctlauth_peer_fn fn, void *ud);

/* ac_ctlsrv_close closes the listening socket and every connection (unsent output is
 * dropped), removes the socket file it created, and frees srv once all handles are closed;
 * then cb (may be NULL) runs from the loop. srv must not be used after this call. */
void ac_ctlsrv_close(ac_ctlsrv_t *srv, ac_ctlsrv_closed_cb cb);

/* ac_ctlsrv_nclients returns the number of open connections; ac_ctlsrv_nwatchers the number
 * subscribed to events (skip building events nobody will read). */
size_t ac_ctlsrv_nclients(const ac_ctlsrv_t *srv);
size_t ac_ctlsrv_nwatchers(const ac_ctlsrv_t *srv);

/* ac_ctlsrv_reply_ok sends {"ok":true,"result":result}. id is borrowed; result is taken
 * (NULL means {}), released even on failure. Returns 0, -EPIPE when the client is gone
 * (nothing sent), -ENOBUFS when the client was disconnected for not reading, -ENOMEM. */
int ac_ctlsrv_reply_ok(ac_ctlsrv_client_t *c, json_t *id, json_t *result);

/* ac_ctlsrv_reply_error sends an error reply with code (enum ac_proto_code) and a
 * printf-style message. Returns like ac_ctlsrv_reply_ok. */
int ac_ctlsrv_reply_error(ac_ctlsrv_client_t *c, json_t *id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ac_ctlsrv_client_ref keeps c allocated past its connection (asynchronous replies);
 * ac_ctlsrv_client_unref releases it. */
void ac_ctlsrv_client_ref(ac_ctlsrv_client_t *c);
void ac_ctlsrv_client_unref(ac_ctlsrv_client_t *c);

/* ac_ctlsrv_client_alive says whether c's connection is still open (a late reply would be
 * sent). */
bool ac_ctlsrv_client_alive(const ac_ctlsrv_client_t *c);

/* ac_ctlsrv_subscribe makes c receive every event broadcast from now on (`watch`). */
void ac_ctlsrv_subscribe(ac_ctlsrv_client_t *c);

/* ac_ctlsrv_broadcast_event sends {"v":1,"event":event,"at":...,"data":data} to every
 * subscribed client. data is taken (NULL means {}). Returns the number of clients it was
 * queued for. */
size_t ac_ctlsrv_broadcast_event(ac_ctlsrv_t *srv, const char *event, json_t *data);

#endif
