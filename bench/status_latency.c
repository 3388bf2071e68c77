/*
 * status_latency.c - measures how fast astrocald answers `status` while it works.
 *
 *   status_latency SOCKET SECONDS [HZ] [sessions]
 *
 * With "sessions", each round also sends {"cmd":"sessions"} right after the status and
 * reports its round trips apart (busy when the status before it showed every worker
 * busy).
 *
 * Sends {"cmd":"status"} on one connection HZ times a second (default 20) for SECONDS
 * seconds, waits for each reply, and prints the count, median, 99th percentile and maximum
 * round-trip time in milliseconds, plus how many replies showed every worker busy
 * ("in_flight" equal to "workers"). Only the latencies of those busy replies go into the
 * "busy" percentiles, which is what the daemon benchmark's target is about.
 *
 * Build: cc -O2 -o status_latency bench/status_latency.c -lm
 */
#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    size_t i;

    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, cmp);
    i = (size_t)ceil(p * (double)n) - 1;
    return v[i >= n ? n - 1 : i];
}

/* json_int finds "key":N in s. */
static long json_int(const char *s, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(s, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* round_trip sends {"cmd":cmd} and reads its reply line into buf; milliseconds, or -1. */
static double round_trip(int fd, const char *cmd, char *buf, size_t size)
{
    char req[128];
    double t0 = now_ms();
    size_t len = 0;
    int n = snprintf(req, sizeof req, "{\"v\":1,\"id\":1,\"cmd\":\"%s\"}\n", cmd);

    if (write(fd, req, (size_t)n) != (ssize_t)n)
        return -1;
    while (len == 0 || buf[len - 1] != '\n') {
        ssize_t r = read(fd, buf + len, size - 1 - len);
        if (r <= 0)
            return -1;
        len += (size_t)r;
    }
    buf[len] = '\0';
    return now_ms() - t0;
}

int main(int argc, char **argv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    double secs, hz = 20, *all, *busy, *sall, *sbusy, t_end;
    size_t nall = 0, nbusy = 0, nsall = 0, nsbusy = 0, cap;
    bool with_sessions = argc > 4 && strcmp(argv[4], "sessions") == 0;
    static char buf[1 << 20];
    int fd;

    if (argc < 3) {
        fprintf(stderr, "usage: status_latency SOCKET SECONDS [HZ] [sessions]\n");
        return 64;
    }
    struct sigaction sa_int = {.sa_handler = on_signal}; /* no SA_RESTART: read() returns */
    sigaction(SIGINT, &sa_int, NULL);
    sigaction(SIGTERM, &sa_int, NULL);
    secs = atof(argv[2]);
    if (argc > 3)
        hz = atof(argv[3]);
    cap = (size_t)(secs * hz) + 16;
    all = calloc(cap, sizeof *all);
    busy = calloc(cap, sizeof *busy);
    sall = calloc(cap, sizeof *sall);
    sbusy = calloc(cap, sizeof *sbusy);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "status_latency: cannot connect to %s: %s\n", argv[1], strerror(errno));
        return 69;
    }
    t_end = now_ms() + secs * 1e3;
    while (!stop && now_ms() < t_end && nall < cap) {
        double t0 = now_ms(), dt;
        bool was_busy;

        if ((dt = round_trip(fd, "status", buf, sizeof buf)) < 0)
            goto done;
        all[nall++] = dt;
        was_busy = json_int(buf, "in_flight") > 0 &&
                   json_int(buf, "in_flight") == json_int(buf, "workers");
        if (was_busy)
            busy[nbusy++] = dt;
        if (with_sessions) {
            if ((dt = round_trip(fd, "sessions", buf, sizeof buf)) < 0)
                goto done;
            sall[nsall++] = dt;
            if (was_busy)
                sbusy[nsbusy++] = dt;
        }
        {
            double wait = 1e3 / hz - (now_ms() - t0);
            if (wait > 0 && !stop) {
                struct timespec ts = {(time_t)(wait / 1e3), (long)(fmod(wait, 1e3) * 1e6)};
                nanosleep(&ts, NULL);
            }
        }
    }
done:
    printf("status requests: %zu, with every worker busy: %zu\n", nall, nbusy);
    printf("all:  median %.2f ms, p99 %.2f ms, max %.2f ms\n", pct(all, nall, 0.5),
           pct(all, nall, 0.99), pct(all, nall, 1.0));
    printf("busy: median %.2f ms, p99 %.2f ms, max %.2f ms\n", pct(busy, nbusy, 0.5),
           pct(busy, nbusy, 0.99), pct(busy, nbusy, 1.0));
    if (with_sessions) {
        printf("sessions requests: %zu, with every worker busy: %zu\n", nsall, nsbusy);
        printf("sessions all:  median %.2f ms, p99 %.2f ms, max %.2f ms\n",
               pct(sall, nsall, 0.5), pct(sall, nsall, 0.99), pct(sall, nsall, 1.0));
        printf("sessions busy: median %.2f ms, p99 %.2f ms, max %.2f ms\n",
               pct(sbusy, nsbusy, 0.5), pct(sbusy, nsbusy, 0.99), pct(sbusy, nsbusy, 1.0));
    }
    return 0;
}
