/*
 * clusterfix.h - a daemon with a catalogue of three light sessions, paused, whose lights
 * are exported to shards (test-cluster.c, test-slurm.c), and the checks after import.
 * Defined once in clusterfix.c. Failures fail the test. Thread: the test's thread.
 */
#ifndef AC_INTEG_CLUSTERFIX_H
#define AC_INTEG_CLUSTERFIX_H

#include "harness.h"
#include "nightfix.h"

struct cluster {
    ac_harness_t h;
    struct night nt;
    int nshards;
};

/* cluster_start makes n lights in sessions S-1..S-3 (light i in S-(i%3+1)), starts the
 * daemon paused (global pause) and registers the masters with their MD5s; returns once
 * every session is queued. */
void cluster_start(struct cluster *cl, int n);

/* cluster_export runs `astrocalctl export --all-uncalibrated --shards N --out exp` (plus
 * extra, NULL or a NULL-terminated list) and checks that the shards hold every light
 * once; cl->nshards is the number written. */
void cluster_export_with(struct cluster *cl, int shards, const char *const *extra);
void cluster_export(struct cluster *cl, int shards);

/* cluster_run_shard runs shard s as its array task does; returns the exit status. */
int cluster_run_shard(struct cluster *cl, int s);

/* cluster_check_done checks every light calibrated exactly once (queue, fitsfile rows,
 * astrocal_record, no hand-out left) with the one-shot's pixels. */
void cluster_check_done(struct cluster *cl);

void cluster_stop(struct cluster *cl);

#endif
