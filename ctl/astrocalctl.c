/*
 * astrocalctl.c - the operator's command-line client for astrocald.
 *
 *   astrocalctl [--socket PATH] [--json] [--timeout S] COMMAND [ARGS]
 *
 * It connects to the control socket (plain POSIX sockets, no libuv), sends one request
 * (common/proto.h), waits for its reply and prints the result for people (ctl/print.c) or,
 * with --json, as the raw result object on one line. `watch` then keeps printing events
 * until interrupted, connecting again when the daemon restarts (unless --once). Commands,
 * their usage and options are the table of ctl/commands.c. Exit status: 0 success, 1 the
 * daemon answered with an error (printed on stderr as "astrocalctl: CODE: MESSAGE", a
 * refusal as "astrocalctl: not allowed: pause needs membership of group G"), 64 usage, 69
 * the daemon cannot be reached or went away, 76 the daemon's reply made no sense. With
 * --json every error is also {"error":{"code":CODE,"message":...}} on stdout, CODE from
 * the one list of common/proto.h (usage, unknown_command, unavailable, bad_reply and the
 * daemon's codes).
 *
 * Single-threaded. The only file here that exits.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "commands.h"
#include "preview.h"
#include "print.h"
#include "proto.h"
#include "version.h"

#define DEFAULT_SOCKET "/run/astrocald/astrocald.sock"
#define DEFAULT_TIMEOUT_S 30.0
#define LONG_TIMEOUT_S 300.0 /* commands with CTL_LONG_TIMEOUT (preview) */
#define EXIT_DAEMON_ERROR 1

static volatile sig_atomic_t interrupted;
/* --json: errors are JSON objects on stdout too. */
static bool json_errors;
/* The command once known: usage errors then point to its own help. */
static const char *hint_cmd;

/* fail reports an error and exits with status: "astrocalctl: MESSAGE" on stderr and, with
 * --json, {"error":{"code":CODE,"message":MESSAGE}} on stdout (code: enum ac_proto_code). */
__attribute__((noreturn, format(printf, 3, 4))) static void fail(int status, int code,
                                                                 const char *fmt, ...)
{
    char msg[1200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (json_errors)
        ac_proto_print_error(stdout, code, msg);
    fprintf(stderr, "astrocalctl: %s\n", msg);
    if (status == EX_USAGE && hint_cmd != NULL)
        fprintf(stderr, "(see astrocalctl help %s)\n", hint_cmd);
    else if (status == EX_USAGE)
        fputs("(see astrocalctl --help)\n", stderr);
    exit(status);
}

#define die_usage(...) fail(EX_USAGE, AC_PROTO_USAGE, __VA_ARGS__)

/* ---- the connection --------------------------------------------------------------------- */

/* try_connect connects to the socket at path: the descriptor, or -errno. */
static int try_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, err;

    if (strlen(path) >= sizeof sa.sun_path)
        die_usage("socket path %s is longer than %zu bytes", path, sizeof sa.sun_path - 1);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        return fd;
    err = errno;
    if (fd >= 0)
        close(fd);
    return -err;
}

static int connect_to(const char *path)
{
    int fd = try_connect(path);

    if (fd < 0)
        fail(EX_UNAVAILABLE, AC_PROTO_UNAVAILABLE, "cannot connect to %s: %s \xE2\x80\x94 %s",
             path, strerror(-fd),
             fd == -EACCES || fd == -EPERM ? "are you in the group that owns the socket?"
                                           : "is astrocald running?");
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail(EX_UNAVAILABLE, AC_PROTO_UNAVAILABLE, "cannot send the request: %s",
                 strerror(errno));
        s += w;
        n -= (size_t)w;
    }
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * read_msg reads the next line from fd into f and decodes it into m; *raw and *rawlen
 * (when raw is not NULL) give the line as received, borrowed until the next read. deadline
 * 0 means wait forever. Returns 0; 1 when interrupted by SIGINT/SIGTERM; when the daemon
 * closes the connection -1 if closed_ok (watch reconnects), else exits 69; exits on a
 * timeout or a malformed line.
 */
static int read_msg(int fd, ac_proto_framer_t *f, ac_proto_msg_t *m, double deadline,
                    const char **raw, size_t *rawlen, bool closed_ok)
{
    const char *line;
    size_t len;
    ac_err_t e = {0};
    char buf[65536];

    while (!ac_proto_framer_next(f, &line, &len)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int ms = -1, rc;
        ssize_t r;

        if (interrupted)
            return 1;
        if (ac_proto_framer_too_long(f))
            fail(EX_PROTOCOL, AC_PROTO_BAD_REPLY,
                 "a reply from astrocald is longer than %u bytes", AC_PROTO_MAX_REPLY);
        if (deadline > 0) {
            double left = deadline - now_s();
            if (left <= 0)
                fail(EX_UNAVAILABLE, AC_PROTO_UNAVAILABLE,
                     "no reply from astrocald within the timeout");
            ms = (int)(left * 1000) + 1;
        }
        rc = poll(&p, 1, ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc == 0)
            continue;
        r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 && closed_ok)
            return -1;
        if (r <= 0)
            fail(EX_UNAVAILABLE, AC_PROTO_UNAVAILABLE, "astrocald closed the connection%s%s",
                 r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
        if (ac_proto_framer_feed(f, buf, (size_t)r) == -ENOMEM)
            fail(EX_UNAVAILABLE, AC_PROTO_INTERNAL, "out of memory");
    }
    if (raw != NULL) {
        *raw = line;
        *rawlen = len;
    }
    if (ac_proto_msg_decode(line, len, m, &e) < 0)
        fail(EX_PROTOCOL, AC_PROTO_BAD_REPLY, "unexpected reply: %s", e.msg);
    return 0;
}

static void on_signal(int sig)
{
    interrupted = 1;
}

/* request sends cmd with args (taken) on fd as request 1 and waits for its reply in *m,
 * skipping events; returns 0, 1 when interrupted, -1 when the connection closed and
 * closed_ok. */
static int request(int fd, ac_proto_framer_t *f, const char *cmd, json_t *args, double deadline,
                   ac_proto_msg_t *m, bool closed_ok)
{
    size_t len;
    char *line = ac_proto_encode_request(1, cmd, args, &len); /* args is taken */
    int rc;

    if (line == NULL)
        fail(EX_OSERR, AC_PROTO_INTERNAL, "out of memory");
    send_all(fd, line, len);
    free(line);
    do {
        if ((rc = read_msg(fd, f, m, deadline, NULL, NULL, closed_ok)) != 0)
            return rc;
        if (m->kind == AC_PROTO_MSG_REPLY)
            return 0;
        ac_proto_msg_free(m);
    } while (1);
}

/* report_error prints the daemon's error reply m: on stderr, and with json as
 * {"error":{"code":...,"message":...}} on stdout, for scripts. */
static void report_error(ac_proto_msg_t *m, bool json)
{
    if (json) {
        json_t *o = json_pack("{s:O}", "error", json_object_get(m->root, "error"));
        char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

        printf("%s\n", s ? s : "null");
        free(s);
        json_decref(o);
    }
    if (strcmp(m->error_code, ac_proto_code_name(AC_PROTO_NOT_ALLOWED)) == 0)
        fprintf(stderr, "astrocalctl: not allowed: %s\n", m->error_message);
    else
        fprintf(stderr, "astrocalctl: %s: %s\n", m->error_code, m->error_message);
}

/* The connection of a cluster command's requests (ctl/cluster.h). */
struct send_ctx {
    int fd;
    ac_proto_framer_t *f;
    double deadline;
    bool json;
};

static int cluster_send(void *ud, const char *cmd, json_t *args, json_t **result)
{
    struct send_ctx *sc = ud;
    ac_proto_msg_t m;

    if (request(sc->fd, sc->f, cmd, args, sc->deadline, &m, false) != 0)
        return 130;
    if (!m.ok) {
        report_error(&m, sc->json);
        ac_proto_msg_free(&m);
        return EXIT_DAEMON_ERROR;
    }
    *result = json_incref(m.result);
    ac_proto_msg_free(&m);
    return 0;
}

/* sleep_s waits s seconds unless interrupted. */
static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};

    while (!interrupted && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* rewatch connects again after the daemon went away, once a second until it answers the
 * watch request; returns the new descriptor, or -1 when interrupted. */
static int rewatch(const char *socket_path, ac_proto_framer_t *f)
{
    fprintf(stderr, "astrocalctl: astrocald went away; reconnecting (Ctrl-C stops)\n");
    while (!interrupted) {
        int fd = try_connect(socket_path);
        ac_proto_msg_t m;

        if (fd >= 0) {
            int rc;
            ac_proto_framer_free(f);
            ac_proto_framer_init(f, AC_PROTO_MAX_REPLY);
            rc = request(fd, f, "watch", NULL, now_s() + 30, &m, true);
            if (rc == 0 && m.ok) {
                ac_proto_msg_free(&m);
                fprintf(stderr, "astrocalctl: connected to astrocald again, watching\n");
                return fd;
            }
            if (rc == 0)
                ac_proto_msg_free(&m);
            close(fd);
            if (rc == 1)
                return -1;
        }
        sleep_s(1.0);
    }
    return -1;
}

/* watch prints events until interrupted (reconnecting when the daemon restarts, unless
 * once); returns the exit status. */
static int watch(int fd, ac_proto_framer_t *f, bool json, bool once, const char *socket_path)
{
    ac_print_watch_t w = {0};
    ac_proto_msg_t m;
    const char *raw;
    size_t rawlen;
    int rc, status = 0;

    if (!json)
        fprintf(stderr, "astrocalctl: watching astrocald (Ctrl-C to stop)\n");
    for (;;) {
        rc = read_msg(fd, f, &m, 0, &raw, &rawlen, true);
        if (rc == 1)
            break;
        if (rc < 0) {
            close(fd);
            fd = -1;
            if (once) {
                fprintf(stderr, "astrocalctl: astrocald closed the connection\n");
                status = EX_UNAVAILABLE;
                break;
            }
            if ((fd = rewatch(socket_path, f)) < 0)
                break;
            continue;
        }
        if (m.kind == AC_PROTO_MSG_EVENT) {
            if (json) {
                printf("%.*s\n", (int)rawlen, raw); /* exactly as the daemon sent it */
            } else {
                ac_print_event(stdout, &w, m.event,
                               json_string_value(json_object_get(m.root, "at")), m.data);
            }
            fflush(stdout);
        }
        ac_proto_msg_free(&m);
    }
    if (fd >= 0)
        close(fd);
    ac_print_watch_free(&w);
    return status;
}

/* help runs `astrocalctl help [COMMAND]`. */
static int help(json_t *local)
{
    const char *name = json_string_value(json_object_get(local, "command"));
    const ctl_cmd_t *c;

    if (name == NULL) {
        ctl_usage(stdout);
        return 0;
    }
    if ((c = ctl_find(name)) == NULL)
        fail(EX_USAGE, AC_PROTO_UNKNOWN_COMMAND, "help: unknown command '%s'", name);
    ctl_help(stdout, c);
    return 0;
}

int main(int argc, char **argv)
{
    const char *socket_path = getenv("ASTROCALD_SOCKET");
    struct sigaction sa = {.sa_handler = on_signal};
    double timeout = -1, deadline;
    bool json = false, want_help = false;
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int npos = 0, fd, status;
    ac_proto_framer_t f;
    ac_proto_msg_t m;
    ctl_parsed_t p = {0};
    char *end, err[512];
    const ctl_cmd_t *cmd;

    if (pos == NULL)
        return EX_OSERR;
    if (socket_path == NULL || *socket_path == '\0')
        socket_path = DEFAULT_SOCKET;
    for (int i = 1; i < argc; i++) /* errors are JSON from the first on */
        if (strcmp(argv[i], "--json") == 0)
            json_errors = true;
    /* Global options may appear anywhere; the first other word is the command, the rest
     * its arguments and options (commands.c parses them). */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--socket") == 0 || strncmp(a, "--socket=", 9) == 0) {
            socket_path = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : NULL);
            if (socket_path == NULL || *socket_path == '\0')
                die_usage("--socket needs a path");
        } else if (strcmp(a, "--timeout") == 0 || strncmp(a, "--timeout=", 10) == 0) {
            const char *v = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : NULL);
            if (v == NULL)
                die_usage("--timeout needs a number of seconds");
            timeout = strtod(v, &end);
            if (*v == '\0' || *end != '\0' || !(timeout >= 0))
                die_usage("--timeout: '%s' is not a number of seconds", v);
        } else if (npos == 0 && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
            want_help = true;
        } else if (strcmp(a, "--version") == 0 && npos == 0) {
            printf("astrocalctl %s\n", AC_VERSION);
            return 0;
        } else if (npos == 0 && a[0] == '-') {
            die_usage("unknown option '%s'", a);
        } else {
            pos[npos++] = argv[i];
        }
    }
    if (npos == 0) {
        if (want_help) {
            ctl_usage(stdout);
            return 0;
        }
        if (json_errors)
            die_usage("no command given");
        ctl_usage(stderr);
        return EX_USAGE;
    }
    if ((cmd = ctl_find(pos[0])) == NULL)
        fail(EX_USAGE, AC_PROTO_UNKNOWN_COMMAND, "unknown command '%s'", pos[0]);
    hint_cmd = cmd->name;
    if (ctl_parse(cmd, npos - 1, pos + 1, &p, err, sizeof err) != 0)
        die_usage("%s", err);
    free(pos);
    if (want_help || p.help) {
        ctl_help(stdout, cmd);
        ctl_parsed_free(&p);
        return 0;
    }
    if (cmd->flags & CTL_LOCAL) {
        status = help(p.local);
        ctl_parsed_free(&p);
        return status;
    }
    if (strcmp(cmd->name, "preview") == 0 && json_object_get(p.local, "png") == NULL)
        die_usage("preview needs --png OUT.png");
    if (ctl_cluster_is(cmd->name) && (status = ctl_cluster_check(cmd, &p)) != 0) {
        ctl_parsed_free(&p);
        return status;
    }
    if (timeout < 0)
        timeout = cmd->flags & CTL_NO_TIMEOUT     ? 0
                  : cmd->flags & CTL_LONG_TIMEOUT ? LONG_TIMEOUT_S
                                                  : DEFAULT_TIMEOUT_S;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fd = connect_to(socket_path);
    ac_proto_framer_init(&f, AC_PROTO_MAX_REPLY);
    deadline = timeout > 0 ? now_s() + timeout : 0;
    if (ctl_cluster_is(cmd->name)) { /* export, import-results: ctl/cluster.c */
        struct send_ctx sc = {fd, &f, deadline, json};
        status = ctl_cluster_run(cmd, &p, json, cluster_send, &sc);
        ac_proto_framer_free(&f);
        ctl_parsed_free(&p);
        close(fd);
        return fflush(stdout) != 0 && status == 0 ? EX_IOERR : status;
    }
    if (request(fd, &f, cmd->name, json_incref(p.args), deadline, &m, false) != 0)
        return 130;
    if (!m.ok) {
        report_error(&m, json);
        status = EXIT_DAEMON_ERROR;
    } else if (strcmp(cmd->name, "watch") == 0) {
        status =
            watch(fd, &f, json, json_is_true(json_object_get(p.local, "once")), socket_path);
        fd = -1;
    } else if (strcmp(cmd->name, "preview") == 0 &&
               (status = ac_ctl_preview_write(
                    stdout, m.result, json_string_value(json_object_get(p.local, "png")),
                    json)) != 0) {
        /* the message is on stderr */
    } else if (strcmp(cmd->name, "preview") == 0 && !json) {
        status = 0;
    } else if (json) {
        char *s =
            json_dumps(m.result, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
        printf("%s\n", s ? s : "null");
        free(s);
        status = 0;
    } else if ((json_is_true(json_object_get(p.local, "csv"))
                    ? ac_print_grade(stdout, m.result, true)
                    : ac_print_result(stdout, cmd->name, m.result)) < 0) {
        fail(EX_PROTOCOL, AC_PROTO_BAD_REPLY, "unexpected result for %s from astrocald",
             cmd->name);
    } else {
        status = 0;
    }
    ac_proto_msg_free(&m);
    ac_proto_framer_free(&f);
    ctl_parsed_free(&p);
    if (fd >= 0)
        close(fd);
    if (fflush(stdout) != 0 && status == 0)
        status = EX_IOERR;
    return status;
}
