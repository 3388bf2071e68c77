/*
 * unconfigured.h - astrocald before it has a catalogue: [DAEMON] database is empty.
 *
 * The packaged /etc/astrocald/astrocald.conf ships with `database = ""` so that a freshly
 * installed (and enabled) service neither fails nor creates a catalogue nobody asked for.
 * In that state the daemon only waits: READY=1 with STATUS= saying what is missing, the
 * same sentence in the log (the journal), watchdog pings, a log line on SIGHUP, exit 0 on
 * SIGTERM or SIGINT. It touches no file: no state directory, lock, socket or database.
 *
 * Thread: main() only, before any other thread exists; runs its own libuv loop.
 */
#ifndef AC_UNCONFIGURED_H
#define AC_UNCONFIGURED_H

#include <stdbool.h>

#include "config.h"

/* ac_unconfigured_run waits as described above until SIGTERM or SIGINT and returns 0; with
 * drain (nothing can ever be calibrated) it logs why and returns EX_CONFIG at once.
 * config_path names the file in messages and is re-read on SIGHUP; cfg gives the log
 * level. Returns 0, EX_CONFIG, or EX_OSERR when the event loop cannot be set up. */
int ac_unconfigured_run(const struct ac_config *cfg, const char *config_path, bool drain);

#endif
