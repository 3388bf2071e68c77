/*
 * test-log.c - common/log.c: one message is one line, whatever the message holds.
 */
#include <fcntl.h>
#include <pty.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "test.h"

static char captured[2048];

static void capture_sink(int level, const char *file, int line, const char *func,
                         const char *msg)
{
    snprintf(captured, sizeof captured, "%s", msg);
}

TEST(log_escapes_control_characters_in_messages)
{
    ac_log_set_sink(capture_sink);
    ac_log_warn("cannot read %s: %s", "/data/evil.fits\n<3>forged line", "bad\tkey\\x");
    ac_log_set_sink(NULL);
    ASSERT_STR_EQ(captured, "cannot read /data/evil.fits\\n<3>forged line: bad\\tkey\\\\x");
    ac_log_set_sink(capture_sink);
    ac_log_info("esc %s", "\x1b[31mred\x7f\r");
    ac_log_set_sink(NULL);
    ASSERT_STR_EQ(captured, "esc \\x1b[31mred\\x7f\\r");
}

TEST(log_stderr_line_is_single_and_prefixed)
{
    char buf[512] = {0};
    int fd = open("stderr.txt", O_CREAT | O_RDWR | O_TRUNC, 0600);
    int saved = dup(STDERR_FILENO);
    ssize_t n;

    ASSERT(fd >= 0 && saved >= 0);
    ASSERT(dup2(fd, STDERR_FILENO) >= 0);
    ac_log_set_syslog_prefix(true);
    ac_log_refresh_tty();
    ac_log_err("file %s failed", "a\nb.fits");
    dup2(saved, STDERR_FILENO);
    ac_log_refresh_tty();
    close(saved);
    n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    ASSERT(n > 0);
    ASSERT_STR_EQ(buf, "<3>file a\\nb.fits failed\n");
}

/* log_on_pty logs one message at level with stderr on a new pseudo-terminal (as in a
 * foreground run from a shell) and returns what the terminal received, '\r' removed. */
static const char *log_on_pty(int level, const char *msg)
{
    static char buf[512];
    int master, slave, saved = dup(STDERR_FILENO);
    ssize_t n;
    size_t o = 0;

    ASSERT(openpty(&master, &slave, NULL, NULL, NULL) == 0 && saved >= 0);
    ASSERT(dup2(slave, STDERR_FILENO) >= 0);
    ac_log_set_syslog_prefix(true);
    ac_log_refresh_tty();
    ac_log_at(level, __FILE__, __LINE__, __func__, "%s", msg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(slave);
    ac_log_refresh_tty();
    n = read(master, buf, sizeof buf - 1);
    close(master);
    ASSERT(n > 0);
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] != '\r')
            buf[o++] = buf[i];
    buf[o] = '\0';
    return buf;
}

TEST(log_on_a_terminal_is_coloured_by_level_without_prefix)
{
    unsetenv("NO_COLOR");
    setenv("TERM", "xterm", 1);
    ASSERT_STR_EQ(log_on_pty(AC_LOG_WARNING, "disk slow"),
                  "\x1b[33mastrocald: warning: disk slow\x1b[0m\n");
    ASSERT_STR_EQ(log_on_pty(AC_LOG_ERR, "broken"),
                  "\x1b[1;31mastrocald: err: broken\x1b[0m\n");
    ASSERT_STR_EQ(log_on_pty(AC_LOG_INFO, "calibrated"), "astrocald: calibrated\x1b[0m\n");
}

TEST(log_on_a_terminal_honours_no_color)
{
    setenv("NO_COLOR", "1", 1);
    ASSERT_STR_EQ(log_on_pty(AC_LOG_WARNING, "disk slow"), "astrocald: warning: disk slow\n");
    setenv("NO_COLOR", "", 1); /* empty: colour stays on (no-color.org) */
    setenv("TERM", "dumb", 1);
    ASSERT_STR_EQ(log_on_pty(AC_LOG_NOTICE, "started"), "astrocald: started\n");
    unsetenv("NO_COLOR");
    setenv("TERM", "xterm", 1);
}

TEST(log_remembers_the_last_error_for_status)
{
    char buf[256];

    ac_log_set_sink(capture_sink);
    ac_log_err("first %d", 1);
    ac_log_warn("only a warning");
    ac_log_err("second %s", "fail");
    ac_log_set_sink(NULL);
    ASSERT(ac_log_last_error(buf, sizeof buf) > 1.7e9);
    ASSERT_STR_EQ(buf, "second fail");
}
