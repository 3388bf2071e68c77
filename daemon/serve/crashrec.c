/*
 * crashrec.c - the crash record (see crashrec.h).
 *
 * The handler reads only what it can read safely: slots whose `used` flag was published
 * (release/acquire) after their id was written, and its own thread's slot number. It
 * formats numbers by hand: no stdio, no malloc, no locks.
 *
 * Thread: as crashrec.h says.
 */
#include "crashrec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "fsutil.h"
#include "log.h"
#include "scheduler.h"
#include "util.h"

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGABRT, SIGILL};
#define NSIG_CRASH (sizeof crash_signals / sizeof crash_signals[0])

static struct slot {
    atomic_int used;
    char id[64];
} slots[AC_CRASHREC_SLOTS];
static char record_path[4200], alone_path[4200];
static struct sigaction previous[NSIG_CRASH];
static _Thread_local int thread_slot = -1;

int ac_crashrec_enter(const char *file_id)
{
    for (int i = 0; i < AC_CRASHREC_SLOTS; i++) {
        if (atomic_load_explicit(&slots[i].used, memory_order_relaxed))
            continue;
        ac_strlcpy(slots[i].id, file_id, sizeof slots[i].id);
        atomic_store_explicit(&slots[i].used, 1, memory_order_release);
        return i;
    }
    return -1;
}

void ac_crashrec_leave(int slot)
{
    if (slot >= 0 && slot < AC_CRASHREC_SLOTS)
        atomic_store_explicit(&slots[slot].used, 0, memory_order_release);
}

void ac_crashrec_thread(int slot)
{
    thread_slot = slot;
}

/* ---- the handler: async-signal-safe calls only ---- */

static void put(int fd, const char *s)
{
    size_t n = strlen(s);

    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void put_line(int fd, const char *key, const char *value)
{
    put(fd, key);
    put(fd, " ");
    put(fd, value);
    put(fd, "\n");
}

static void on_crash(int sig, siginfo_t *si, void *uc)
{
    int saved = errno, fd, me = thread_slot, k = 15;
    unsigned v = (unsigned)sig;
    char num[16];

    (void)si;
    (void)uc;
    num[k] = '\0';
    do {
        num[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 && k > 0);
    fd = open(record_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        put_line(fd, "signal", num + k);
        if (me >= 0 && me < AC_CRASHREC_SLOTS &&
            atomic_load_explicit(&slots[me].used, memory_order_acquire))
            put_line(fd, "culprit", slots[me].id);
        for (int i = 0; i < AC_CRASHREC_SLOTS; i++)
            if (atomic_load_explicit(&slots[i].used, memory_order_acquire))
                put_line(fd, "running", slots[i].id);
        fsync(fd);
        close(fd);
    }
    for (size_t i = 0; i < NSIG_CRASH; i++)
        if (crash_signals[i] == sig)
            sigaction(sig, &previous[i], NULL);
    errno = saved;
    raise(sig); /* delivered once the handler returns (the signal is blocked in it) */
}

int ac_crashrec_install(const char *state_dir, ac_err_t *e)
{
    static char altstack[64 * 1024];
    struct sigaction sa;
    stack_t ss;

    snprintf(record_path, sizeof record_path, "%s/%s", state_dir, AC_CRASHREC_FILE);
    snprintf(alone_path, sizeof alone_path, "%s/%s", state_dir, AC_CRASHREC_ALONE);
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = altstack;
    ss.ss_size = sizeof altstack;
    if (sigaltstack(&ss, NULL) != 0)
        ac_log_debug("sigaltstack: %s", strerror(errno));
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_crash;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NSIG_CRASH; i++)
        if (sigaction(crash_signals[i], &sa, &previous[i]) != 0)
            return ac_err_set(e, -errno, "installing the crash handler: %s", strerror(errno));
    return 0;
}

void ac_crashrec_alone(const char *file_id)
{
    int fd;

    if (alone_path[0] == '\0')
        return;
    if (file_id == NULL) {
        unlink(alone_path);
        return;
    }
    fd = open(alone_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        ac_log_debug("%s: %s", alone_path, strerror(errno));
        return;
    }
    put(fd, file_id);
    close(fd);
}

/* ---- at start-up ---- */

int ac_crashrec_read(const char *state_dir, ac_crashrec_t *out, ac_err_t *e)
{
    char path[4200], line[256];
    FILE *f;

    memset(out, 0, sizeof *out);
    snprintf(path, sizeof path, "%s/%s", state_dir, AC_CRASHREC_ALONE);
    if ((f = fopen(path, "re")) != NULL) {
        if (fgets(out->alone, sizeof out->alone, f) == NULL)
            out->alone[0] = '\0';
        out->alone[strcspn(out->alone, "\n")] = '\0';
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/%s", state_dir, AC_CRASHREC_FILE);
    f = fopen(path, "re");
    if (f == NULL)
        return errno == ENOENT ? 0
                               : ac_err_set(e, -errno, "reading %s: %s", path, strerror(errno));
    out->found = true;
    while (fgets(line, sizeof line, f) != NULL) {
        char *v = strchr(line, ' ');
        if (v == NULL)
            continue;
        *v++ = '\0';
        v[strcspn(v, "\n")] = '\0';
        if (strcmp(line, "signal") == 0)
            out->signal = atoi(v);
        else if (strcmp(line, "culprit") == 0)
            ac_strlcpy(out->culprit, v, sizeof out->culprit);
        else if (strcmp(line, "running") == 0 && out->nrunning < AC_CRASHREC_SLOTS)
            ac_strlcpy(out->running[out->nrunning++], v, sizeof out->running[0]);
    }
    fclose(f);
    return 0;
}

/* clean_outputs removes the temporary outputs a file's interrupted job may have left:
 * beside its light or in output_dir, and in output_dir/<file id>/, compressed or not. */
static int clean_outputs(const struct ac_config *cfg, const ac_qfile_t *f)
{
    ac_engine_opts_t o;
    char out[4096];
    int n = 0;

    ac_sched_engine_opts(cfg, &o);
    for (int sub = 0; sub < (cfg->output_dir[0] != '\0' ? 2 : 1); sub++) {
        if (sub == 1) {
            size_t len = strlen(o.output_dir);
            snprintf(o.output_dir + len, sizeof o.output_dir - len, "/%s", f->file_id);
        }
        for (int z = 0; z < 2; z++) {
            int rc;
            o.out.compress = z == 1;
            if (ac_engine_output_path(f->path, &o, out, sizeof out) != 0)
                continue;
            rc = ac_fsutil_clean_stale_for(out, NULL);
            n += rc > 0 ? rc : 0;
        }
    }
    return n;
}

int ac_crashrec_recover(ac_queue_t *q, const struct ac_config *cfg, ac_err_t *e)
{
    ac_crashrec_t rec;
    ac_queue_crash_t crash = {0};
    ac_queue_recovery_t r = {0};
    char path[4200];
    int rc, cleaned = 0;

    if (ac_crashrec_read(cfg->state_dir, &rec, e) != 0) {
        ac_log_warn("%s (ignored)", e->msg);
        ac_err_clear(e);
    }
    crash.alone = rec.alone[0] != '\0' ? rec.alone : NULL;
    if (rec.found) {
        crash.signal = rec.signal;
        crash.culprit = rec.culprit[0] != '\0' ? rec.culprit : NULL;
        ac_log_warn("the daemon died of signal %d%s%s", rec.signal,
                    crash.culprit != NULL ? " while calibrating file " : "",
                    crash.culprit != NULL ? crash.culprit : "");
    }
    rc = ac_queue_recover(q, &crash, &r, e);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < r.interrupted.n; i++)
        cleaned += clean_outputs(cfg, &r.interrupted.items[i]);
    if (r.requeued + r.failed > 0)
        ac_log_notice("recovered %zu interrupted file%s: %d back in the queue without an "
                      "attempt counted, %d failed as crashing the daemon; %d temporary "
                      "file%s removed",
                      r.interrupted.n, r.interrupted.n == 1 ? "" : "s", r.requeued, r.failed,
                      cleaned, cleaned == 1 ? "" : "s");
    if (r.blamed > 0 && r.failed == 0)
        ac_log_warn("a death of the daemon was counted against a file running alone; it "
                    "runs alone from now on, and fails at %d such deaths",
                    q->policy.crash_limit);
    ac_queue_recovery_clear(&r);
    {
        /* Recalibrations: the old output back where the new one was not recorded. */
        int back = 0, gone = 0;
        if ((rc = ac_sched_recal_recover(q, &back, &gone, e)) != 0)
            return rc;
        if (back + gone > 0)
            ac_log_notice("recalibration: %d previous output%s put back (new one not "
                          "recorded), %d replaced output%s removed",
                          back, back == 1 ? "" : "s", gone, gone == 1 ? "" : "s");
    }
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", cfg->state_dir,
                 k == 0 ? AC_CRASHREC_FILE : AC_CRASHREC_ALONE);
        if (unlink(path) != 0 && errno != ENOENT)
            ac_log_warn("removing %s: %s", path, strerror(errno));
    }
    return ac_crashrec_install(cfg->state_dir, e);
}
