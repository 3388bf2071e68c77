/*
 * oneshot.h - `astrocald calibrate`: calibrate files with no database and no socket.
 *
 *   astrocald calibrate [--bias FILE] [--dark FILE] [--flat FILE] [--flat-dark FILE]
 *                       [--output-dir DIR] [--suffix S] [--jobs N] [--sync] [--force]
 *                       [--json] [options...] LIGHT...
 *
 * Masters are loaded once and prepared once per dark scale; lights run in parallel on the
 * libuv thread pool (--jobs), each in bounded memory. One line of result per file (output
 * path, steps, quality figures, or the error), then a summary. A bad light never stops
 * the others. docs/calibration.md lists every option.
 *
 * Thread: ac_oneshot_main runs on the main thread and owns its loop; only main() calls it.
 */
#ifndef AC_ONESHOT_H
#define AC_ONESHOT_H

#include <jansson.h>

/* ac_oneshot_main runs the subcommand with argv[0] = "calibrate" and returns the process
 * exit status: 0 when every file succeeded, 1 when any failed, 64 for usage errors. */
int ac_oneshot_main(int argc, char **argv);

struct ac_light_result;
/* ac_oneshot_result_json is the --json line of one light (oneshot_json.c): file, ok, and
 * output, steps, dark_scale, pedestal, quality, seconds (warning) or error {code, message}
 * with a code of common/proto.h. Owned by the caller; NULL when out of memory. */
json_t *ac_oneshot_result_json(const char *path, const struct ac_light_result *r);

/* ac_oneshot_usage prints the option summary to the given stream (FILE *). */
void ac_oneshot_usage(void *stream);

#endif
