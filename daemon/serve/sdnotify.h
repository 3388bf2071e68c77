/*
 * sdnotify.h - systemd integration: readiness and status notifications (sd_notify(3)),
 * the watchdog (sd_watchdog_enabled(3)), socket activation (sd_listen_fds(3)) and a
 * structured journal log sink (sd_journal_send(3)).
 *
 * Built with libsystemd when CMake finds it (HAVE_LIBSYSTEMD, option ASTROCALD_SYSTEMD).
 * Without it, notifications, the watchdog and socket activation are implemented here with
 * the same environment protocol (NOTIFY_SOCKET, WATCHDOG_USEC/WATCHDOG_PID,
 * LISTEN_PID/LISTEN_FDS), and the journal sink writes "<N>" lines to stderr instead.
 * Either way a plain AF_UNIX datagram socket named in NOTIFY_SOCKET receives the messages,
 * which is how the integration tests stand in for systemd.
 *
 * The notify functions return 1 when a message was sent, 0 when not running under a
 * service manager (no NOTIFY_SOCKET), or a negative errno; callers normally ignore it.
 *
 * Thread: the notify functions are for the loop thread; ac_sd_journal_sink is safe on any
 * thread; ac_sd_log_setup and ac_sd_listen_fd are for main() before threads start.
 */
#ifndef AC_SDNOTIFY_H
#define AC_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"

/* ac_sd_ready sends "READY=1", plus "STATUS=status" when status is not NULL. */
int ac_sd_ready(const char *status);

/* ac_sd_status sends "STATUS=<formatted text>" (newlines in the text become spaces). */
int ac_sd_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ac_sd_reloading sends "RELOADING=1" (send ac_sd_ready again when the reload is done). */
int ac_sd_reloading(void);

/* ac_sd_stopping sends "STOPPING=1". */
int ac_sd_stopping(void);

/* ac_sd_watchdog_ping sends "WATCHDOG=1". */
int ac_sd_watchdog_ping(void);

/* ac_sd_watchdog_usec: 1 and *usec set when the service manager expects watchdog pings
 * every *usec microseconds (ping at half of it), 0 when it does not, or a negative errno
 * (malformed WATCHDOG_USEC). */
int ac_sd_watchdog_usec(uint64_t *usec);

/* ac_sd_listen_fd: 1 and *fd set (3) when exactly one socket was passed by socket
 * activation, 0 when none, -E2BIG when more than one (astrocald listens on one socket),
 * or another negative errno. The LISTEN_* variables are removed from the environment. */
int ac_sd_listen_fd(int *fd);

/* ac_sd_journal_stream_is_stderr says whether stderr is connected to the journal
 * (JOURNAL_STREAM names its device and inode, systemd.exec(5)). */
bool ac_sd_journal_stream_is_stderr(void);

/* The journal fields of one message: at most AC_SD_JOURNAL_FIELDS "NAME=value" strings. */
#define AC_SD_JOURNAL_FIELDS 9
typedef struct ac_sd_journal_entry {
    char field[AC_SD_JOURNAL_FIELDS][1200];
    int n;
} ac_sd_journal_entry_t;

/* ac_sd_journal_fields fills je with what ac_sd_journal_sink sends for one message:
 * MESSAGE, PRIORITY, CODE_FILE, CODE_LINE, CODE_FUNC, SYSLOG_IDENTIFIER=astrocald and, for
 * a structured message (ac_log_fields, log.h; fields may be NULL), MESSAGE_ID,
 * ASTROCAL_SESSION and ASTROCAL_FILE where set. A value is cut at its first newline (the
 * log escapes newlines in messages already; ids never hold one). Any thread. */
void ac_sd_journal_fields(int level, const char *file, int line, const char *func,
                          const char *msg, const ac_log_fields_t *fields,
                          ac_sd_journal_entry_t *je);

/* ac_sd_journal_sink is an ac_log sink sending ac_sd_journal_fields to the journal. */
void ac_sd_journal_sink(int level, const char *file, int line, const char *func,
                        const char *msg);

/* ac_sd_log_setup installs ac_sd_journal_sink with ac_log_set_sink when stderr is the
 * journal and libsystemd is available; returns whether it did. */
bool ac_sd_log_setup(void);

#endif
