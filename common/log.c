/*
 * log.c - leveled logging (see log.h).
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int log_level = AC_LOG_INFO;
static ac_log_sink_fn log_sink;
static bool log_syslog_prefix = true;

static const char *const level_names[] = {"emerg",   "alert",  "crit", "err",
                                          "warning", "notice", "info", "debug"};

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

static _Thread_local const ac_log_fields_t *cur_fields;

const ac_log_fields_t *ac_log_fields(void)
{
    return cur_fields;
}

const char *ac_log_msgid_for_state(const char *state)
{
    return state != NULL && strcmp(state, "done") == 0 ? AC_MSGID_SESSION_DONE
                                                       : AC_MSGID_SESSION_FAILED;
}

static void emit(int level, const ac_log_fields_t *fields, const char *file, int line,
                 const char *func, const char *fmt, va_list ap)
{
    char raw[1024];
    char msg[1024];
    char out[1100];
    int n;

    vsnprintf(raw, sizeof raw, fmt, ap);
    escape(raw, msg, sizeof msg);
    if (log_sink != NULL) {
        cur_fields = fields;
        log_sink(level, file, line, func, msg);
        cur_fields = NULL;
        return;
    }
    if (level < 0)
        level = 0;
    if (level > 7)
        level = 7;
    if (log_syslog_prefix)
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

void ac_log_at(int level, const char *file, int line, const char *func, const char *fmt, ...)
{
    va_list ap;

    if (level > log_level)
        return;
    va_start(ap, fmt);
    emit(level, NULL, file, line, func, fmt, ap);
    va_end(ap);
}

void ac_log_event_at(int level, const ac_log_fields_t *fields, const char *file, int line,
                     const char *func, const char *fmt, ...)
{
    va_list ap;

    if (level > log_level)
        return;
    va_start(ap, fmt);
    emit(level, fields, file, line, func, fmt, ap);
    va_end(ap);
}
