/*
 * test-unconfigured.c - the real binary with `database = ""`, as the Debian package ships
 * /etc/astrocald/astrocald.conf: --check-config accepts it and says astrocald will wait;
 * the daemon becomes ready with STATUS= and a log line saying "no database configured",
 * pings the watchdog, survives SIGHUP (naming the database once it is set), creates
 * nothing (no database, lock, socket or state directory) and stops on SIGTERM with 0;
 * --drain refuses with 78.
 */
#include <sys/stat.h>

#include "harness.h"
#include "support.h"

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

TEST(unconfigured_daemon_waits_and_creates_nothing)
{
    ac_harness_t h;
    const char *check[] = {AC_ASTROCALD_BIN, "--check-config", "--config", NULL, NULL};
    char *out = NULL, *err = NULL, *log;
    const char *status;

    ac_harness_init(&h);
    rmdir(h.state_dir);
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){"DAEMON.database=\"\"", NULL}));
    check[3] = h.config;
    ASSERT_EQ(ac_harness_run(&h, check, 10000, &out, &err), 0);
    ASSERT_CONTAINS(out, "configuration is valid");
    ASSERT_CONTAINS(out, "no [DAEMON] database configured: astrocald will wait");
    free(out);
    free(err);

    h.watchdog_usec = 200000; /* pings every 100 ms */
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 10000));
    status = ac_harness_notify_last(&h, "STATUS=");
    ASSERT_NOT_NULL(status);
    ASSERT_CONTAINS(status, "no database configured");
    ASSERT_CONTAINS(status, h.config);
    ASSERT_NOT_NULL(ac_harness_notify_wait(&h, "WATCHDOG=1", 5000));

    /* SIGHUP with the database now set: noted, still waiting (it takes effect at restart). */
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    kill(h.pid, SIGHUP);
    ac_harness_sleep_ms(300);
    ASSERT_EQ(waitpid(h.pid, NULL, WNOHANG), 0);

    ASSERT_EQ(ac_harness_stop(&h, 10000), 0);
    ASSERT(ac_harness_notify_count(&h, "STOPPING=1") >= 1);
    log = ac_harness_read_file(h.log_path);
    ASSERT_CONTAINS(log, "no database configured: set [DAEMON] database in");
    ASSERT_CONTAINS(log, "[DAEMON] database is set now");
    free(log);
    ASSERT(!exists(h.database));
    ASSERT(!exists(h.socket));
    ASSERT(!exists(h.state_dir));
    ac_harness_free(&h);
}

TEST(unconfigured_drain_refuses)
{
    ac_harness_t h;
    const char *drain[] = {AC_ASTROCALD_BIN, "--config", NULL, "--drain", NULL};
    char *err = NULL;

    ac_harness_init(&h);
    ASSERT_OK(ac_harness_write_config(&h, (const char *[]){"DAEMON.database=\"\"", NULL}));
    drain[2] = h.config;
    ASSERT_EQ(ac_harness_run(&h, drain, 10000, NULL, &err), 78);
    ASSERT_CONTAINS(err, "no database configured");
    ASSERT(!exists(h.database));
    free(err);
    ac_harness_free(&h);
}
