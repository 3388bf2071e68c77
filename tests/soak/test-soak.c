/*
 * test-soak.c - the reliability soak (issue 8): the real daemon under everything at once,
 * for AC_SOAK_SECONDS (default 60; tests/run-soak runs 600 with 1,000 lights):
 *   - live ingest: the lights are copied into the watched folder one by one during the run;
 *   - 20 control clients send `status` every 100 ms and time each answer;
 *   - the daemon is SIGKILLed at random moments and started again at once;
 *   - another process holds the catalogue's write lock for 2 s now and then;
 *   - the output folder is a small tmpfs that a ballast file fills and empties (when the
 *     test may mount one; else a plain folder and no filling).
 * Then, once the feed has ended and the queue drained: every light is calibrated exactly
 * once (one output row per raw light, one output file each, none failed), no temporary file
 * is left anywhere, the daemon's memory stayed flat over its longest life, and the status
 * answers' 99th percentile is under 50 ms.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

#include "afdb.h"
#include "fitsgen.h"
#include "harness.h"

#define CLIENTS 20
#define MAX_SAMPLES 400000

struct soak {
    ac_harness_t h;
    char night[1100], incoming[1100], out[1100], ballast[1200];
    int n_lights;
    bool tmpfs;
    atomic_bool stop_clients, stop_feed;
    atomic_int fed;
    /* Status latencies (ms) of answered requests, and how many got no answer. */
    pthread_mutex_t mu;
    double *lat;
    size_t nlat;
    long unanswered;
};

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* status_once connects, asks for status and waits up to 5 s for the answer; returns the
 * latency in ms, or -1 when the daemon is not there or did not answer. */
static double status_once(const char *sock)
{
    static const char req[] = "{\"v\":1,\"id\":1,\"cmd\":\"status\"}\n";
    char buf[65536];
    size_t got = 0;
    double t0 = now_ms();
    int fd = ac_harness_connect(sock);

    if (fd < 0)
        return -1;
    if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
        goto fail;
    while (got < sizeof buf - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n;

        if (poll(&p, 1, 5000) != 1)
            goto fail;
        n = read(fd, buf + got, sizeof buf - 1 - got);
        if (n <= 0)
            goto fail;
        got += (size_t)n;
        buf[got] = '\0';
        if (strchr(buf, '\n') != NULL) {
            close(fd);
            return strstr(buf, "\"ok\"") != NULL ? now_ms() - t0 : -1;
        }
    }
fail:
    close(fd);
    return -1;
}

static void *client_main(void *arg)
{
    struct soak *s = arg;

    while (!atomic_load(&s->stop_clients)) {
        double ms = status_once(s->h.socket);

        pthread_mutex_lock(&s->mu);
        if (ms >= 0 && s->nlat < MAX_SAMPLES)
            s->lat[s->nlat++] = ms;
        else if (ms < 0)
            s->unanswered++;
        pthread_mutex_unlock(&s->mu);
        usleep(100 * 1000);
    }
    return NULL;
}

/* copy_in copies a light into the watched folder as capture software does: a part file,
 * then a rename. */
static void copy_in(struct soak *s, int i)
{
    char src[1200], part[1200], dst[1200], cmd[4000];

    snprintf(src, sizeof src, "%s/lights/M_31_L_300s_%04d.fits", s->night, i + 1);
    snprintf(part, sizeof part, "%s/.L_%04d.part", s->incoming, i + 1);
    snprintf(dst, sizeof dst, "%s/M_31_L_300s_%04d.fits", s->incoming, i + 1);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && mv '%s' '%s'", src, part, part, dst);
    if (system(cmd) != 0)
        fprintf(stderr, "soak: cannot copy %s\n", src);
}

struct feed {
    struct soak *s;
    double period_ms;
};

static void *feed_main(void *arg)
{
    struct feed *f = arg;

    for (int i = 0; i < f->s->n_lights && !atomic_load(&f->s->stop_feed); i++) {
        copy_in(f->s, i);
        atomic_store(&f->s->fed, i + 1);
        usleep((useconds_t)(f->period_ms * 1000));
    }
    return NULL;
}

/* rss_kib reads the daemon's resident set size (0 when it is not running). */
static long rss_kib(pid_t pid)
{
    char path[64], *text, *p;
    long kib = 0;

    if (pid <= 0)
        return 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    text = ac_harness_read_file(path);
    if (text != NULL && (p = strstr(text, "VmRSS:")) != NULL)
        kib = strtol(p + 6, NULL, 10);
    free(text);
    return kib;
}

/* hold_lock holds the catalogue's write lock from another process for 2 s. */
static pid_t hold_lock(struct soak *s)
{
    const char *argv[] = {"/usr/bin/sqlite3", s->h.database, "BEGIN EXCLUSIVE",
                          ".shell sleep 2",   "COMMIT",      NULL};

    return ac_harness_spawn(argv, NULL, "/dev/null", "/dev/null");
}

/* ballast fills the output file system to within 2 MiB of full (on) or empties it (off). */
static void ballast(struct soak *s, bool on)
{
    struct statvfs v;
    char cmd[1500];

    if (!s->tmpfs)
        return;
    if (!on) {
        unlink(s->ballast);
        return;
    }
    if (statvfs(s->out, &v) != 0)
        return;
    long long free_mib = (long long)v.f_bavail * (long long)v.f_frsize / (1 << 20);
    if (free_mib <= 3)
        return;
    snprintf(cmd, sizeof cmd,
             "fallocate -l %lldM '%s' 2>/dev/null || head -c %lldM /dev/zero > '%s'",
             free_mib - 2, s->ballast, free_mib - 2, s->ballast);
    if (system(cmd) != 0)
        fprintf(stderr, "soak: ballast failed\n");
}

static void add_master(sqlite3 *db, const char *type, const char *path)
{
    afdb_master_t m = {0};
    char mid[64];

    snprintf(mid, sizeof mid, "%s_soak", type);
    m.master_id = mid;
    m.type = type;
    m.path = path;
    m.telescope = strcmp(type, "flat") == 0 ? "C14" : "Unknown";
    m.instrument = "ZWO ASI294MM Pro";
    m.exposure = strcmp(type, "dark") == 0 ? "300.0" : NULL;
    m.xbin = "1";
    m.ybin = "1";
    m.ccd_temp = "-10.0";
    m.filter = strcmp(type, "flat") == 0 ? "L" : NULL;
    m.file_count = 20;
    m.is_validated = 1;
    afdb_add_master(db, &m);
}

/* setup writes the night (masters and lights), the catalogue with the masters, the folders
 * and the configuration. */
static void setup(struct soak *s)
{
    ac_gen_camera_t cam;
    ac_gen_night_t gn;
    ac_err_t e = {0};
    ac_gen_t *g;
    char p[1200], cfg[3][1300];
    sqlite3 *db;

    ac_gen_camera_default(&cam, 11);
    cam.width = 128;
    cam.height = 96;
    snprintf(cam.instrume, sizeof cam.instrume, "ZWO ASI294MM Pro");
    snprintf(cam.telescop, sizeof cam.telescop, "C14");
    g = ac_gen_new(&cam, &e);
    ASSERT_NOT_NULL(g);
    ac_gen_night_default(&gn, &cam);
    gn.n_lights = s->n_lights;
    gn.gap = 1;
    gn.masters = AC_GEN_MASTER_ASTROFILER;
    snprintf(s->night, sizeof s->night, "%s/night", ac_test_tmpdir());
    if (ac_gen_write_night(g, &gn, s->night, &e) != 0)
        AC_TEST_FAIL("night: %s", e.msg);
    ac_gen_free(g);

    db = afdb_create(s->h.database, AFDB_MIGRATED);
    snprintf(p, sizeof p, "%s/masters/master_bias.fits", s->night);
    add_master(db, "bias", p);
    snprintf(p, sizeof p, "%s/masters/master_dark.fits", s->night);
    add_master(db, "dark", p);
    snprintf(p, sizeof p, "%s/masters/master_flat.fits", s->night);
    add_master(db, "flat", p);
    sqlite3_close(db);

    snprintf(s->incoming, sizeof s->incoming, "%s/incoming", ac_test_tmpdir());
    snprintf(s->out, sizeof s->out, "%s/out", ac_test_tmpdir());
    ASSERT_OK(mkdir(s->incoming, 0755));
    ASSERT_OK(mkdir(s->out, 0755));
    /* In a mount namespace of this test's own (the daemon it starts shares it): the tmpfs
     * goes away with the test's processes, whatever happens. */
    s->tmpfs = unshare(CLONE_NEWNS) == 0 &&
               mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
               mount("tmpfs", s->out, "tmpfs", 0, "size=48m") == 0;
    if (!s->tmpfs)
        fprintf(stderr, "soak: no tmpfs (%s): the disk-full phases are skipped\n",
                strerror(errno));
    snprintf(s->ballast, sizeof s->ballast, "%s/ballast.bin", s->out);
    snprintf(cfg[0], sizeof cfg[0], "INGEST.watch_dirs=%s", s->incoming);
    snprintf(cfg[1], sizeof cfg[1], "DAEMON.output_dir=%s", s->out);
    snprintf(cfg[2], sizeof cfg[2], "DAEMON.repository_dir=%s", ac_test_tmpdir());
    ASSERT_OK(ac_harness_write_config(
        &s->h, (const char *[]){cfg[0], cfg[1], cfg[2], "INGEST.settle_s=0.2",
                                "WORKERS.workers=2", "WORKERS.free_disk_reserve_mib=4",
                                "MASTERS.build_masters=False", NULL}));
}

/* report prints a summary line on stderr (shown when the test fails) and appends it to
 * $AC_SOAK_REPORT when set (tests/run-soak and tests/run-all print that file). */
__attribute__((format(printf, 1, 2))) static void report(const char *fmt, ...)
{
    const char *path = getenv("AC_SOAK_REPORT");
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (path != NULL) {
        FILE *f = fopen(path, "a");
        if (f != NULL) {
            va_start(ap, fmt);
            vfprintf(f, fmt, ap);
            va_end(ap);
            fclose(f);
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static void start_daemon(struct soak *s)
{
    ASSERT_OK(ac_harness_start(&s->h, NULL));
    if (ac_harness_wait_ready(&s->h, 30000) != 0)
        AC_TEST_FAIL("the daemon did not become ready");
}

/* count_tmp counts astrocald's temporary files under dir (find). */
static int count_tmp(const char *dir)
{
    char cmd[1300];
    FILE *f;
    int n = 0, c;

    snprintf(cmd, sizeof cmd, "find '%s' -name '*.actmp*' | wc -l", dir);
    f = popen(cmd, "r");
    if (f == NULL)
        return -1;
    c = fscanf(f, "%d", &n);
    pclose(f);
    return c == 1 ? n : -1;
}

TEST_TIMEOUT(soak_everything_at_once, 1800)
{
    struct soak *s = calloc(1, sizeof *s);
    const char *env = getenv("AC_SOAK_SECONDS");
    double seconds = env != NULL ? atof(env) : 60;
    pthread_t clients[CLIENTS], feeder;
    struct feed fd;
    long rss_first = 0, rss_last = 0, best_life = 0, life = 0, rss_life_first = 0;
    int kills = 0, locks = 0, fills = 0;
    double t0, t_end;
    sqlite3 *db;

    ASSERT_NOT_NULL(s);
    if (seconds < 20)
        seconds = 20;
    s->n_lights =
        getenv("AC_SOAK_LIGHTS") ? atoi(getenv("AC_SOAK_LIGHTS")) : (int)(seconds * 2);
    s->lat = calloc(MAX_SAMPLES, sizeof *s->lat);
    ASSERT_NOT_NULL(s->lat);
    pthread_mutex_init(&s->mu, NULL);
    ac_harness_init(&s->h);
    setup(s);
    start_daemon(s);
    for (int i = 0; i < CLIENTS; i++)
        ASSERT_EQ(pthread_create(&clients[i], NULL, client_main, s), 0);
    fd.s = s;
    fd.period_ms = seconds * 0.6 * 1000 / s->n_lights;
    ASSERT_EQ(pthread_create(&feeder, NULL, feed_main, &fd), 0);

    /* Chaos for the length of the run, one event every 2 to 6 s. */
    srand(12345);
    t0 = now_ms();
    t_end = t0 + seconds * 1000;
    while (now_ms() < t_end) {
        int wait_ms = 2000 + rand() % 4000;
        double until = now_ms() + wait_ms;

        while (now_ms() < until) {
            long r = rss_kib(s->h.pid);

            ac_harness_notify_drain(&s->h); /* read STATUS= and WATCHDOG=1 as systemd does */
            if (r > 0) {
                if (life == 4) /* after 2 s: start-up, masters and caches loaded */
                    rss_life_first = r;
                life++;
                if (life > best_life && life > 10) {
                    best_life = life;
                    rss_first = rss_life_first;
                    rss_last = r;
                }
            }
            usleep(500 * 1000);
        }
        switch (rand() % 3) {
        case 0:
            ac_harness_kill(&s->h);
            kills++;
            life = 0;
            start_daemon(s);
            break;
        case 1: {
            pid_t p = hold_lock(s);
            if (p > 0) {
                locks++;
                ac_harness_wait(NULL, p, 10000, NULL);
            }
            break;
        }
        default:
            if (s->tmpfs) {
                fills++;
                ballast(s, true);
                ac_harness_sleep_ms(3000);
                ballast(s, false);
            }
            break;
        }
    }
    atomic_store(&s->stop_feed, true);
    pthread_join(feeder, NULL);
    ballast(s, false);
    /* Drain: wait until every light fed is calibrated (the daemon keeps running). */
    db = NULL;
    ASSERT_EQ(sqlite3_open_v2(s->h.database, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    for (int i = 0; i < 600; i++) {
        long long n = afdb_int(db,
                               "SELECT count(*) FROM fitsfile WHERE fitsFileCalibrated = 1 "
                               "AND fitsFileOriginalFile IS NOT NULL",
                               NULL, -1);
        if (n >= atomic_load(&s->fed))
            break;
        ac_harness_sleep_ms(500);
    }
    if (getenv("AC_SOAK_HOLD") != NULL) { /* debugging: look at the daemon as it is */
        fprintf(stderr, "soak: holding; daemon pid %d, dir %s\n", (int)s->h.pid,
                ac_test_tmpdir());
        sleep((unsigned)atoi(getenv("AC_SOAK_HOLD")));
    }
    atomic_store(&s->stop_clients, true);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(clients[i], NULL);
    ASSERT_EQ(ac_harness_stop(&s->h, 30000), 0);
    if (getenv("AC_SOAK_LOG") != NULL)
        ac_harness_dump_log(&s->h);

    report("soak: %.0f s, %d lights fed, %d kills, %d locks, %d disk fills, %zu status "
           "answers, %ld unanswered\n",
           seconds, atomic_load(&s->fed), kills, locks, fills, s->nlat, s->unanswered);
    /* Every light exactly once, none failed. */
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM fitsfile WHERE fitsFileCalibrated = 1 AND "
                       "fitsFileOriginalFile IS NOT NULL",
                       NULL, -1),
              atomic_load(&s->fed));
    ASSERT_EQ(afdb_int(db,
                       "SELECT count(*) FROM (SELECT fitsFileOriginalFile FROM fitsfile WHERE "
                       "fitsFileCalibrated = 1 AND fitsFileOriginalFile IS NOT NULL GROUP BY "
                       "fitsFileOriginalFile HAVING count(*) > 1)",
                       NULL, -1),
              0);
    ASSERT_EQ(
        afdb_int(db, "SELECT count(*) FROM astrocal_file WHERE state = 'failed'", NULL, -1), 0);
    sqlite3_close(db);
    {
        char cmd[1300];
        FILE *f;
        int n = -1;

        snprintf(cmd, sizeof cmd, "find '%s' -name '*_calibrated.fits' | wc -l", s->out);
        f = popen(cmd, "r");
        ASSERT_NOT_NULL(f);
        ASSERT_EQ(fscanf(f, "%d", &n), 1);
        pclose(f);
        ASSERT_EQ(n, atomic_load(&s->fed));
    }
    /* No temporary left anywhere. */
    ASSERT_EQ(count_tmp(s->out), 0);
    ASSERT_EQ(count_tmp(s->incoming), 0);
    ASSERT_EQ(count_tmp(s->night), 0);
    /* Memory flat over the longest life: less than 32 MiB of growth. */
    report("soak: RSS %ld -> %ld KiB over the longest life (%ld samples)\n", rss_first,
           rss_last, best_life);
    if (best_life > 0)
        ASSERT(rss_last - rss_first < 32 * 1024);
    /* Status p99 under 50 ms. */
    ASSERT(s->nlat > 100);
    qsort(s->lat, s->nlat, sizeof *s->lat, cmp_double);
    {
        double p50 = s->lat[s->nlat / 2],
               p99 = s->lat[(size_t)floor(0.99 * (double)(s->nlat - 1))];

        report("soak: status latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", p50, p99,
               s->lat[s->nlat - 1]);
        ASSERT(p99 < 50.0);
    }
    if (s->tmpfs)
        umount2(s->out, MNT_DETACH);
    ac_harness_free(&s->h);
    free(s->lat);
    free(s);
}
