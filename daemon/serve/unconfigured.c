/*
 * unconfigured.c - astrocald before it has a catalogue (unconfigured.h).
 *
 * Thread: main() only, on a loop of its own.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sysexits.h>
#include <uv.h>

#include "conffile.h"
#include "log.h"
#include "sdnotify.h"
#include "unconfigured.h"

struct waiter {
    uv_signal_t term, intr, hup;
    uv_timer_t watchdog;
    const char *config_path;
};

static void watchdog_cb(uv_timer_t *t)
{
    (void)t;
    ac_sd_watchdog_ping();
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct waiter *w = h->data;

    if (signum == SIGHUP) {
        struct ac_config c;
        ac_err_t e = {0};

        ac_config_default(&c);
        if (ac_config_load(&c, w->config_path, &e) != 0)
            ac_log_err("reload: %s", e.msg);
        else if (c.database[0] != '\0')
            ac_log_notice("[DAEMON] database is set now (%s): restart astrocald to use it",
                          c.database);
        else
            ac_log_notice("reload: [DAEMON] database in %s is still empty", w->config_path);
        return;
    }
    ac_sd_stopping();
    uv_close((uv_handle_t *)&w->term, NULL);
    uv_close((uv_handle_t *)&w->intr, NULL);
    uv_close((uv_handle_t *)&w->hup, NULL);
    uv_close((uv_handle_t *)&w->watchdog, NULL);
}

int ac_unconfigured_run(const struct ac_config *cfg, const char *config_path, bool drain)
{
    struct waiter w = {.config_path = config_path};
    uv_loop_t loop;
    uint64_t usec = 0;
    char status[4200];

    ac_log_set_level(cfg->log_level);
    if (drain) {
        ac_log_err("no database configured: set [DAEMON] database in %s", config_path);
        return EX_CONFIG;
    }
    if (uv_loop_init(&loop) != 0) {
        ac_log_err("cannot create the event loop");
        return EX_OSERR;
    }
    w.term.data = w.intr.data = w.hup.data = &w;
    uv_signal_init(&loop, &w.term);
    uv_signal_init(&loop, &w.intr);
    uv_signal_init(&loop, &w.hup);
    uv_timer_init(&loop, &w.watchdog);
    uv_signal_start(&w.term, on_signal, SIGTERM);
    uv_signal_start(&w.intr, on_signal, SIGINT);
    uv_signal_start(&w.hup, on_signal, SIGHUP);
    if (ac_sd_watchdog_usec(&usec) > 0 && usec >= 2000)
        uv_timer_start(&w.watchdog, watchdog_cb, usec / 2000, usec / 2000);
    ac_log_notice("no database configured: set [DAEMON] database in %s to AstroFiler's "
                  "catalogue, then restart astrocald; waiting, doing nothing",
                  config_path);
    snprintf(status, sizeof status, "waiting: no database configured ([DAEMON] database in %s)",
             config_path);
    ac_sd_ready(status);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}
