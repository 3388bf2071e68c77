/*
 * cloudfix.c - an rclone WebDAV server for the cloud tests (cloudfix.h).
 */
#include "cloudfix.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness.h"
#include "nightfix.h"
#include "support.h"

const char *rclone_path(void)
{
    static const char *const where[] = {"/usr/bin/rclone", "/usr/local/bin/rclone"};

    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++)
        if (access(where[i], X_OK) == 0)
            return where[i];
    if (getenv("AC_REQUIRE_RCLONE") != NULL)
        AC_TEST_FAIL("rclone is not installed (AC_REQUIRE_RCLONE is set)");
    printf("# SKIP: rclone is not installed (apt-get install rclone)\n");
    return NULL;
}

/* free_port asks the kernel for a free loopback port. */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    ASSERT(fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static bool port_answers(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

void dav_restart(struct davsrv *s)
{
    char addr[64];
    long long t0 = ac_harness_now_ms();

    snprintf(addr, sizeof addr, "127.0.0.1:%d", s->port);
    const char *argv[] = {rclone_path(), "serve",  "webdav", "--addr", addr, "--user",
                          "astro",       "--pass", "s3cret", s->dir,   NULL};
    s->pid = ac_harness_spawn(argv, NULL, s->log, s->log);
    ASSERT(s->pid > 0);
    while (!port_answers(s->port)) {
        if (ac_harness_now_ms() - t0 > 30000)
            AC_TEST_FAIL("rclone serve webdav did not answer on port %d", s->port);
        ac_harness_sleep_ms(50);
    }
}

void dav_start(struct davsrv *s, const char *rel, const char *pass)
{
    char *obscured = NULL, rel_conf[300];
    FILE *f;

    memset(s, 0, sizeof *s);
    abspath(s->dir, sizeof s->dir, rel);
    ASSERT_EQ(mkdir(s->dir, 0700), 0);
    {
        char bucket[1100];
        snprintf(bucket, sizeof bucket, "%s/astro", s->dir); /* the "bucket" */
        ASSERT_EQ(mkdir(bucket, 0700), 0);
    }
    snprintf(rel_conf, sizeof rel_conf, "%s.conf", rel);
    abspath(s->config, sizeof s->config, rel_conf);
    snprintf(rel_conf, sizeof rel_conf, "%s.log", rel);
    abspath(s->log, sizeof s->log, rel_conf);
    s->port = free_port();
    {
        char *const argv[] = {(char *)rclone_path(), "obscure",
                              (char *)(pass ? pass : "s3cret"), NULL};
        ASSERT_EQ(run_capture(argv, &obscured), 0);
        obscured[strcspn(obscured, "\n")] = '\0';
    }
    f = fopen(s->config, "w");
    ASSERT_NOT_NULL(f);
    fprintf(f,
            "[dav]\ntype = webdav\nurl = http://127.0.0.1:%d/\nvendor = other\nuser = "
            "astro\npass = %s\n",
            s->port, obscured);
    fclose(f);
    free(obscured);
    dav_restart(s);
}

void dav_kill(struct davsrv *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    ac_harness_wait(NULL, s->pid, 10000, NULL);
    s->pid = 0;
}

static int count_under(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        char p[2048];
        struct stat st;
        if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || strcmp(de->d_name, "..") == 0))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (lstat(p, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            n += count_under(p);
        else
            n++;
    }
    closedir(d);
    return n;
}

int dav_count_files(const struct davsrv *s)
{
    return count_under(s->dir);
}

bool same_bytes(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    bool same = fa != NULL && fb != NULL;

    while (same) {
        static char ba[65536], bb[65536];
        size_t na = fread(ba, 1, sizeof ba, fa), nb = fread(bb, 1, sizeof bb, fb);
        if (na != nb || memcmp(ba, bb, na) != 0)
            same = false;
        if (na == 0)
            break;
    }
    if (fa != NULL)
        fclose(fa);
    if (fb != NULL)
        fclose(fb);
    return same;
}

#define CW 256
#define CH 192

/* cloud_night prepares a test: a night of n lights and its catalogue (masters bdf), and a
 * WebDAV server whose clients use password pass (NULL: the right one). False (the test
 * passes, noting the skip) without rclone. */
bool cloud_night(ac_harness_t *h, struct night *nt, struct davsrv *s, int n, const char *pass)
{
    if (rclone_path() == NULL)
        return false;
    ac_harness_init(h);
    make_night(nt, n, CW, CH);
    make_catalogue(h, nt, "bdf");
    dav_start(s, "dav", pass);
    return true;
}

/* cloud_config writes the daemon's configuration for the server: the repository is the
 * night's folder, the remote dav:astro (so URLs are gs://astro/REL), one try per second. */
void cloud_config(ac_harness_t *h, const struct davsrv *s, const char *extra)
{
    char rc[1100], repo[1100], repo_key[1200], rclone[1100];

    snprintf(rc, sizeof rc, "CLOUD.rclone_config=%s", s->config);
    abspath(repo, sizeof repo, "night");
    snprintf(repo_key, sizeof repo_key, "DAEMON.repository_dir=%s", repo);
    snprintf(rclone, sizeof rclone, "CLOUD.rclone_program=%s", rclone_path());
    ASSERT_OK(ac_harness_write_config(
        h, (const char *[]){"CLOUD.enabled=True", "CLOUD.remote=dav:astro", rc, rclone,
                            repo_key, "QUEUE.retry_backoff_s=1", "DAEMON.scan_interval_s=2",
                            "WORKERS.max_load_per_cpu=0", "WORKERS.cpu_pressure_limit=0",
                            extra != NULL ? extra : "CLOUD.transfers=2", NULL}));
}

/* copy_file copies a to b. */
void copy_file(const char *a, const char *b)
{
    char *const argv[] = {"/bin/cp", (char *)a, (char *)b, NULL};

    ASSERT_EQ(run_capture(argv, NULL), 0);
}

void assert_same_pixels(const char *a, const char *b)
{
    int w, h, bw, bh;
    double *pa = read_image(a, &w, &h), *pb = read_image(b, &bw, &bh);

    ASSERT_EQ(w, bw);
    ASSERT_EQ(h, bh);
    for (int i = 0; i < w * h; i++)
        ASSERT_NEAR(pa[i], pb[i], 0);
    free(pa);
    free(pb);
}
