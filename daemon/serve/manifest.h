/*
 * manifest.h - the lines of a cluster manifest and of its results (docs/cluster.md):
 * written by the export (the daemon, from its planner), read by `astrocald calibrate
 * --manifest` (oneshot_manifest.c) and by the import of results.
 *
 * A manifest line says everything the calibration of one light needs, exactly as the daemon
 * would do it: the light, its catalogue ids, its masters (paths and the MD5s the catalogue
 * expects), the dark scale the planner chose, the engine's options and the output path.
 *
 * Ownership: the json_t returned are the caller's. Thread: any.
 */
#ifndef AC_MANIFEST_H
#define AC_MANIFEST_H

#include <jansson.h>

#include "engine.h"
#include "err.h"
#include "masters.h"

#define AC_MANIFEST_VERSION 1

/* Keys of the masters object, in AC_M_* order: "bias", "dark", "flat", "flat_dark". */
extern const char *const ac_manifest_master_key[AC_M_COUNT];

/* ac_manifest_opts_json describes o (calibration and output options) as the manifest's
 * "options" object. NULL when out of memory. */
json_t *ac_manifest_opts_json(const ac_engine_opts_t *o);

/* ac_manifest_opts_parse fills *o from an "options" object (every key required, so that a
 * manifest never silently falls back to a default). 0 or AC_EFORMAT naming the key. The
 * output is durable and hashed (as in the daemon). */
int ac_manifest_opts_parse(const json_t *opts, ac_engine_opts_t *o, ac_err_t *e);

/* One light of a manifest, parsed (strings borrowed from the json_t it came from). */
typedef struct ac_manifest_light {
    const char *file_id, *session_id, *light, *output;
    /* A recalibration in place (export --calibrated-with): the existing output, the same
     * as output; the shard writes beside it (recalfile.h STAGED), the import swaps it in.
     * NULL for a light calibrated for the first time. */
    const char *replaces;
    const char *mpath[AC_M_COUNT], *md5[AC_M_COUNT]; /* NULL when absent */
    double k;
    json_int_t bytes;
    const json_t *options;
} ac_manifest_light_t;

/* ac_manifest_light_parse checks and reads one manifest line. 0 or AC_EFORMAT with the
 * field at fault. */
int ac_manifest_light_parse(const json_t *line, ac_manifest_light_t *m, ac_err_t *e);

/* ac_manifest_line_hash writes the SHA-256 (hex) of the compact, key-sorted form of line
 * into hex[65]: what a result line names as "manifest". 0 or -ENOMEM. */
int ac_manifest_line_hash(const json_t *line, char hex[65]);

#endif
