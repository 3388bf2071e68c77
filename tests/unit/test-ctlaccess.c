/*
 * test-ctlaccess.c - who may do what on the control socket, the idle timeout and the slots
 * reserved for root and the daemon's user (daemon/serve/ctlauth.h, ctlsrv.h).
 *
 * The tests run as root, so other users are played: a scenario client binds its socket to
 * a name "p.UID.GID.N" before connecting, and the injected credentials source (fake_peer)
 * reads the real SO_PEERCRED first, then, for such a name, replaces the uid and the groups.
 * Clients without a name stay root. Group ids 54321 (readers) and 54322 (admins) are used
 * by number, so no group database entry is needed.
 */
#include <stdatomic.h>
#include <sys/wait.h>

#include "ctlauth.h"
#include "ctlsrv_fixture.h"
#include "harness.h"
#include "log.h"

#define READERS "54321"
#define ADMINS "54322"

/* ---- credentials source and log capture (loop thread) ------------------------------------ */

static atomic_int real_creds_seen;   /* SO_PEERCRED gave our own uid and pid */
static atomic_int everyone_uid = -1; /* >= 0: every peer is this uid, group 5 */

static int fake_peer(int fd, ac_ctlauth_peer_t *p, void *ud)
{
    struct sockaddr_un sa;
    socklen_t len = sizeof sa;
    unsigned uid, gid;
    gid_t g;
    int rc = ac_ctlauth_peer_get(fd, p, ud);

    (void)ud;
    if (rc != 0)
        return rc;
    if (p->uid == geteuid() && p->pid == getpid())
        real_creds_seen++;
    memset(&sa, 0, sizeof sa);
    if (atomic_load(&everyone_uid) >= 0) {
        uid = (unsigned)atomic_load(&everyone_uid);
        gid = 5;
    } else if (getpeername(fd, (struct sockaddr *)&sa, &len) != 0 ||
               sscanf(sa.sun_path, "p.%u.%u.", &uid, &gid) != 2) {
        return 0;
    }
    p->uid = (uid_t)uid;
    p->user[0] = '\0';
    g = (gid_t)gid;
    return ac_ctlauth_peer_set_groups(p, &g, 1);
}

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[1 << 16];

static void log_sink(int level, const char *file, int line, const char *func, const char *msg)
{
    pthread_mutex_lock(&log_mu);
    size_t n = strlen(log_text);
    snprintf(log_text + n, sizeof log_text - n, "<%d>%s\n", level, msg);
    pthread_mutex_unlock(&log_mu);
}

/* log_has says whether a line at level contains s. */
static bool log_has(int level, const char *s)
{
    char want[512];
    bool found = false;

    pthread_mutex_lock(&log_mu);
    for (const char *p = log_text; (p = strstr(p, s)) != NULL; p++) {
        const char *bol = p;
        while (bol > log_text && bol[-1] != '\n')
            bol--;
        snprintf(want, sizeof want, "<%d>", level);
        if (strncmp(bol, want, strlen(want)) == 0)
            found = true;
    }
    pthread_mutex_unlock(&log_mu);
    return found;
}

static void capture_log(void)
{
    ac_log_set_level(AC_LOG_DEBUG);
    ac_log_set_sink(log_sink);
}

/* ---- client helpers (scenario thread) --------------------------------------------------- */

/* conn_open_as connects as uid with one group gid (see the top). */
static void conn_open_as(struct conn *k, const char *path, unsigned uid, unsigned gid)
{
    static int n;
    struct sockaddr_un me = {.sun_family = AF_UNIX}, sa = {.sun_family = AF_UNIX};

    k->len = 0;
    k->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(k->fd >= 0);
    snprintf(me.sun_path, sizeof me.sun_path, "p.%u.%u.%d", uid, gid, n++);
    ASSERT_OK(bind(k->fd, (struct sockaddr *)&me, sizeof me));
    strcpy(sa.sun_path, path);
    ASSERT_OK(connect(k->fd, (struct sockaddr *)&sa, sizeof sa));
}

/* expect_refused sends cmd and checks the not_allowed reply and its message. */
static void expect_refused(struct conn *k, const char *cmd, const char *message)
{
    char line[128];
    json_t *r;

    snprintf(line, sizeof line, "{\"id\":5,\"cmd\":\"%s\"}\n", cmd);
    r = request(k, line);
    ASSERT(json_is_false(json_object_get(r, "ok")));
    ASSERT_STR_EQ(err_code(r), "not_allowed");
    ASSERT_EQ(json_integer_value(json_object_get(r, "id")), 5);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
                  message);
    json_decref(r);
}

static void expect_ok(struct conn *k, const char *cmd)
{
    char line[128];
    json_t *r;

    snprintf(line, sizeof line, "{\"id\":6,\"cmd\":\"%s\"}\n", cmd);
    r = request(k, line);
    if (!json_is_true(json_object_get(r, "ok")))
        AC_TEST_FAIL("%s refused: %s", cmd, err_code(r));
    json_decref(r);
}

/* elapsed_ms since t0 (CLOCK_MONOTONIC). */
static double elapsed_ms(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ---- the rule, without sockets ---------------------------------------------------------- */

TEST(ctlauth_levels_follow_the_rule)
{
    ac_ctlauth_policy_t pol = {.self_uid = 998,
                               .reader = {.gid = 100, .name = "astro-read"},
                               .admin = {.gid = 200, .name = "astro-admin"}};
    const gid_t none[] = {5, 6}, reader[] = {5, 100}, admin[] = {200}, both[] = {100, 200};
    char msg[256];

    ASSERT_EQ(ac_ctlauth_level(&pol, true, 0, NULL, 0), AC_PROTO_ACCESS_CHANGE);   /* root */
    ASSERT_EQ(ac_ctlauth_level(&pol, true, 998, NULL, 0), AC_PROTO_ACCESS_CHANGE); /* self */
    ASSERT_EQ(ac_ctlauth_level(&pol, true, 1000, none, 2), AC_PROTO_ACCESS_NONE);
    ASSERT_EQ(ac_ctlauth_level(&pol, true, 1000, reader, 2), AC_PROTO_ACCESS_READ);
    ASSERT_EQ(ac_ctlauth_level(&pol, true, 1000, admin, 1), AC_PROTO_ACCESS_CHANGE);
    ASSERT_EQ(ac_ctlauth_level(&pol, true, 1000, both, 2), AC_PROTO_ACCESS_CHANGE);
    /* Unreadable credentials: nothing, even with uid 0 in the struct. */
    ASSERT_EQ(ac_ctlauth_level(&pol, false, 0, admin, 1), AC_PROTO_ACCESS_NONE);
    ASSERT(ac_ctlauth_privileged(&pol, 0));
    ASSERT(ac_ctlauth_privileged(&pol, 998));
    ASSERT(!ac_ctlauth_privileged(&pol, 1000));
    ASSERT_STR_EQ(
        ac_ctlauth_deny_message(&pol, "pause", AC_PROTO_ACCESS_CHANGE, msg, sizeof msg),
        "pause needs membership of group astro-admin");
    ASSERT_STR_EQ(
        ac_ctlauth_deny_message(&pol, "status", AC_PROTO_ACCESS_READ, msg, sizeof msg),
        "status needs membership of group astro-read or astro-admin");
    pol.reader = pol.admin;
    ASSERT_STR_EQ(
        ac_ctlauth_deny_message(&pol, "status", AC_PROTO_ACCESS_READ, msg, sizeof msg),
        "status needs membership of group astro-admin");
}

TEST(ctlauth_groups_by_name_or_number)
{
    ac_ctlauth_group_t g;
    ac_err_t e = {0};

    ASSERT_OK(ac_ctlauth_group_resolve("admin_group", "root", &g, &e));
    ASSERT_EQ(g.gid, 0);
    ASSERT_STR_EQ(g.name, "root");
    ASSERT_OK(ac_ctlauth_group_resolve("reader_group", READERS, &g, &e));
    ASSERT_EQ(g.gid, 54321);
    ASSERT_STR_EQ(g.name, READERS); /* no name: the number */
    ASSERT_EQ(ac_ctlauth_group_resolve("reader_group", "no-such-group-x", &g, &e), AC_ECONFIG);
    ASSERT_STR_EQ(e.msg, "reader_group: no group named 'no-such-group-x'");
}

/* ---- permissions through the server ----------------------------------------------------- */

static void sc_permissions(struct fixture *fx)
{
    struct conn nobody, reader, admin, root;
    char want[128];

    conn_open_as(&nobody, fx->path, 1000, 5);
    conn_open_as(&reader, fx->path, 1001, 54321);
    conn_open_as(&admin, fx->path, 1002, 54322);
    conn_open(&root, fx->path);
    /* A non-member: nothing, not even read-only commands or unknown ones. */
    expect_refused(&nobody, "status",
                   "status needs membership of group " READERS " or " ADMINS);
    expect_refused(&nobody, "pause", "pause needs membership of group " ADMINS);
    expect_refused(&nobody, "frobnicate", "frobnicate needs membership of group " ADMINS);
    /* A reader: read-only commands only; the connection survives the refusal. */
    expect_ok(&reader, "status");
    expect_ok(&reader, "watch");
    expect_refused(&reader, "pause", "pause needs membership of group " ADMINS);
    expect_refused(&reader, "reload", "reload needs membership of group " ADMINS);
    expect_ok(&reader, "status");
    /* An admin and root: everything. */
    expect_ok(&admin, "status");
    expect_ok(&admin, "pause");
    expect_ok(&root, "pause");
    conn_close(&nobody);
    conn_close(&reader);
    conn_close(&admin);
    conn_close(&root);
    /* Changing commands and refusals are logged with who asked. */
    snprintf(want, sizeof want, "control: pause by uid 1002 pid %d", (int)getpid());
    ASSERT(log_has(AC_LOG_NOTICE, want));
    ASSERT(log_has(AC_LOG_NOTICE, "control: pause by uid 0 (root) pid"));
    snprintf(want, sizeof want, "control: pause refused for uid 1001 pid %d: pause needs",
             (int)getpid());
    ASSERT(log_has(AC_LOG_NOTICE, want));
    ASSERT(!log_has(AC_LOG_NOTICE, "control: status by")); /* reads are not logged */
}

TEST(ctlsrv_permissions_are_checked_before_the_handler)
{
    capture_log();
    run_opts(sc_permissions, &(struct fx_opts){.configure = true,
                                               .reader_group = READERS,
                                               .admin_group = ADMINS,
                                               .idle_ms = 30000,
                                               .peer_fn = fake_peer});
    ASSERT_EQ(real_creds_seen, 4); /* SO_PEERCRED read for every connection */
}

static void sc_default_groups(struct fixture *fx)
{
    struct conn k;

    /* The socket file's group (54323, from the set-group-id directory) may read; the
     * daemon's group (root's, 0) may change. */
    conn_open_as(&k, fx->path, 1000, 54323);
    expect_ok(&k, "status");
    expect_refused(&k, "pause", "pause needs membership of group root");
    conn_close(&k);
    conn_open_as(&k, fx->path, 1000, 0);
    expect_ok(&k, "pause");
    conn_close(&k);
}

TEST(ctlsrv_default_groups_are_the_socket_group_and_the_daemon_group)
{
    ASSERT_OK(chown(ac_test_tmpdir(), (uid_t)-1, 54323));
    ASSERT_OK(chmod(ac_test_tmpdir(), 02755));
    run_opts(sc_default_groups, &(struct fx_opts){.configure = true,
                                                  .reader_group = "",
                                                  .admin_group = "",
                                                  .idle_ms = 30000,
                                                  .peer_fn = fake_peer});
}

TEST(ctlsrv_refuses_a_world_writable_socket_and_unknown_groups)
{
    uv_loop_t loop;
    ac_ctlsrv_t *srv;
    ac_err_t e = {0};

    ASSERT_OK(uv_loop_init(&loop));
    srv = ac_ctlsrv_new(&loop, handler, NULL);
    ASSERT_EQ(ac_ctlsrv_listen(srv, "ctl.sock", 0666, &e), -EPERM);
    ASSERT_CONTAINS(e.msg, "mode 0666 would let every local user connect");
    ASSERT_EQ(access("ctl.sock", F_OK), -1);
    ac_err_clear(&e);
    ASSERT_EQ(ac_ctlsrv_configure(srv, "", "no-such-group-y", 1000, &e), AC_ECONFIG);
    ASSERT_STR_EQ(e.msg, "admin_group: no group named 'no-such-group-y'");
    ac_ctlsrv_close(srv, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&loop));
}

/* ---- idle timeout ----------------------------------------------------------------------- */

static void sc_idle(struct fixture *fx)
{
    struct conn silent, midline, busy, watcher, waiting;
    struct pollfd pf;
    struct timespec t0;
    json_t *r;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    conn_open(&silent, fx->path);
    conn_open(&midline, fx->path);
    conn_open(&busy, fx->path);
    conn_open(&watcher, fx->path);
    conn_open(&waiting, fx->path);
    expect_ok(&watcher, "watch");
    conn_sends(&midline, "{\"id\":1,");
    /* A client waiting 500 ms for its replies is not idle (each "slow" reply comes after
     * 100 ms; five in a row). */
    for (int i = 1; i <= 5; i++)
        conn_sends(&waiting, "{\"cmd\":\"slow\"}\n");
    /* A client making a request every 100 ms stays for 700 ms; a client adding bytes to an
     * unfinished line is not making requests. */
    for (int i = 0; i < 7; i++) {
        usleep(100 * 1000);
        if (i < 2)
            conn_sends(&midline, " ");
        if (i == 1 && elapsed_ms(&t0) < 250) { /* not closed before the timeout */
            pf = (struct pollfd){.fd = silent.fd, .events = POLLIN};
            ASSERT_EQ(poll(&pf, 1, 0), 0);
        }
        expect_ok(&busy, "status");
    }
    for (int i = 1; i <= 5; i++) {
        r = conn_json(&waiting);
        ASSERT(json_is_true(json_object_get(json_object_get(r, "result"), "slow")));
        json_decref(r);
    }
    /* The silent and the mid-line client have been closed. */
    ASSERT_NULL(conn_line(&silent));
    ASSERT_NULL(conn_line(&midline));
    assert_stats(&busy, 9, 3, -1); /* busy, watcher, waiting */
    /* The watcher, silent for 700 ms, still gets events. */
    r = request(&busy, "{\"id\":10,\"cmd\":\"emit\",\"args\":{\"n\":1,\"size\":1}}\n");
    ASSERT_EQ(result_int(r, "sent"), 1);
    json_decref(r);
    r = conn_json(&watcher);
    ASSERT_STR_EQ(json_string_value(json_object_get(r, "event")), "file_done");
    json_decref(r);
    conn_close(&silent);
    conn_close(&midline);
    conn_close(&busy);
    conn_close(&watcher);
    conn_close(&waiting);
    ASSERT(log_has(AC_LOG_INFO, "sent no request for 300 ms: closing"));
    ASSERT(log_has(AC_LOG_INFO, "stuck in the middle of a line for 300 ms: closing"));
}

TEST(ctlsrv_idle_clients_are_closed_after_the_timeout)
{
    capture_log();
    run_opts(sc_idle,
             &(struct fx_opts){
                 .configure = true, .reader_group = "", .admin_group = "", .idle_ms = 300});
}

/* ---- reserved slots --------------------------------------------------------------------- */

static void sc_reserved(struct fixture *fx)
{
    enum { OTHERS = AC_CTLSRV_MAX_CLIENTS - AC_CTLSRV_RESERVED_CLIENTS };
    struct conn *ks = calloc(OTHERS + 1, sizeof *ks);
    struct conn root[AC_CTLSRV_RESERVED_CLIENTS + 1];
    json_t *r;

    ASSERT_NOT_NULL(ks);
    /* Other users' clients that connect and never send take every slot open to them. */
    for (int i = 0; i < OTHERS; i++)
        conn_open_as(&ks[i], fx->path, 1000, 54321);
    conn_open_as(&ks[OTHERS], fx->path, 1000, 54321);
    r = conn_json(&ks[OTHERS]);
    ASSERT_STR_EQ(err_code(r), "busy");
    json_decref(r);
    ASSERT_NULL(conn_line(&ks[OTHERS]));
    /* Root still gets status, on each reserved slot. */
    for (int i = 0; i < AC_CTLSRV_RESERVED_CLIENTS; i++) {
        conn_open(&root[i], fx->path);
        expect_ok(&root[i], "status");
    }
    assert_stats(&root[0], 1, AC_CTLSRV_MAX_CLIENTS, -1);
    /* Beyond the limit even root is told busy. */
    conn_open(&root[AC_CTLSRV_RESERVED_CLIENTS], fx->path);
    r = conn_json(&root[AC_CTLSRV_RESERVED_CLIENTS]);
    ASSERT_STR_EQ(err_code(r), "busy");
    json_decref(r);
    for (int i = 0; i <= OTHERS; i++)
        conn_close(&ks[i]);
    for (int i = 0; i <= AC_CTLSRV_RESERVED_CLIENTS; i++)
        conn_close(&root[i]);
    free(ks);
}

TEST(ctlsrv_root_gets_a_reserved_slot_when_others_hold_the_rest)
{
    run_opts(sc_reserved, &(struct fx_opts){.configure = true,
                                            .reader_group = READERS,
                                            .admin_group = ADMINS,
                                            .idle_ms = 30000,
                                            .peer_fn = fake_peer});
}

/* ---- astrocalctl ------------------------------------------------------------------------ */

static void sc_ctl(struct fixture *fx)
{
    ac_harness_t h;
    char ctl[1100], *out = NULL, *err = NULL;
    const char *argv[] = {ctl, "--socket", fx->path, "pause", NULL, NULL};

    ac_harness_init(&h);
    snprintf(ctl, sizeof ctl, "%s/astrocalctl", ac_test_bindir());
    ASSERT_EQ(ac_harness_run(&h, argv, 10000, &out, &err), 1);
    ASSERT_STR_EQ(out, "");
    ASSERT_STR_EQ(err,
                  "astrocalctl: not allowed: pause needs membership of group " ADMINS "\n");
    free(out);
    free(err);
    argv[4] = "--json";
    ASSERT_EQ(ac_harness_run(&h, argv, 10000, &out, &err), 1);
    ASSERT_STR_EQ(out, "{\"error\":{\"code\":\"not_allowed\",\"message\":\"pause needs "
                       "membership of group " ADMINS "\"}}\n");
    free(out);
    free(err);
}

TEST(astrocalctl_says_not_allowed)
{
    atomic_store(&everyone_uid, 1000);
    run_opts(sc_ctl, &(struct fx_opts){.configure = true,
                                       .reader_group = READERS,
                                       .admin_group = ADMINS,
                                       .idle_ms = 30000,
                                       .peer_fn = fake_peer});
}
