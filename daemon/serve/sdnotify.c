/*
 * sdnotify.c - systemd integration (see sdnotify.h).
 *
 * With HAVE_LIBSYSTEMD the work is done by libsystemd (journal, watchdog, listen fds).
 * Without it, small equivalents of sd_watchdog_enabled and sd_listen_fds follow the
 * documented environment protocol, so a daemon built without libsystemd still runs as
 * Type=notify. Notifications always go through notify_send, which never blocks.
 *
 * Owns no state besides the environment variables it reads (and, for socket activation,
 * removes).
 */
#include "sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#ifdef HAVE_LIBSYSTEMD
#define SD_JOURNAL_SUPPRESS_LOCATION /* we pass the caller's location ourselves */
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif

/* notify_send sends state to $NOTIFY_SOCKET (a path, or "@name" for the abstract
 * namespace), like sd_notify(0, state), but never blocks: libsystemd's sd_notify waits
 * when the receiver's queue is full, which would stop the loop thread (and the watchdog
 * with it). A datagram that cannot be queued at once is dropped: the next STATUS= or
 * WATCHDOG=1 follows within a second. The same sender serves both builds. */
static int notify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n;
    socklen_t sl;
    ssize_t w;
    int fd, rc = 1;

    if (path == NULL || path[0] == '\0')
        return 0;
    n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof sa.sun_path)
        return -EINVAL;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* Never block the loop on a full notify queue: a lost STATUS= is harmless. */
    w = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa,
               sl);
    if (w < 0)
        rc = -errno;
    close(fd);
    return rc;
}

int ac_sd_ready(const char *status)
{
    char buf[1024];

    if (status == NULL)
        return notify_send("READY=1");
    snprintf(buf, sizeof buf, "READY=1\nSTATUS=%s", status);
    for (char *p = buf + 8; *p != '\0'; p++)
        if (*p == '\n')
            *p = ' ';
    return notify_send(buf);
}

int ac_sd_status(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    memcpy(buf, "STATUS=", 7);
    va_start(ap, fmt);
    vsnprintf(buf + 7, sizeof buf - 7, fmt, ap);
    va_end(ap);
    for (char *p = buf + 7; *p != '\0'; p++)
        if (*p == '\n')
            *p = ' ';
    return notify_send(buf);
}

int ac_sd_reloading(void)
{
    return notify_send("RELOADING=1");
}

int ac_sd_stopping(void)
{
    return notify_send("STOPPING=1");
}

int ac_sd_watchdog_ping(void)
{
    return notify_send("WATCHDOG=1");
}

#ifdef HAVE_LIBSYSTEMD
int ac_sd_watchdog_usec(uint64_t *usec)
{
    int rc = sd_watchdog_enabled(0, usec);

    return rc > 0 ? 1 : rc;
}

int ac_sd_listen_fd(int *fd)
{
    int n = sd_listen_fds(1);

    if (n < 0)
        return n;
    if (n == 0)
        return 0;
    if (n > 1)
        return -E2BIG;
    *fd = SD_LISTEN_FDS_START;
    return 1;
}
#else
/* parse_u64 reads a whole unsigned decimal number; false when s is not one. */
static bool parse_u64(const char *s, unsigned long long *out)
{
    char *end;

    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && *end == '\0';
}

int ac_sd_watchdog_usec(uint64_t *usec)
{
    unsigned long long v, pid;
    const char *p = getenv("WATCHDOG_PID");

    if (getenv("WATCHDOG_USEC") == NULL)
        return 0;
    if (!parse_u64(getenv("WATCHDOG_USEC"), &v) || v == 0)
        return -EINVAL;
    if (p != NULL) {
        if (!parse_u64(p, &pid))
            return -EINVAL;
        if (pid != (unsigned long long)getpid())
            return 0;
    }
    *usec = v;
    return 1;
}

int ac_sd_listen_fd(int *fd)
{
    unsigned long long pid, n;
    int rc = 0;

    if (getenv("LISTEN_PID") == NULL)
        goto out;
    if (!parse_u64(getenv("LISTEN_PID"), &pid) || !parse_u64(getenv("LISTEN_FDS"), &n)) {
        rc = -EINVAL;
        goto out;
    }
    if (pid != (unsigned long long)getpid() || n == 0)
        goto out;
    if (n > 1) {
        rc = -E2BIG;
        goto out;
    }
    if (fcntl(3, F_SETFD, FD_CLOEXEC) < 0) {
        rc = -errno;
        goto out;
    }
    *fd = 3;
    rc = 1;
out:
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return rc;
}
#endif

bool ac_sd_journal_stream_is_stderr(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return false;
    if (fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* add_field appends "name=value" to je, the value cut at its first newline. */
static void add_field(ac_sd_journal_entry_t *je, const char *name, const char *value)
{
    if (value == NULL || je->n >= AC_SD_JOURNAL_FIELDS)
        return;
    snprintf(je->field[je->n++], sizeof je->field[0], "%s=%.*s", name,
             (int)strcspn(value, "\n"), value);
}

void ac_sd_journal_fields(int level, const char *file, int line, const char *func,
                          const char *msg, const ac_log_fields_t *fields,
                          ac_sd_journal_entry_t *je)
{
    char num[16];

    je->n = 0;
    add_field(je, "MESSAGE", msg);
    snprintf(num, sizeof num, "%d", level);
    add_field(je, "PRIORITY", num);
    add_field(je, "CODE_FILE", file);
    snprintf(num, sizeof num, "%d", line);
    add_field(je, "CODE_LINE", num);
    add_field(je, "CODE_FUNC", func);
    add_field(je, "SYSLOG_IDENTIFIER", "astrocald");
    if (fields != NULL) {
        add_field(je, "MESSAGE_ID", fields->message_id);
        add_field(je, "ASTROCAL_SESSION", fields->session);
        add_field(je, "ASTROCAL_FILE", fields->file);
    }
}

void ac_sd_journal_sink(int level, const char *file, int line, const char *func,
                        const char *msg)
{
#ifdef HAVE_LIBSYSTEMD
    ac_sd_journal_entry_t je;
    struct iovec iov[AC_SD_JOURNAL_FIELDS];

    ac_sd_journal_fields(level, file, line, func, msg, ac_log_fields(), &je);
    for (int i = 0; i < je.n; i++)
        iov[i] = (struct iovec){.iov_base = je.field[i], .iov_len = strlen(je.field[i])};
    sd_journal_sendv(iov, je.n);
#else
    char out[1100];
    int n = snprintf(out, sizeof out, "<%d>%s\n", level, msg);

    if (n > 0 && write(STDERR_FILENO, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1))
        return;
#endif
}

bool ac_sd_log_setup(void)
{
#ifdef HAVE_LIBSYSTEMD
    if (ac_sd_journal_stream_is_stderr()) {
        ac_log_set_sink(ac_sd_journal_sink);
        return true;
    }
#endif
    return false;
}
