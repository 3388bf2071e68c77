/*
 * oneshot_int.h - what the one-shot mode's files share (oneshot.c, oneshot_grade.c); not
 * part of oneshot.h's contract.
 *
 * Thread: the main thread.
 */
#ifndef AC_ONESHOT_INT_H
#define AC_ONESHOT_INT_H

#include <stdbool.h>

#include <uv.h>

/* ac_oneshot_grade grades the n calibrated outputs (paths borrowed) on loop's pool, at most
 * jobs at a time, judges them together (core/grade.h defaults), writes QREJECT into the
 * rejected ones and prints one line per output (json: one object) and a summary. Uses
 * loop->data. Returns 0, or 1 when an output could not be measured. */
int ac_oneshot_grade(uv_loop_t *loop, const char *const *outputs, int n, int jobs, bool json,
                     bool quiet);

#endif
