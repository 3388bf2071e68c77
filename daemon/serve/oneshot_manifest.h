/*
 * oneshot_manifest.h - `astrocald calibrate --manifest SHARD.jsonl --results OUT.jsonl`:
 * calibrate one shard of an exported archive (docs/cluster.md) with no database and no
 * socket, the way the daemon calibrates each light (its masters, MD5-checked; its dark
 * scale; its options), writing one result line per light.
 *
 * The manifest line (v 1): light, file_id, session_id, bytes, masters {bias, dark, flat,
 * flat_dark: {path, md5}}, dark_scale, options {...}, output. The result line: v, file_id,
 * session_id, light, manifest (SHA-256 of the manifest line), ok, and output, sha256,
 * masters_md5, steps, dark_scale, pedestal, quality, timings, warning, or error {code,
 * message}.
 *
 * Idempotent: a light is skipped (its earlier result line kept as it is) when the results
 * file already holds a successful line for it made from the very same manifest line (same
 * SHA-256) and its output exists with the SHA-256 recorded ("complete and verified").
 * Everything else is calibrated again; outputs are written atomically (io/outfile.c), so a
 * killed run leaves each output complete or absent. The results file is rewritten
 * atomically at the start (verified lines only) and appended to, one line per light, as
 * each finishes; a line cut short by a kill is ignored by the next run.
 *
 * Thread: main thread (the lights and the verifications run on the libuv pool).
 */
#ifndef AC_ONESHOT_MANIFEST_H
#define AC_ONESHOT_MANIFEST_H

#include <stdbool.h>

/* ac_oneshot_manifest_wanted says whether argv (argv[0] = "calibrate") asks for the
 * manifest mode (--manifest given). */
bool ac_oneshot_manifest_wanted(int argc, char **argv);

/* ac_oneshot_manifest_main runs it: 0 when every light is calibrated (or verified), 1 when
 * any failed, 64 for usage errors, 65 for a manifest that cannot be read (the line and why).
 */
int ac_oneshot_manifest_main(int argc, char **argv);

#endif
