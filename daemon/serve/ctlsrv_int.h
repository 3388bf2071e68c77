/*
 * ctlsrv_int.h - the control server's private state, shared by ctlsrv.c (connections,
 * framing, dispatch, permissions at dispatch) and ctlsrv_setup.c (configuring, binding,
 * adopting a socket). Not for other modules: they use ctlsrv.h.
 *
 * Ownership and invariants: see ctlsrv.c. Thread: loop thread only.
 */
#ifndef AC_CTLSRV_INT_H
#define AC_CTLSRV_INT_H

#include <sys/types.h>

#include "ctlauth.h"
#include "ctlsrv.h"

/* Handles per client: pipe, resume (idle handle), idle timeout (timer). */
#define CLIENT_HANDLES 3

struct ac_ctlsrv {
    uv_loop_t *loop;
    uv_pipe_t pipe;
    ac_ctlsrv_handler handler;
    void *ud;
    ac_ctlsrv_closed_cb closed_cb;
    ac_ctlsrv_client_t *clients;
    size_t nclients, nwatchers;
    size_t max_pending;
    size_t max_clients;
    unsigned idle_ms; /* 0: no idle timeout */
    ac_ctlauth_policy_t pol;
    bool reader_is_socket_group; /* reader_group "" : follow the socket file's group */
    gid_t socket_gid;
    ac_ctlauth_peer_fn peer_fn;
    void *peer_ud;
    unsigned open_handles; /* the listening pipe plus CLIENT_HANDLES per client not closed */
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
    uv_timer_t idle;
    uv_shutdown_t shutdown;
    ac_ctlsrv_t *srv; /* NULL once detached */
    ac_ctlsrv_client_t *prev, *next;
    ac_proto_framer_t framer;
    unsigned long id;
    int refs;
    int open_handles;
    int level;     /* enum ac_proto_access, decided at accept */
    char who[128]; /* "uid 1000 (alice) pid 1234", for the log */
    bool reading, eof, awaiting, in_dispatch, subscribed, finishing, closing;
};

/* ac_ctlsrv_on_connection is the listening pipe's connection callback (ctlsrv.c). */
void ac_ctlsrv_on_connection(uv_stream_t *server, int status);

#endif
