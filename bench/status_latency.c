/*
 * status_latency.c - measures how fast astrocald answers `status` while it works.
 *
 *   status_latency SOCKET SECONDS [HZ]
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

int main(int argc, char **argv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    double secs, hz = 20, *all, *busy, t_end;
    size_t nall = 0, nbusy = 0, cap;
    static char buf[1 << 20];
    int fd;

    if (argc < 3) {
        fprintf(stderr, "usage: status_latency SOCKET SECONDS [HZ]\n");
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
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "status_latency: cannot connect to %s: %s\n", argv[1], strerror(errno));
        return 69;
    }
    t_end = now_ms() + secs * 1e3;
    while (!stop && now_ms() < t_end && nall < cap) {
        const char req[] = "{\"v\":1,\"id\":1,\"cmd\":\"status\"}\n";
        double t0 = now_ms(), dt;
        size_t len = 0;

        if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
            break;
        while (len == 0 || buf[len - 1] != '\n') {
            ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
            if (n <= 0)
                goto done;
            len += (size_t)n;
        }
        buf[len] = '\0';
        dt = now_ms() - t0;
        all[nall++] = dt;
        if (json_int(buf, "in_flight") > 0 &&
            json_int(buf, "in_flight") == json_int(buf, "workers"))
            busy[nbusy++] = dt;
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
    return 0;
}
