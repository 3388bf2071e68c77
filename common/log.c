/*
 * log.c - leveled logging (see log.h).
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_level = AC_LOG_INFO;
static ac_log_sink_fn log_sink;
static bool log_syslog_prefix = true;
/* How stderr looks: -1 not decided yet, else enum tty_mode (decided at the first message). */
static int log_tty = -1;
enum tty_mode { TTY_NONE = 0, TTY_PLAIN = 1, TTY_COLOUR = 2 };

/* The last message at err level or worse, for `status` (ac_log_last_error). */
static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_msg[1024];
static double last_at;

static const char *const level_names[] = {"emerg",   "alert",  "crit", "err",
                                          "warning", "notice", "info", "debug"};
/* SGR colours by level on a terminal: errors bold red, warnings yellow, notices bold,
 * info plain, debug dim. */
static const char *const level_colour[] = {"\x1b[1;31m", "\x1b[1;31m", "\x1b[1;31m",
                                           "\x1b[1;31m", "\x1b[33m",   "\x1b[1m",
                                           "",           "\x1b[2m"};

void ac_log_set_level(int level)
{
    log_level = level;
}

int ac_log_get_level(void)
{
    return log_level;
}

void ac_log_set_sink(ac_log_sink_fn sink)
{
    log_sink = sink;
}

void ac_log_set_syslog_prefix(bool on)
{
    log_syslog_prefix = on;
}

int ac_log_tty_mode(int fd)
{
    const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");

    if (!isatty(fd))
        return TTY_NONE;
    /* no-color.org: NO_COLOR set to anything but the empty string turns colour off. */
    if ((nc != NULL && nc[0] != '\0') || term == NULL || strcmp(term, "dumb") == 0)
        return TTY_PLAIN;
    return TTY_COLOUR;
}

void ac_log_refresh_tty(void)
{
    log_tty = ac_log_tty_mode(STDERR_FILENO);
}

double ac_log_last_error(char *buf, size_t size)
{
    double at;

    pthread_mutex_lock(&last_lock);
    snprintf(buf, size, "%s", last_msg);
    at = last_at;
    pthread_mutex_unlock(&last_lock);
    return at;
}

static void remember_error(const char *msg)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    pthread_mutex_lock(&last_lock);
    snprintf(last_msg, sizeof last_msg, "%s", msg);
    last_at = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    pthread_mutex_unlock(&last_lock);
}

int ac_log_parse_level(const char *name)
{
    for (int i = 0; i < 8; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    if (strcmp(name, "error") == 0)
        return AC_LOG_ERR;
    if (strcmp(name, "warn") == 0)
        return AC_LOG_WARNING;
    return -1;
}

/* write_all writes the whole buffer, retrying on short writes; errors are dropped because
 * there is nowhere left to report them. */
static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* escape copies src into dst (size > 0), writing control characters (a newline in a file
 * name, an escape sequence) as \n, \r, \t or \xHH and a backslash as \\, so that one
 * message is always one line and cannot forge another. Truncates at size - 1. */
static void escape(const char *src, char *dst, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)src; *p != '\0'; p++) {
        char rep[5];
        size_t n = 0;

        if (*p == '\n' || *p == '\r' || *p == '\t' || *p == '\\') {
            rep[n++] = '\\';
            rep[n++] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : *p == '\t' ? 't' : '\\';
        } else if (*p < 0x20 || *p == 0x7f) {
            rep[n++] = '\\';
            rep[n++] = 'x';
            rep[n++] = hex[*p >> 4];
            rep[n++] = hex[*p & 15];
        } else {
            rep[n++] = (char)*p;
        }
        if (o + n >= size)
            break;
        memcpy(dst + o, rep, n);
        o += n;
    }
    dst[o] = '\0';
}

void ac_log_at(int level, const char *file, int line, const char *func, const char *fmt, ...)
{
    char raw[1024];
    char msg[1024];
    char out[1200];
    va_list ap;
    int n;

    if (level > log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    escape(raw, msg, sizeof msg);
    if (level <= AC_LOG_ERR)
        remember_error(msg);
    if (log_sink != NULL) {
        log_sink(level, file, line, func, msg);
        return;
    }
    if (level < 0)
        level = 0;
    if (level > 7)
        level = 7;
    if (log_tty < 0)
        log_tty = ac_log_tty_mode(STDERR_FILENO); /* the same answer on every thread */
    if (log_tty == TTY_COLOUR)
        n = snprintf(out, sizeof out, "%sastrocald: %s%s%s\x1b[0m\n", level_colour[level],
                     level <= AC_LOG_WARNING ? level_names[level] : "",
                     level <= AC_LOG_WARNING ? ": " : "", msg);
    else if (log_syslog_prefix && log_tty == TTY_NONE)
        n = snprintf(out, sizeof out, "<%d>%s\n", level, msg);
    else if (level <= AC_LOG_WARNING)
        n = snprintf(out, sizeof out, "astrocald: %s: %s\n", level_names[level], msg);
    else
        n = snprintf(out, sizeof out, "astrocald: %s\n", msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof out) {
        n = (int)sizeof out - 1;
        out[n - 1] = '\n';
    }
    write_all(STDERR_FILENO, out, (size_t)n);
}
