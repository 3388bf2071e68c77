/*
 * grader.h - the grading stage's own low-priority thread (issue 11, docs/grading.md).
 *
 * Grading a 26-megapixel light costs about a second of CPU (bench/grading.md), twenty
 * times its calibration, so it never runs on the libuv pool beside the calibration jobs:
 * one thread of its own, under SCHED_IDLE (else nice 19), runs one task at a time (measure
 * a calibrated output and write its cards, or write/remove its QREJECT card:
 * work/grading.h) and reports back to the loop through a uv_async_t. The scheduler hands it
 * a task only when no calibration is in flight (sched_grade.c); the kernel's idle class
 * keeps it off the CPU while anything else wants it.
 *
 * Ownership: the scheduler owns the grader (ac_grader_new / ac_grader_close, which joins
 * the thread once its task, if any, is done). Tasks are copied.
 * Thread: ac_grader_* on the loop thread only; the done callback runs on the loop thread.
 */
#ifndef AC_GRADER_H
#define AC_GRADER_H

#include <stdbool.h>

#include <uv.h>

#include "catalog_grade.h"
#include "err.h"
#include "grading.h"

typedef struct ac_grader ac_grader_t;

/* The outcome of one task: rc 0 or an error code (err.msg says why). Borrowed for the
 * call. */
typedef void (*ac_grader_done_fn)(void *ud, const ac_grade_task_t *t, const ac_grading_res_t *r,
                                  int rc, const ac_err_t *err);

/* ac_grader_new makes a grader on loop (its thread starts with the first task). 0 or an
 * error code. */
int ac_grader_new(uv_loop_t *loop, ac_grader_done_fn done, void *ud, ac_grader_t **out,
                  ac_err_t *e);

/* ac_grader_busy says whether a task is running (or its result not yet delivered). */
bool ac_grader_busy(const ac_grader_t *g);

/* ac_grader_submit starts t (copied). -EBUSY while busy, or an error starting the thread. */
int ac_grader_submit(ac_grader_t *g, const ac_grade_task_t *t, ac_err_t *e);

/* ac_grader_close stops the thread (after its task) and frees g once its handle closed.
 * NULL-safe. */
void ac_grader_close(ac_grader_t *g);

#endif
