/*
 * ctlcmd_int.h - what the control command files share (ctlcmd.c, ctlcmd_ops.c): strict
 * argument decoding, error replies, and the handlers the table in ctlcmd.c dispatches to.
 *
 * Thread: loop thread only.
 */
#ifndef AC_CTLCMD_INT_H
#define AC_CTLCMD_INT_H

#include <stdbool.h>

#include <jansson.h>

#include "ctlsrv.h"
#include "daemon.h"
#include "err.h"

/* ac_ctlcmd_unpack validates args strictly against fmt (json_unpack; unknown keys are
 * errors); replies bad_args and returns false on failure. */
bool ac_ctlcmd_unpack(ac_ctlsrv_client_t *c, json_t *id, json_t *args, const char *fmt, ...);

/* ac_ctlcmd_reply_err replies the error e with its protocol code. */
void ac_ctlcmd_reply_err(ac_ctlsrv_client_t *c, json_t *id, const ac_err_t *e);

/* ctlcmd_ops.c: grading (issue 11) and masters chosen by hand (issue 10). */
void ac_ctlcmd_grade(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args);
void ac_ctlcmd_accept(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args);
void ac_ctlcmd_reject(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args);
void ac_ctlcmd_regrade(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args);
void ac_ctlcmd_use(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args);
void ac_ctlcmd_recalibrate(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args);

#endif
