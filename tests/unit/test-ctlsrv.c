/*
 * test-ctlsrv.c - the control socket server on a real libuv loop in the test process
 * (the fixture, ctlsrv_fixture.h, says how: server on the main thread, scenario on a
 * client thread with plain blocking sockets). Permissions, the idle timeout and the
 * reserved slots are tested in test-ctlaccess.c.
 */
#include "ctlsrv_fixture.h"

/* ---- scenarios -------------------------------------------------------------------------- */

static void sc_basic(struct fixture *fx)
{
    struct conn k;
    json_t *r;

    conn_open(&k, fx->path);
    r = request(&k, "{\"v\":1,\"id\":1,\"cmd\":\"echo\",\"args\":{\"a\":[1,2]}}\n");
    ASSERT(json_is_true(json_object_get(r, "ok")));
    ASSERT_EQ(json_integer_value(json_object_get(r, "id")), 1);
    ASSERT_EQ(json_integer_value(json_object_get(r, "v")), 1);
    ASSERT_EQ(json_array_size(
                  json_object_get(json_object_get(json_object_get(r, "result"), "args"), "a")),
              2);
    json_decref(r);
    /* Malformed JSON: bad_request with a null id, and the connection stays usable. */
    r = request(&k, "{\"id\":2,\"cmd\":\n");
    ASSERT(json_is_false(json_object_get(r, "ok")));
    ASSERT_STR_EQ(err_code(r), "bad_request");
    ASSERT(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    r = request(&k, "{\"id\":3,\"cmd\":\"echo\",\"cmd\":\"x\"}\n");
    ASSERT_STR_EQ(err_code(r), "bad_request");
    json_decref(r);
    r = request(&k, "{\"id\":4,\"cmd\":\"status\",\"v\":9}\n");
    ASSERT_STR_EQ(err_code(r), "unsupported_version");
    ASSERT_EQ(json_integer_value(json_object_get(r, "id")), 4); /* the id is echoed */
    json_decref(r);
    r = request(&k, "{\"id\":\"five\",\"cmd\":\"nosuch\"}\n");
    ASSERT_STR_EQ(err_code(r), "unknown_command");
    ASSERT_STR_EQ(json_string_value(json_object_get(r, "id")), "five");
    json_decref(r);
    r = request(&k, "{\"id\":6,\"cmd\":\"fail\"}\n");
    ASSERT_STR_EQ(err_code(r), "not_found");
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
                  "no session 'x'");
    json_decref(r);
    /* Blank lines are ignored; "\r\n" endings are accepted. */
    r = request(&k, "\n  \n{\"id\":7,\"cmd\":\"echo\"}\r\n");
    ASSERT_EQ(json_integer_value(json_object_get(r, "id")), 7);
    ASSERT(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    conn_close(&k);
}

TEST(ctlsrv_requests_errors_and_recovery)
{
    run(sc_basic, 0);
}

static void sc_order(struct fixture *fx)
{
    struct conn k;
    json_t *r;

    /* Three requests in one write; the first answers 100 ms later, asynchronously. */
    conn_open(&k, fx->path);
    conn_sends(&k, "{\"id\":1,\"cmd\":\"slow\"}\n{\"id\":2,\"cmd\":\"echo\"}\n"
                   "{\"id\":3,\"cmd\":\"fail\"}\n");
    for (int want = 1; want <= 3; want++) {
        r = conn_json(&k);
        ASSERT_EQ(json_integer_value(json_object_get(r, "id")), want);
        if (want == 1)
            ASSERT(json_is_true(json_object_get(json_object_get(r, "result"), "slow")));
        json_decref(r);
    }
    /* Half-close: requests already sent are still answered, then the server closes. */
    conn_sends(&k, "{\"id\":4,\"cmd\":\"slow\"}\n{\"id\":5,\"cmd\":\"echo\"}\n");
    ASSERT_OK(shutdown(k.fd, SHUT_WR));
    r = conn_json(&k);
    ASSERT_EQ(json_integer_value(json_object_get(r, "id")), 4);
    json_decref(r);
    r = conn_json(&k);
    ASSERT_EQ(json_integer_value(json_object_get(r, "id")), 5);
    json_decref(r);
    ASSERT_NULL(conn_line(&k)); /* EOF */
    conn_close(&k);
}

TEST(ctlsrv_replies_in_request_order_with_async_handler)
{
    run(sc_order, 0);
}

static void sc_too_long(struct fixture *fx)
{
    struct conn k, k2;
    size_t n = AC_PROTO_MAX_LINE + 5000;
    char *big = malloc(n + 1);
    json_t *r;
    char *line;

    ASSERT_NOT_NULL(big);
    memset(big, ' ', n);
    big[n] = '\n';
    conn_open(&k2, fx->path); /* a bystander connection */
    conn_open(&k, fx->path);
    r = request(&k, "{\"id\":1,\"cmd\":\"echo\"}\n");
    json_decref(r);
    conn_send(&k, big, n + 1);
    free(big);
    r = conn_json(&k);
    ASSERT_STR_EQ(err_code(r), "too_long");
    ASSERT_CONTAINS(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
                    "65536");
    json_decref(r);
    line = conn_line(&k); /* then the server closes the connection */
    ASSERT_NULL(line);
    conn_close(&k);
    /* The other client is undisturbed. */
    assert_stats(&k2, 9, 1, -1);
    conn_close(&k2);
}

TEST(ctlsrv_oversized_line_gets_too_long_then_close)
{
    run(sc_too_long, 0);
}

static void sc_watch(struct fixture *fx)
{
    struct conn a, b;
    json_t *r;

    conn_open(&a, fx->path);
    conn_open(&b, fx->path);
    r = request(&a, "{\"id\":1,\"cmd\":\"watch\"}\n");
    ASSERT(json_is_true(json_object_get(json_object_get(r, "result"), "watching")));
    json_decref(r);
    r = request(&b, "{\"id\":2,\"cmd\":\"emit\",\"args\":{\"n\":2,\"size\":3}}\n");
    ASSERT_EQ(result_int(r, "sent"), 2); /* two events to one watcher */
    json_decref(r);
    for (int i = 0; i < 2; i++) {
        r = conn_json(&a);
        ASSERT_STR_EQ(json_string_value(json_object_get(r, "event")), "file_done");
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(r, "data"), "i")), i);
        ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(r, "data"), "pad")),
                      "ppp");
        ASSERT_NULL(json_object_get(r, "id"));
        json_decref(r);
    }
    /* A watcher can still make requests. */
    assert_stats(&a, 3, 2, 1);
    conn_close(&a);
    usleep(100 * 1000);
    assert_stats(&b, 4, 1, 0);
    conn_close(&b);
}

TEST(ctlsrv_two_clients_and_watch_events)
{
    run(sc_watch, 0);
}

/* clients_now asks the server's client count through k. */
static json_int_t clients_now(struct conn *k)
{
    json_t *r = request(k, "{\"id\":2,\"cmd\":\"stats\"}\n");
    json_int_t n = result_int(r, "clients");

    json_decref(r);
    return n;
}

static void sc_gone(struct fixture *fx)
{
    struct conn k, k2;

    /* A 4 MiB reply to a client that closes without reading. */
    conn_open(&k, fx->path);
    conn_sends(&k, "{\"id\":1,\"cmd\":\"big\",\"args\":{\"size\":4194304}}\n");
    usleep(50 * 1000);
    conn_close(&k);
    /* A late (asynchronous) reply to a client that has gone. */
    conn_open(&k, fx->path);
    conn_sends(&k, "{\"id\":2,\"cmd\":\"slow\"}\n");
    usleep(20 * 1000);
    conn_close(&k);
    usleep(250 * 1000); /* the slow reply fires at 100 ms */
    /* Both gone clients are reaped; under ThreadSanitizer that may take longer than the
     * 250 ms above, so ask again, for 5 s at most, until k2 is the only client. */
    conn_open(&k2, fx->path);
    for (int ms = 0; ms < 5000 && clients_now(&k2) != 1; ms += 50)
        usleep(50 * 1000);
    assert_stats(&k2, 3, 1, -1);
    conn_close(&k2);
}

TEST(ctlsrv_client_gone_mid_reply_and_before_late_reply)
{
    run(sc_gone, 0);
}

static void sc_slow_reader(struct fixture *fx)
{
    struct conn w, k;
    json_t *r;

    conn_open(&w, fx->path);
    r = request(&w, "{\"id\":1,\"cmd\":\"watch\"}\n");
    json_decref(r);
    /* 400 events of 16 KiB = 6.4 MB for a watcher that never reads, with a 256 KiB bound
     * (the kernel buffers some too). */
    conn_open(&k, fx->path);
    r = request(&k, "{\"id\":2,\"cmd\":\"emit\",\"args\":{\"n\":400,\"size\":16384}}\n");
    ASSERT(result_int(r, "sent") < 400);
    json_decref(r);
    assert_stats(&k, 3, 1, 0);
    conn_close(&k);
    conn_close(&w);
}

TEST(ctlsrv_client_that_does_not_read_is_disconnected)
{
    run(sc_slow_reader, 256 * 1024);
}

static void sc_many(struct fixture *fx)
{
    struct conn *ks = calloc(AC_CTLSRV_MAX_CLIENTS + 1, sizeof *ks);
    json_t *r;

    ASSERT_NOT_NULL(ks);
    for (int i = 0; i < AC_CTLSRV_MAX_CLIENTS; i++) {
        conn_open(&ks[i], fx->path);
        r = request(&ks[i], "{\"id\":1,\"cmd\":\"echo\"}\n");
        json_decref(r);
    }
    conn_open(&ks[AC_CTLSRV_MAX_CLIENTS], fx->path);
    r = conn_json(&ks[AC_CTLSRV_MAX_CLIENTS]);
    ASSERT_STR_EQ(err_code(r), "busy");
    json_decref(r);
    ASSERT_NULL(conn_line(&ks[AC_CTLSRV_MAX_CLIENTS]));
    for (int i = 0; i <= AC_CTLSRV_MAX_CLIENTS; i++)
        conn_close(&ks[i]);
    free(ks);
}

TEST(ctlsrv_too_many_clients_get_busy)
{
    run(sc_many, 0);
}

/* ---- binding ---------------------------------------------------------------------------- */

static void noop_handler(ac_ctlsrv_client_t *c, json_t *id, const char *cmd, json_t *args,
                         void *ud)
{
    ac_ctlsrv_reply_ok(c, id, NULL);
}

/* close_and_drain closes srv and runs the loop until every handle is closed. */
static void close_and_drain(uv_loop_t *loop, ac_ctlsrv_t *srv)
{
    ac_ctlsrv_close(srv, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(loop));
}

TEST(ctlsrv_stale_socket_is_replaced_live_one_is_not)
{
    uv_loop_t loop;
    ac_ctlsrv_t *a, *b;
    ac_err_t e = {0};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    /* A socket file nobody listens on (bound, then the process "crashed"). */
    strcpy(sa.sun_path, "stale.sock");
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_OK(bind(fd, (struct sockaddr *)&sa, sizeof sa));
    close(fd);
    ASSERT_OK(access("stale.sock", F_OK));
    ASSERT_OK(uv_loop_init(&loop));
    a = ac_ctlsrv_new(&loop, noop_handler, NULL);
    ASSERT_OK(ac_ctlsrv_listen(a, "stale.sock", 0660, &e));
    /* A second server on the same live socket is refused, and the socket survives. */
    b = ac_ctlsrv_new(&loop, noop_handler, NULL);
    ASSERT_EQ(ac_ctlsrv_listen(b, "stale.sock", 0660, &e), -EADDRINUSE);
    ASSERT_CONTAINS(e.msg, "another process is listening on control socket stale.sock");
    ac_ctlsrv_close(b, NULL);
    ASSERT_OK(access("stale.sock", F_OK));
    close_and_drain(&loop, a);
    ASSERT_EQ(access("stale.sock", F_OK), -1);
}

TEST(ctlsrv_refuses_a_file_that_is_not_a_socket)
{
    uv_loop_t loop;
    ac_ctlsrv_t *srv;
    ac_err_t e = {0};
    FILE *f = fopen("ctl.sock", "w");
    struct stat st;

    ASSERT_NOT_NULL(f);
    fputs("precious", f);
    fclose(f);
    ASSERT_OK(uv_loop_init(&loop));
    srv = ac_ctlsrv_new(&loop, noop_handler, NULL);
    ASSERT_EQ(ac_ctlsrv_listen(srv, "ctl.sock", 0660, &e), -EEXIST);
    ASSERT_CONTAINS(e.msg, "exists and is not a socket");
    close_and_drain(&loop, srv);
    ASSERT_OK(stat("ctl.sock", &st));
    ASSERT_EQ(st.st_size, 8);
}

TEST(ctlsrv_path_too_long_is_a_clear_error)
{
    uv_loop_t loop;
    ac_ctlsrv_t *srv;
    ac_err_t e = {0};
    char path[200];

    memset(path, 'a', 120);
    path[0] = '/';
    path[120] = '\0';
    ASSERT_OK(uv_loop_init(&loop));
    srv = ac_ctlsrv_new(&loop, noop_handler, NULL);
    ASSERT_EQ(ac_ctlsrv_listen(srv, path, 0660, &e), -ENAMETOOLONG);
    ASSERT_CONTAINS(e.msg, "is 120 bytes long; a Unix socket path must be shorter than 108");
    close_and_drain(&loop, srv);
    /* A missing directory names the path. */
    ac_err_clear(&e);
    ASSERT_OK(uv_loop_init(&loop));
    srv = ac_ctlsrv_new(&loop, noop_handler, NULL);
    ASSERT_EQ(ac_ctlsrv_listen(srv, "no/such/dir/ctl.sock", 0660, &e), -ENOENT);
    ASSERT_CONTAINS(e.msg, "cannot bind control socket no/such/dir/ctl.sock");
    close_and_drain(&loop, srv);
}

TEST(ctlsrv_serves_an_inherited_listening_fd)
{
    struct srv_thread st = {0};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    ac_err_t e = {0};
    struct conn k;
    char path[256];
    json_t *r;
    int fd, dgram;

    snprintf(path, sizeof path, "%s/act.sock", ac_test_tmpdir());
    strcpy(sa.sun_path, path);
    ASSERT_OK(uv_loop_init(&st.loop));
    /* Not a listening stream socket: refused. */
    dgram = socket(AF_UNIX, SOCK_DGRAM, 0);
    st.srv = ac_ctlsrv_new(&st.loop, noop_handler, NULL);
    ASSERT_EQ(ac_ctlsrv_open_fd(st.srv, dgram, &e), -ENOTSOCK);
    ac_ctlsrv_close(st.srv, NULL);
    uv_run(&st.loop, UV_RUN_DEFAULT);
    /* What systemd passes: a bound, listening socket. */
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_OK(bind(fd, (struct sockaddr *)&sa, sizeof sa));
    ASSERT_OK(listen(fd, 8));
    st.srv = ac_ctlsrv_new(&st.loop, noop_handler, NULL);
    ASSERT_OK(ac_ctlsrv_open_fd(st.srv, fd, &e));
    srv_thread_run(&st);
    conn_open(&k, path);
    r = request(&k, "{\"id\":1,\"cmd\":\"version\"}\n");
    ASSERT(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    conn_close(&k);
    srv_thread_stop(&st);
}
