/*
 * log.h - leveled logging with syslog priorities.
 *
 * Levels are syslog's (err 3, warning 4, notice 5, info 6, debug 7). The default sink writes
 * one line per message to stderr, prefixed with "<N>" so journald (and the integration
 * tests) can read the priority (sd-daemon(3)). When stderr is a terminal (decided at the
 * first message) it writes "astrocald: warning: ..." instead, coloured by level (errors
 * red, warnings yellow, notices bold, debug dim) unless NO_COLOR is set to a non-empty
 * value or TERM is unset or "dumb" (then plain). Each message is formatted into a bounded
 * buffer and emitted with a single write(2), so lines from pool threads never interleave.
 * Control characters in a message (a newline in a file name) are written escaped (\n,
 * \xHH; a backslash as \\), so one message is one line and cannot forge another.
 *
 * Thread: ac_log and the macros are safe on any thread. ac_log_set_level, ac_log_set_sink
 * and ac_log_set_prefix are for main() before threads start.
 */
#ifndef AC_LOG_H
#define AC_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum ac_log_level {
    AC_LOG_ERR = 3,
    AC_LOG_WARNING = 4,
    AC_LOG_NOTICE = 5,
    AC_LOG_INFO = 6,
    AC_LOG_DEBUG = 7,
};

/* A sink receives the level and the formatted message (no trailing newline). */
typedef void (*ac_log_sink_fn)(int level, const char *file, int line, const char *func,
                               const char *msg);

/* ac_log_set_level drops messages above level (default AC_LOG_INFO). */
void ac_log_set_level(int level);
int ac_log_get_level(void);
/* ac_log_set_sink replaces the stderr sink (NULL restores it). */
void ac_log_set_sink(ac_log_sink_fn sink);
/* ac_log_set_prefix chooses whether the stderr sink writes "<N>" prefixes (default true)
 * or a human "astrocald: warning: " style (for the one-shot mode on a terminal). */
void ac_log_set_syslog_prefix(bool on);

/* ac_log_tty_mode says how a log line on fd would look: 0 not a terminal ("<N>" prefixes),
 * 1 a terminal without colour (NO_COLOR, TERM=dumb), 2 a terminal with colour. */
int ac_log_tty_mode(int fd);

/* ac_log_refresh_tty decides the stderr mode again now (after stderr was redirected; for
 * main() and tests, before threads log). */
void ac_log_refresh_tty(void);

/* ac_log_last_error copies the last message logged at err level into buf ("" when none)
 * and returns its wall-clock time in seconds since the epoch (0 when none). The message
 * is recorded whatever the sink. Any thread. */
double ac_log_last_error(char *buf, size_t size);

/* ac_log_parse_level maps "err", "warning", "notice", "info", "debug" to a level, -1 if
 * unknown. */
int ac_log_parse_level(const char *name);

void ac_log_at(int level, const char *file, int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define ac_log_err(...) ac_log_at(AC_LOG_ERR, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define ac_log_warn(...) ac_log_at(AC_LOG_WARNING, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define ac_log_notice(...) ac_log_at(AC_LOG_NOTICE, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define ac_log_info(...) ac_log_at(AC_LOG_INFO, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define ac_log_debug(...) ac_log_at(AC_LOG_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__)

#endif
