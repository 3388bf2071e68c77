/*
 * cluster.h - astrocalctl's cluster commands (docs/cluster.md): `export` writes the
 * daemon's manifest lines into shard files (balanced by bytes, a session's lights
 * together when possible) and, with --slurm, a Slurm job-array script; `import-results`
 * sends the shards' result lines back in requests that fit the protocol's line limit.
 * The daemon needs no access to the shard folder: astrocalctl reads and writes it.
 *
 * Thread: astrocalctl's single thread.
 */
#ifndef AC_CTL_CLUSTER_H
#define AC_CTL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "commands.h"

/* Sends one request (args taken) and waits for its reply: 0 with *result (owned), or a
 * non-zero exit status after reporting the error (the daemon's, or the connection's). */
typedef int (*ctl_send_fn)(void *ud, const char *cmd, json_t *args, json_t **result);

/* ctl_cluster_is says whether name is one of the commands here. */
bool ctl_cluster_is(const char *name);

/* ctl_cluster_check validates the command line before anything is sent (export: --shards,
 * --out a new or empty folder). 0 or an exit status (the message printed). */
int ctl_cluster_check(const ctl_cmd_t *cmd, ctl_parsed_t *p);

/* ctl_cluster_run runs the command through send and prints its outcome (JSON with json).
 * Returns the exit status. */
int ctl_cluster_run(const ctl_cmd_t *cmd, ctl_parsed_t *p, bool json, ctl_send_fn send,
                    void *ud);

#endif
