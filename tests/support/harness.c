/*
 * harness.c - drive the real astrocald binary from tests (style-anchors §12); the contract
 * of every function is in harness.h.
 *
 * AC_ASTROCALD_BIN is defined for this file by tests/CMakeLists.txt ($<TARGET_FILE:astrocald>);
 * astrocalctl is taken from the same directory. Thread: the test's main thread.
 */
#include "harness.h"

extern char **environ;

#ifdef AC_ASTROCALD_BIN
#define AC_HARNESS_DAEMON AC_ASTROCALD_BIN
#else
#define AC_HARNESS_DAEMON NULL
#endif

/* ---- small helpers ---------------------------------------------------------------------- */

long long ac_harness_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ac_harness_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

char *ac_harness_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (f == NULL)
        return strdup("");
    do {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap + 1);
            if (buf == NULL)
                abort();
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

void ac_harness_init(ac_harness_t *h)
{
    memset(h, 0, sizeof *h);
    h->notify_fd = -1;
    h->pid = -1;
    snprintf(h->dir, sizeof h->dir, "%s", ac_test_tmpdir());
    snprintf(h->config, sizeof h->config, "%s/astrocald.conf", h->dir);
    snprintf(h->database, sizeof h->database, "%s/astrofiler.db", h->dir);
    snprintf(h->socket, sizeof h->socket, "%s/ctl.sock", h->dir);
    snprintf(h->state_dir, sizeof h->state_dir, "%s/state", h->dir);
    snprintf(h->notify_path, sizeof h->notify_path, "%s/notify.sock", h->dir);
    snprintf(h->log_path, sizeof h->log_path, "%s/astrocald.log", h->dir);
    if (strlen(h->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        AC_TEST_FAIL("test directory %s is too deep for a Unix socket path; set a shorter "
                     "TMPDIR",
                     h->dir);
    mkdir(h->state_dir, 0755);
}

/* ---- configuration ---------------------------------------------------------------------- */

struct ac_harness_kv {
    char section[64];
    char key[64];
    const char *value;
};

int ac_harness_write_config(ac_harness_t *h, const char *const *overrides)
{
    struct ac_harness_kv kv[128];
    size_t n = 0;
    FILE *f;

    memset(kv, 0, sizeof kv);
    strcpy(kv[0].section, "DAEMON"), strcpy(kv[0].key, "database"), kv[0].value = h->database;
    strcpy(kv[1].section, "DAEMON"), strcpy(kv[1].key, "socket"), kv[1].value = h->socket;
    strcpy(kv[2].section, "DAEMON"), strcpy(kv[2].key, "state_dir"), kv[2].value = h->state_dir;
    /* Grading rewrites an output's header (and hash) after it is recorded: off unless a
     * test asks for it, so that tests reading outputs and hashes do not race with it. */
    strcpy(kv[3].section, "QUALITY"), strcpy(kv[3].key, "grading"), kv[3].value = "False";
    n = 4;
    for (size_t i = 0; overrides != NULL && overrides[i] != NULL; i++) {
        const char *o = overrides[i], *dot = strchr(o, '.'),
                   *eq = dot ? strchr(dot, '=') : NULL;
        char sec[64], key[64];
        size_t j;

        if (dot == NULL || eq == NULL || dot == o || eq == dot + 1 ||
            (size_t)(dot - o) >= sizeof sec || (size_t)(eq - dot - 1) >= sizeof key)
            AC_TEST_FAIL("config override \"%s\" is not SECTION.key=value", o);
        snprintf(sec, sizeof sec, "%.*s", (int)(dot - o), o);
        snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
        for (j = 0; j < n; j++)
            if (strcmp(kv[j].section, sec) == 0 && strcmp(kv[j].key, key) == 0)
                break;
        if (j == n) {
            if (n == sizeof kv / sizeof kv[0])
                AC_TEST_FAIL("too many config overrides");
            strcpy(kv[n].section, sec);
            strcpy(kv[n].key, key);
            n++;
        }
        kv[j].value = eq + 1;
    }
    f = fopen(h->config, "w");
    if (f == NULL)
        return -errno;
    fprintf(f, "# written by tests/support/harness.h\n");
    for (size_t i = 0; i < n; i++) {
        bool first = true;

        for (size_t p = 0; p < i; p++)
            if (strcmp(kv[p].section, kv[i].section) == 0)
                first = false;
        if (!first)
            continue;
        fprintf(f, "\n[%s]\n", kv[i].section);
        for (size_t j = i; j < n; j++)
            if (strcmp(kv[j].section, kv[i].section) == 0)
                fprintf(f, "%s = %s\n", kv[j].key, kv[j].value);
    }
    if (fclose(f) != 0)
        return -errno;
    return 0;
}

/* ---- the fake service manager ----------------------------------------------------------- */

int ac_harness_notify_open(ac_harness_t *h)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    if (h->notify_fd >= 0)
        return 0;
    if (strlen(h->notify_path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, h->notify_path);
    unlink(h->notify_path);
    h->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (h->notify_fd < 0)
        return -errno;
    if (bind(h->notify_fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int rc = -errno;
        close(h->notify_fd);
        h->notify_fd = -1;
        return rc;
    }
    return 0;
}

const char *ac_harness_notify_poll(ac_harness_t *h, int timeout_ms)
{
    struct pollfd p = {.fd = h->notify_fd, .events = POLLIN};
    char buf[4096];
    ssize_t n;

    if (h->notify_fd < 0 || poll(&p, 1, timeout_ms) != 1)
        return NULL;
    n = recv(h->notify_fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    if (h->nnotify == AC_HARNESS_MAX_NOTIFY) { /* keep the newest: drop the oldest */
        free(h->notify[0]);
        memmove(h->notify, h->notify + 1, (AC_HARNESS_MAX_NOTIFY - 1) * sizeof h->notify[0]);
        h->nnotify--;
    }
    h->notify[h->nnotify] = strdup(buf);
    return h->notify[h->nnotify++];
}

void ac_harness_notify_drain(ac_harness_t *h)
{
    while (ac_harness_notify_poll(h, 0) != NULL)
        ;
}

/* ac_harness_msg_has says whether msg has a line starting with prefix. */
static bool ac_harness_msg_has(const char *msg, const char *prefix)
{
    size_t n = strlen(prefix);

    for (const char *p = msg; p != NULL && *p != '\0';) {
        if (strncmp(p, prefix, n) == 0)
            return true;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return false;
}

size_t ac_harness_notify_count(ac_harness_t *h, const char *prefix)
{
    size_t c = 0;

    ac_harness_notify_drain(h);
    for (size_t i = 0; i < h->nnotify; i++)
        c += ac_harness_msg_has(h->notify[i], prefix);
    return c;
}

const char *ac_harness_notify_last(ac_harness_t *h, const char *prefix)
{
    static char val[4096];
    size_t n = strlen(prefix);

    ac_harness_notify_drain(h);
    for (size_t i = h->nnotify; i-- > 0;) {
        const char *found = NULL;

        for (const char *p = h->notify[i]; p != NULL && *p != '\0';) {
            if (strncmp(p, prefix, n) == 0)
                found = p + n;
            p = strchr(p, '\n');
            if (p != NULL)
                p++;
        }
        if (found != NULL) {
            snprintf(val, sizeof val, "%.*s", (int)strcspn(found, "\n"), found);
            return val;
        }
    }
    return NULL;
}

const char *ac_harness_notify_wait(ac_harness_t *h, const char *prefix, int timeout_ms)
{
    long long deadline = ac_harness_now_ms() + timeout_ms;

    for (;;) {
        for (size_t i = 0; i < h->nnotify; i++)
            if (ac_harness_msg_has(h->notify[i], prefix))
                return h->notify[i];
        long long left = deadline - ac_harness_now_ms();
        if (left <= 0)
            return NULL;
        ac_harness_notify_poll(h, left > 50 ? 50 : (int)left);
    }
}

/* ---- processes -------------------------------------------------------------------------- */

pid_t ac_harness_spawn(const char *const *argv, char *const *envp, const char *out_path,
                       const char *err_path)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t all, none;
    pid_t pid;
    int rc;

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (out_path != NULL)
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path,
                                         O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (err_path != NULL && out_path != NULL && strcmp(err_path, out_path) == 0)
        posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    else if (err_path != NULL)
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path,
                                         O_WRONLY | O_CREAT | O_APPEND, 0644);
    /* The runner ignores SIGPIPE; the child must start with default dispositions. */
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    rc = posix_spawn(&pid, argv[0], &fa, &at, (char *const *)argv, envp ? envp : environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0) {
        fprintf(stderr, "harness: cannot spawn %s: %s\n", argv[0], strerror(rc));
        return -rc;
    }
    return pid;
}

int ac_harness_wait(ac_harness_t *h, pid_t pid, int timeout_ms, int *status)
{
    long long deadline = ac_harness_now_ms() + timeout_ms;
    int st = 0;

    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (w < 0)
            return -errno;
        if (ac_harness_now_ms() >= deadline)
            return -ETIMEDOUT;
        if (h != NULL && h->notify_fd >= 0)
            ac_harness_notify_poll(h, 5);
        else
            ac_harness_sleep_ms(5);
    }
    if (status != NULL)
        *status = st;
    if (h != NULL)
        ac_harness_notify_drain(h);
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

void ac_harness_ctl_path(char *out, size_t size)
{
    const char *bin = AC_HARNESS_DAEMON;
    const char *slash;

    if (bin == NULL)
        AC_TEST_FAIL("AC_ASTROCALD_BIN is not defined for this test executable");
    slash = strrchr(bin, '/');
    if (slash == NULL)
        snprintf(out, size, "astrocalctl");
    else
        snprintf(out, size, "%.*s/astrocalctl", (int)(slash - bin), bin);
}

/* ac_harness_skip_env says whether an inherited variable must not reach the daemon. */
static bool ac_harness_skip_env(const char *e)
{
    static const char *const drop[] = {
        "NOTIFY_SOCKET=", "WATCHDOG_USEC=",  "WATCHDOG_PID=",   "LISTEN_PID=",
        "LISTEN_FDS=",    "LISTEN_FDNAMES=", "JOURNAL_STREAM=", "ASTROCALD_SOCKET="};

    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (strncmp(e, drop[i], strlen(drop[i])) == 0)
            return true;
    return false;
}

int ac_harness_start_bin(ac_harness_t *h, const char *bin, bool with_config,
                         const char *const *args)
{
    const char *argv[64];
    char *envp[512];
    char notify[AC_HARNESS_PATH + 64], wd[64];
    size_t na = 0, ne = 0;
    int rc;
    pid_t pid;

    if (h->pid > 0)
        AC_TEST_FAIL("harness: a daemon is already running (pid %ld)", (long)h->pid);
    rc = ac_harness_notify_open(h);
    if (rc < 0)
        return rc;
    argv[na++] = bin;
    if (with_config) {
        argv[na++] = "--config";
        argv[na++] = h->config;
    }
    for (size_t i = 0; args != NULL && args[i] != NULL && na < 63; i++)
        argv[na++] = args[i];
    argv[na] = NULL;
    for (char **e = environ; *e != NULL && ne < 480; e++)
        if (!ac_harness_skip_env(*e))
            envp[ne++] = *e;
    snprintf(notify, sizeof notify, "NOTIFY_SOCKET=%s", h->notify_path);
    envp[ne++] = notify;
    if (h->watchdog_usec != 0) {
        snprintf(wd, sizeof wd, "WATCHDOG_USEC=%llu", (unsigned long long)h->watchdog_usec);
        envp[ne++] = wd;
    }
    for (size_t i = 0; i < 15 && h->env_extra[i] != NULL; i++)
        envp[ne++] = (char *)h->env_extra[i];
    envp[ne] = NULL;
    pid = ac_harness_spawn(argv, envp, h->log_path, h->log_path);
    if (pid < 0)
        return pid;
    h->pid = pid;
    return 0;
}

int ac_harness_start(ac_harness_t *h, const char *const *args)
{
    const char *bin = AC_HARNESS_DAEMON;

    if (bin == NULL)
        AC_TEST_FAIL("AC_ASTROCALD_BIN is not defined for this test executable");
    return ac_harness_start_bin(h, bin, true, args);
}

int ac_harness_log_count(ac_harness_t *h, const char *what)
{
    char *log = ac_harness_read_file(h->log_path), *p;
    int n = 0;

    for (p = log; p != NULL && (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    free(log);
    return n;
}

void ac_harness_dump_log(ac_harness_t *h)
{
    char *log = ac_harness_read_file(h->log_path);

    fprintf(stderr, "---- %s ----\n%s---- end of log ----\n", h->log_path, log);
    free(log);
}

int ac_harness_wait_ready(ac_harness_t *h, int timeout_ms)
{
    long long deadline = ac_harness_now_ms() + timeout_ms;

    for (;;) {
        int st;

        for (size_t i = 0; i < h->nnotify; i++)
            if (ac_harness_msg_has(h->notify[i], "READY=1"))
                return 0;
        if (h->pid > 0 && waitpid(h->pid, &st, WNOHANG) == h->pid) {
            h->status = st;
            h->pid = -1;
            ac_harness_notify_drain(h);
            fprintf(stderr, "harness: the daemon exited before READY=1 (status 0x%x)\n", st);
            ac_harness_dump_log(h);
            return -ECHILD;
        }
        if (ac_harness_now_ms() >= deadline) {
            fprintf(stderr, "harness: no READY=1 within %d ms\n", timeout_ms);
            ac_harness_dump_log(h);
            return -ETIMEDOUT;
        }
        ac_harness_notify_poll(h, 20);
    }
}

int ac_harness_stop(ac_harness_t *h, int timeout_ms)
{
    int rc;

    if (h->pid <= 0)
        return -ECHILD;
    kill(h->pid, SIGTERM);
    rc = ac_harness_wait(h, h->pid, timeout_ms, &h->status);
    if (rc == -ETIMEDOUT) {
        fprintf(stderr, "harness: the daemon ignored SIGTERM for %d ms; killing it\n",
                timeout_ms);
        ac_harness_dump_log(h);
        kill(h->pid, SIGKILL);
        waitpid(h->pid, &h->status, 0);
    }
    h->pid = -1;
    return rc;
}

void ac_harness_kill(ac_harness_t *h)
{
    if (h->pid <= 0)
        return;
    kill(h->pid, SIGKILL);
    waitpid(h->pid, &h->status, 0);
    h->pid = -1;
}

void ac_harness_free(ac_harness_t *h)
{
    ac_harness_kill(h);
    if (h->notify_fd >= 0)
        close(h->notify_fd);
    h->notify_fd = -1;
    for (size_t i = 0; i < h->nnotify; i++)
        free(h->notify[i]);
    h->nnotify = 0;
}

/* ---- running commands ------------------------------------------------------------------- */

int ac_harness_run(ac_harness_t *h, const char *const *argv, int timeout_ms, char **out,
                   char **err)
{
    char op[AC_HARNESS_PATH + 64], ep[AC_HARNESS_PATH + 64];
    char *envp[512];
    size_t ne = 0;
    pid_t pid;
    int rc;

    h->nrun++;
    snprintf(op, sizeof op, "%s/run-%u.out", h->dir, h->nrun);
    snprintf(ep, sizeof ep, "%s/run-%u.err", h->dir, h->nrun);
    for (char **e = environ; *e != NULL && ne < 500; e++)
        if (!ac_harness_skip_env(*e))
            envp[ne++] = *e;
    envp[ne] = NULL;
    pid = ac_harness_spawn(argv, envp, op, ep);
    if (pid < 0)
        return pid;
    rc = ac_harness_wait(NULL, pid, timeout_ms, NULL);
    if (rc == -ETIMEDOUT) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (out != NULL)
        *out = ac_harness_read_file(op);
    if (err != NULL)
        *err = ac_harness_read_file(ep);
    return rc;
}

int ac_harness_ctl(ac_harness_t *h, char **out, char **err, ...)
{
    const char *argv[64];
    char ctl[AC_HARNESS_PATH];
    size_t n = 0;
    va_list ap;

    ac_harness_ctl_path(ctl, sizeof ctl);
    argv[n++] = ctl;
    argv[n++] = "--socket";
    argv[n++] = h->socket;
    va_start(ap, err);
    for (const char *a = va_arg(ap, const char *); a != NULL && n < 63;
         a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return ac_harness_run(h, argv, 60000, out, err);
}

/* ---- a tiny blocking client ------------------------------------------------------------- */

int ac_harness_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

json_t *ac_harness_exchange(ac_harness_t *h, const char *text, int timeout_ms)
{
    long long deadline = ac_harness_now_ms() + timeout_ms;
    size_t len = 0, cap = 65536, tl = strlen(text);
    char *buf = malloc(cap);
    json_t *reply = NULL;
    int fd = ac_harness_connect(h->socket);

    if (buf == NULL)
        abort();
    if (fd < 0) {
        fprintf(stderr, "harness: cannot connect to %s: %s\n", h->socket, strerror(-fd));
        goto out;
    }
    for (size_t off = 0; off < tl;) {
        ssize_t w = send(fd, text + off, tl - off, MSG_NOSIGNAL);
        if (w <= 0) {
            fprintf(stderr, "harness: send: %s\n", strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    for (;;) {
        char *nl;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        long long left;
        ssize_t r;

        while ((nl = memchr(buf, '\n', len)) != NULL) {
            json_t *j = json_loadb(buf, (size_t)(nl - buf), 0, NULL);
            size_t used = (size_t)(nl - buf) + 1;

            memmove(buf, buf + used, len - used);
            len -= used;
            if (j == NULL) {
                fprintf(stderr, "harness: the daemon sent a line that is not JSON\n");
                goto out;
            }
            if (json_object_get(j, "ok") != NULL) {
                reply = j;
                goto out;
            }
            json_decref(j); /* an event */
        }
        left = deadline - ac_harness_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) != 1) {
            fprintf(stderr, "harness: no reply within %d ms\n", timeout_ms);
            goto out;
        }
        if (cap - len < 65536) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (buf == NULL)
                abort();
        }
        r = recv(fd, buf + len, cap - len, 0);
        if (r <= 0) {
            fprintf(stderr, "harness: connection closed before a reply\n");
            goto out;
        }
        len += (size_t)r;
    }
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return reply;
}

/* harness_reap_dead: after a request without a reply, a daemon that died is reaped and
 * its log shown once (a sanitizer's report or a crash is then in the test's output). */
static void harness_reap_dead(ac_harness_t *h)
{
    int st;

    if (h->pid <= 0 || waitpid(h->pid, &st, WNOHANG) != h->pid)
        return;
    h->status = st;
    h->pid = -1;
    if (WIFSIGNALED(st))
        fprintf(stderr, "harness: the daemon died from signal %d\n", WTERMSIG(st));
    else
        fprintf(stderr, "harness: the daemon exited with %d\n", WEXITSTATUS(st));
    ac_harness_dump_log(h);
}

json_t *ac_harness_request(ac_harness_t *h, const char *cmd, json_t *args, int timeout_ms)
{
    json_t *req = json_pack("{s:i,s:I,s:s,s:o}", "v", 1, "id", (json_int_t)++h->next_id, "cmd",
                            cmd, "args", args ? args : json_object());
    char *line, *text;
    json_t *reply;

    if (req == NULL)
        abort();
    line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (line == NULL || asprintf(&text, "%s\n", line) < 0)
        abort();
    free(line);
    reply = ac_harness_exchange(h, text, timeout_ms);
    free(text);
    if (reply == NULL)
        harness_reap_dead(h);
    return reply;
}

json_t *ac_harness_result(json_t *reply)
{
    json_t *err;

    if (reply == NULL)
        AC_TEST_FAIL("no reply from the daemon");
    if (json_is_true(json_object_get(reply, "ok")))
        return json_object_get(reply, "result");
    err = json_object_get(reply, "error");
    AC_TEST_FAIL("the daemon answered %s: %s", json_string_value(json_object_get(err, "code")),
                 json_string_value(json_object_get(err, "message")));
    return NULL;
}
