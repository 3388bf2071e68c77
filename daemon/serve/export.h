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

void ac_import_results_cmd(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args);

#endif
