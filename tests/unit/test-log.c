/*
 * test-log.c - common/log.c: one message is one line, whatever the message holds.
 */
#include <fcntl.h>
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
    ac_log_err("file %s failed", "a\nb.fits");
    dup2(saved, STDERR_FILENO);
    close(saved);
    n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    ASSERT(n > 0);
    ASSERT_STR_EQ(buf, "<3>file a\\nb.fits failed\n");
}
