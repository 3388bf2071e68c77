/*
 * preview_job.h - one calibration preview, end to end on a pool thread: load the masters
 * (checksums checked where the catalogue has them), decide the dark scale unless the plan
 * gave it, calibrate the light in memory strip by strip (ac_engine_preview_light: nothing
 * is written anywhere), bin and debayer raw and calibrated halves (core/preview.h), stretch
 * both, draw the caption and encode the PNG in memory (io/pngout.h).
 *
 * Memory: the masters as float32 (as a master cache set), one strip buffer of
 * job_memory, and two binned images of at most max_w x max_h pixels.
 *
 * Ownership: the caller fills the inputs and owns the job; ac_preview_job_clear frees
 * the outputs. Thread: ac_preview_job_run on any thread (a pool thread); it touches only
 * the job and the files it reads.
 */
#ifndef AC_PREVIEW_JOB_H
#define AC_PREVIEW_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "masters.h"
#include "preview.h"

typedef struct ac_preview_job {
    /* In. */
    char light[4096];
    char master[AC_M_COUNT][4096]; /* "" when absent */
    char md5[AC_M_COUNT][33];      /* expected MD5, "" when unknown */
    bool have_k;                   /* the plan's dark scale; else decided from the files */
    double k;
    ac_engine_opts_t eng; /* calibration options and job_memory */
    int max_w, max_h;     /* of each half, pixels */
    /* Out. */
    int status; /* 0 or an error code; err says why */
    ac_err_t err;
    ac_light_result_t res;           /* quality, k, pedestal, steps, warnings */
    ac_stf_t stf_raw[3], stf_cal[3]; /* red, green, blue (mono: three copies) */
    int bin;                         /* light pixels per preview pixel side */
    bool colour;
    unsigned char *png; /* owned */
    size_t png_len;
    int width, height; /* of the PNG */
    char caption[1024];
} ac_preview_job_t;

/* ac_preview_job_run does the whole preview; returns j->status. */
int ac_preview_job_run(ac_preview_job_t *j);

/* ac_preview_job_clear frees the PNG. */
void ac_preview_job_clear(ac_preview_job_t *j);

#endif
