/*
 * export.h - the control commands of cluster reprocessing (docs/cluster.md,
 * docs/protocol.md): `export` (export.c) hands out the selected lights as manifest lines;
 * `import_results` (import_results.c) records the results that come back.
 *
 * Thread: loop thread (handlers of ctlcmd.c's table).
 */
#ifndef AC_EXPORT_H
#define AC_EXPORT_H

#include <jansson.h>

#include "daemon.h"

void ac_export_cmd(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args);
/* ac_export_now: the wall clock in unix seconds (hand-out expiries, the queue's
 * not_before). */
double ac_export_now(void);

/* ac_export_masters_json describes the plan's masters as a manifest's "masters" object,
 * or returns NULL with why (size bytes) when one has no MD5 in the catalogue. */
json_t *ac_export_masters_json(const ac_plan_t *plan, char *why, size_t size);

/* ac_export_recal_lines appends to lines the manifest lines that recalibrate in place
 * every done light calibrated with the master spec names (export_recal.c, docs/cluster.md
 * "Recalibrating what a master was used for"), and to skipped the sessions refused with
 * their reasons. 0, or an error that fails the whole export (no such master, nothing
 * calibrated with it, the catalogue). */
int ac_export_recal_lines(ac_daemon_t *d, const char *spec, json_t *lines, json_t *skipped,
                          ac_err_t *e);

void ac_import_results_cmd(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args);

#endif
