/*
 * astrocalctl.c - the operator's command-line client for astrocald.
 *
 *   astrocalctl [--socket PATH] [--json] [--timeout S] COMMAND [ARGS]
 *
 * It connects to the control socket (plain POSIX sockets, no libuv), sends one request
 * (common/proto.h), waits for its reply and prints the result for people (ctl/print.c) or,
 * with --json, as the raw result object on one line. `watch` then keeps printing events
 * until interrupted. Exit status: 0 success, 1 the daemon answered with an error (printed on
 * stderr as "astrocalctl: CODE: MESSAGE", a refusal as "astrocalctl: not allowed: pause
 * needs membership of group G"; with --json also {"error":{...}} on stdout), 64 usage, 69
 * the daemon cannot be reached or went away, 76 the daemon's reply made no sense.
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

#include "print.h"
#include "proto.h"
#include "version.h"

#define DEFAULT_SOCKET "/run/astrocald/astrocald.sock"
#define DEFAULT_TIMEOUT_S 30.0
#define EXIT_DAEMON_ERROR 1

static volatile sig_atomic_t interrupted;
static bool csv_out; /* grade --csv */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: astrocalctl [--socket PATH] [--json] [--timeout S] COMMAND [ARGS]\n"
            "\n"
            "commands:\n"
            "  status                        queue, rates, ETA, the files being calibrated\n"
            "  sessions                      light sessions and their progress\n"
            "  session ID                    one session: masters and every file's state\n"
            "  masters                       master frames in the catalogue\n"
            "  plan [SESSION]                the masters each session would use, and why\n"
            "                                every other candidate was rejected\n"
            "  enqueue SESSION [--priority N]  queue a session (larger N runs sooner)\n"
            "  pause [SESSION]               pause everything, or one session\n"
            "  resume [SESSION]              resume everything, or one session\n"
            "  cancel SESSION                cancel a session's remaining files\n"
            "  retry --file ID | --session ID | --all-failed\n"
            "                                retry failed files\n"
            "  grade SESSION [--csv]         the session's star metrics and verdicts\n"
            "                                (--csv: one line per light, for spreadsheets)\n"
            "  accept FILE [--clear]         keep a light that grading rejected (FILE: raw or\n"
            "                                calibrated path or id)\n"
            "  reject FILE [--clear]         reject a light; --clear: the rules decide again\n"
            "  regrade SESSION [--all]       measure the session's lights again (the\n"
            "                                failed ones, or --all)\n"
            "  import DIR                    register the FITS files under DIR\n"
            "  reload                        re-read the configuration file\n"
            "  config                        the configuration in effect\n"
            "  version                       the daemon's version\n"
            "  watch                         print events as they happen (Ctrl-C stops)\n"
            "\n"
            "options:\n"
            "  --socket PATH   control socket (default $ASTROCALD_SOCKET, else\n"
            "                  " DEFAULT_SOCKET ")\n"
            "  --json          print the raw result object on one line (watch: event lines;\n"
            "                  a daemon error: {\"error\":{\"code\":...,\"message\":...}})\n"
            "  --timeout S     seconds to wait for the reply (default 30; import and watch\n"
            "                  wait without limit; 0 = no limit)\n"
            "  --version       print astrocalctl's version\n"
            "\n"
            "exit status: 0 success, 1 the daemon reported an error, 64 usage error,\n"
            "69 astrocald unreachable, 76 unexpected reply\n");
}

/* die_usage prints a usage error and exits 64. */
__attribute__((noreturn, format(printf, 1, 2))) static void die_usage(const char *fmt, ...)
{
    va_list ap;

    fputs("astrocalctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(see astrocalctl --help)\n", stderr);
    exit(EX_USAGE);
}

/* ---- the request ------------------------------------------------------------------------ */

/* need_args checks the number of positional arguments after the command. */
static void need_args(const char *cmd, int n, int min, int max)
{
    if (n < min || n > max)
        die_usage("%s takes %s", cmd,
                  max == 0     ? "no arguments"
                  : min == max ? "one argument"
                               : "at most one argument");
}

/* absolute makes dir absolute against the current directory (without resolving links, so a
 * missing directory still reaches the daemon, which reports not_found). Caller frees. */
static char *absolute(const char *dir)
{
    char cwd[PATH_MAX];
    char *out = NULL;

    if (dir[0] == '/')
        return strdup(dir);
    if (getcwd(cwd, sizeof cwd) == NULL)
        return NULL;
    if (asprintf(&out, "%s/%s", cwd, dir) < 0)
        return NULL;
    return out;
}

/* build_args turns the command's arguments into the request's args object. */
static json_t *build_args(const char *cmd, int n, char **a)
{
    json_t *args = json_object();
    char *end;

    if (args == NULL)
        return NULL;
    if (strcmp(cmd, "status") == 0 || strcmp(cmd, "sessions") == 0 ||
        strcmp(cmd, "masters") == 0 || strcmp(cmd, "reload") == 0 ||
        strcmp(cmd, "version") == 0 || strcmp(cmd, "config") == 0 ||
        strcmp(cmd, "watch") == 0) {
        need_args(cmd, n, 0, 0);
    } else if (strcmp(cmd, "session") == 0) {
        need_args(cmd, n, 1, 1);
        json_object_set_new(args, "id", json_string(a[0]));
    } else if (strcmp(cmd, "plan") == 0 || strcmp(cmd, "pause") == 0 ||
               strcmp(cmd, "resume") == 0) {
        need_args(cmd, n, 0, 1);
        if (n == 1)
            json_object_set_new(args, "session", json_string(a[0]));
    } else if (strcmp(cmd, "cancel") == 0) {
        need_args(cmd, n, 1, 1);
        json_object_set_new(args, "session", json_string(a[0]));
    } else if (strcmp(cmd, "enqueue") == 0) {
        const char *session = NULL;
        for (int i = 0; i < n; i++) {
            if (strcmp(a[i], "--priority") == 0 || strncmp(a[i], "--priority=", 11) == 0) {
                const char *v = a[i][10] == '=' ? a[i] + 11 : (i + 1 < n ? a[++i] : NULL);
                long long p;
                if (v == NULL)
                    die_usage("--priority needs a number");
                errno = 0;
                p = strtoll(v, &end, 10);
                if (*v == '\0' || *end != '\0' || errno != 0 || p < INT_MIN || p > INT_MAX)
                    die_usage("--priority: '%s' is not an integer", v);
                json_object_set_new(args, "priority", json_integer(p));
            } else if (session == NULL && a[i][0] != '-') {
                session = a[i];
            } else {
                die_usage("enqueue: unexpected '%s'", a[i]);
            }
        }
        if (session == NULL)
            die_usage("enqueue needs a SESSION");
        json_object_set_new(args, "session", json_string(session));
    } else if (strcmp(cmd, "retry") == 0) {
        int chosen = 0;
        for (int i = 0; i < n; i++) {
            if (strcmp(a[i], "--all-failed") == 0) {
                json_object_set_new(args, "all_failed", json_true());
            } else if ((strcmp(a[i], "--file") == 0 || strcmp(a[i], "--session") == 0) &&
                       i + 1 < n) {
                json_object_set_new(args, a[i] + 2, json_string(a[i + 1]));
                i++;
            } else {
                die_usage("retry: unexpected '%s'", a[i]);
            }
            chosen++;
        }
        if (chosen != 1)
            die_usage("retry takes exactly one of --file ID, --session ID, --all-failed");
    } else if (strcmp(cmd, "grade") == 0 || strcmp(cmd, "regrade") == 0 ||
               strcmp(cmd, "accept") == 0 || strcmp(cmd, "reject") == 0) {
        const char *what = NULL;
        bool grade = strcmp(cmd, "grade") == 0, regrade = strcmp(cmd, "regrade") == 0;
        for (int i = 0; i < n; i++) {
            if (grade && strcmp(a[i], "--csv") == 0)
                csv_out = true;
            else if (regrade && strcmp(a[i], "--all") == 0)
                json_object_set_new(args, "all", json_true());
            else if (!grade && !regrade && strcmp(a[i], "--clear") == 0)
                json_object_set_new(args, "clear", json_true());
            else if (what == NULL && a[i][0] != '-')
                what = a[i];
            else
                die_usage("%s: unexpected '%s'", cmd, a[i]);
        }
        if (what == NULL)
            die_usage("%s needs a %s", cmd, grade || regrade ? "SESSION" : "FILE");
        if (grade || regrade) {
            json_object_set_new(args, "session", json_string(what));
        } else {
            /* A path (with a '/', or an existing file) is made absolute, as the daemon stores
             * paths; anything else is an id. */
            char *abs = strchr(what, '/') != NULL || access(what, F_OK) == 0 ? absolute(what)
                                                                              : strdup(what);
            if (abs == NULL)
                die_usage("%s: cannot make '%s' absolute", cmd, what);
            json_object_set_new(args, "file", json_string(abs));
            free(abs);
        }
    } else if (strcmp(cmd, "import") == 0) {
        char *dir;
        need_args(cmd, n, 1, 1);
        dir = absolute(a[0]);
        if (dir == NULL)
            die_usage("import: cannot make '%s' absolute", a[0]);
        json_object_set_new(args, "dir", json_string(dir));
        free(dir);
    } else {
        die_usage("unknown command '%s'", cmd);
    }
    return args;
}

/* ---- the connection --------------------------------------------------------------------- */

static int connect_to(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, err;

    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "astrocalctl: socket path %s is longer than %zu bytes\n", path,
                sizeof sa.sun_path - 1);
        exit(EX_USAGE);
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        return fd;
    err = errno;
    fprintf(stderr, "astrocalctl: cannot connect to %s: %s \xE2\x80\x94 %s\n", path,
            strerror(err),
            err == EACCES || err == EPERM ? "are you in the group that owns the socket?"
                                          : "is astrocald running?");
    exit(EX_UNAVAILABLE);
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "astrocalctl: cannot send the request: %s\n", strerror(errno));
            exit(EX_UNAVAILABLE);
        }
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
 * 0 means wait forever. Returns 0; 1 when interrupted by SIGINT/SIGTERM; exits on EOF, timeout
 * or a malformed line.
 */
static int read_msg(int fd, ac_proto_framer_t *f, ac_proto_msg_t *m, double deadline,
                    const char **raw, size_t *rawlen)
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
        if (ac_proto_framer_too_long(f)) {
            fprintf(stderr, "astrocalctl: a reply from astrocald is longer than %u bytes\n",
                    AC_PROTO_MAX_REPLY);
            exit(EX_PROTOCOL);
        }
        if (deadline > 0) {
            double left = deadline - now_s();
            if (left <= 0) {
                fprintf(stderr, "astrocalctl: no reply from astrocald within the timeout\n");
                exit(EX_UNAVAILABLE);
            }
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
        if (r <= 0) {
            fprintf(stderr, "astrocalctl: astrocald closed the connection%s%s\n",
                    r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
            exit(EX_UNAVAILABLE);
        }
        if (ac_proto_framer_feed(f, buf, (size_t)r) == -ENOMEM) {
            fprintf(stderr, "astrocalctl: out of memory\n");
            exit(EX_UNAVAILABLE);
        }
    }
    if (raw != NULL) {
        *raw = line;
        *rawlen = len;
    }
    if (ac_proto_msg_decode(line, len, m, &e) < 0) {
        fprintf(stderr, "astrocalctl: unexpected reply: %s\n", e.msg);
        exit(EX_PROTOCOL);
    }
    return 0;
}

static void on_signal(int sig)
{
    interrupted = 1;
}

/* watch prints events until interrupted; returns the exit status. */
static int watch(int fd, ac_proto_framer_t *f, bool json)
{
    struct sigaction sa = {.sa_handler = on_signal};
    ac_print_watch_t w = {0};
    ac_proto_msg_t m;
    const char *raw;
    size_t rawlen;

    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (!json)
        fprintf(stderr, "astrocalctl: watching astrocald (Ctrl-C to stop)\n");
    while (read_msg(fd, f, &m, 0, &raw, &rawlen) == 0) {
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
    ac_print_watch_free(&w);
    return 0;
}

int main(int argc, char **argv)
{
    const char *socket_path = getenv("ASTROCALD_SOCKET");
    double timeout = -1, deadline;
    bool json = false;
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int npos = 0, fd, status;
    ac_proto_framer_t f;
    ac_proto_msg_t m;
    json_t *args;
    size_t len;
    char *line, *end;
    const char *cmd;

    if (pos == NULL)
        return EX_OSERR;
    if (socket_path == NULL || *socket_path == '\0')
        socket_path = DEFAULT_SOCKET;
    /* Global options may appear anywhere; everything else is the command and its arguments
     * (command options such as --priority are handled per command). */
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
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0 && npos == 0) {
            printf("astrocalctl %s\n", AC_VERSION);
            return 0;
        } else {
            pos[npos++] = argv[i];
        }
    }
    if (npos == 0) {
        usage(stderr);
        return EX_USAGE;
    }
    cmd = pos[0];
    args = build_args(cmd, npos - 1, pos + 1);
    if (timeout < 0)
        timeout =
            strcmp(cmd, "import") == 0 || strcmp(cmd, "watch") == 0 ? 0 : DEFAULT_TIMEOUT_S;
    line = ac_proto_encode_request(1, cmd, args, &len); /* args is taken */
    if (line == NULL) {
        fprintf(stderr, "astrocalctl: out of memory\n");
        return EX_OSERR;
    }
    fd = connect_to(socket_path);
    send_all(fd, line, len);
    free(line);
    ac_proto_framer_init(&f, AC_PROTO_MAX_REPLY);
    deadline = timeout > 0 ? now_s() + timeout : 0;
    /* Skip events (none are expected before the reply); the reply answers request 1. */
    do {
        if (read_msg(fd, &f, &m, deadline, NULL, NULL) != 0)
            return 130;
        if (m.kind == AC_PROTO_MSG_REPLY)
            break;
        ac_proto_msg_free(&m);
    } while (1);
    if (!m.ok) {
        if (json) { /* {"error":{"code":...,"message":...}} on stdout, for scripts */
            json_t *o = json_pack("{s:O}", "error", json_object_get(m.root, "error"));
            char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

            printf("%s\n", s ? s : "null");
            free(s);
            json_decref(o);
        }
        if (strcmp(m.error_code, ac_proto_code_name(AC_PROTO_NOT_ALLOWED)) == 0)
            fprintf(stderr, "astrocalctl: not allowed: %s\n", m.error_message);
        else
            fprintf(stderr, "astrocalctl: %s: %s\n", m.error_code, m.error_message);
        status = EXIT_DAEMON_ERROR;
    } else if (strcmp(cmd, "watch") == 0) {
        status = watch(fd, &f, json);
    } else if (json) {
        char *s =
            json_dumps(m.result, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
        printf("%s\n", s ? s : "null");
        free(s);
        status = 0;
    } else if ((csv_out ? ac_print_grade(stdout, m.result, true)
                        : ac_print_result(stdout, cmd, m.result)) < 0) {
        fprintf(stderr, "astrocalctl: unexpected result for %s from astrocald\n", cmd);
        status = EX_PROTOCOL;
    } else {
        status = 0;
    }
    ac_proto_msg_free(&m);
    ac_proto_framer_free(&f);
    close(fd);
    free(pos);
    if (fflush(stdout) != 0 && status == 0)
        status = EX_IOERR;
    return status;
}
