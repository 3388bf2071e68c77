/*
 * engine.h - calibrate one light frame end to end: read it in strips, calibrate, measure,
 * write the float32 result atomically (orchestrates imgio, calib, quality, imgout).
 *
 * Thread: any (a pool thread, in the daemon and in the one-shot mode). It reads nothing
 * but the light and writes nothing but the output (and its temporary file); the masters
 * arrive prepared in an immutable, shared ac_calset_t.
 *
 * Memory per job is bounded whatever the frame size: one float strip buffer
 * (strip rows x width, plus 2 context rows above and below for cosmetic correction), the
 * reader's raw scratch of the same rows, and the writer's buffer. ac_engine_strip_rows
 * chooses the rows from opts->job_memory (default 32 MiB).
 *
 * With opts->hash_output the engine also returns the SHA-256 of the output file without
 * reading it back: it makes two passes over the light. Pass 1 calibrates each strip (and
 * fixes hot pixels) for the quality figures and the FITS DATASUM only, writing nothing;
 * the header is then final, and pass 2 reads the light again (from the page cache),
 * calibrates it again (deterministic: the same bits) and writes it with the writer's
 * sequential mode (ac_imgout_open_final), which hashes the file in order as it is written.
 * The extra cost is a cached read and a calibration per frame (the SHA-256 itself costs
 * the same either way) instead of reading back the whole float32 output from disk; the
 * times in ac_light_result_t add up both passes. Where the second pass would cost more than
 * reading back, the engine makes one pass and the writer reads the file back to hash it: for
 * compressed output (small, still in the page cache), and for compressed input (a file
 * smaller than its pixel data: .fz or gzip, which would be decoded twice).
 * Cancelling, progress (rows_total counts both passes) and the result are otherwise the
 * same, and so is the output file but for the times it records (CALDATE, the "Calibrated
 * by ... on" HISTORY line, the DATASUM and CHECKSUM comments, hence the CHECKSUM value).
 *
 * Ownership: ac_engine_calibrate_light borrows everything it is given and fills *res.
 * The ac_workbuf_t is owned by the caller and reused from job to job (fresh memory is
 * expensive to touch on these machines); one workbuf per job in flight.
 * Thread: ac_engine_calibrate_light runs on any thread (pool threads); it touches no
 * global state except logging.
 */
#ifndef AC_ENGINE_H
#define AC_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calib.h"
#include "err.h"
#include "imgout.h"
#include "quality.h"

/* A provider of the masters' MD5s when they are not known as a light starts (the
 * one-shot hashes its masters while its first lights run; see late_md5s below). Fills
 * md5[0..3] (bias, dark, flat, flat-dark; "" for a master not given) and returns 0, or an
 * error naming the master that fails the light. May block until the MD5s are known. */
typedef int (*ac_engine_md5s_fn)(void *ud, char md5[4][33], ac_err_t *e);

typedef struct ac_engine_opts {
    ac_calib_opts_t calib;
    ac_imgout_opts_t out;
    char output_dir[4096]; /* "" writes beside each light */
    char suffix[64];       /* appended to the light's stem, default "_calibrated" */
    char out_path[4096];   /* "" (default): output_dir and suffix; else the output itself
                              (a recalibration's staged file, recalfile.h) */
    size_t job_memory;     /* bytes per job for strips and the writer (32 MiB) */
    bool hash_output;      /* fill ac_light_result_t.sha256 (false; the daemon: true) */
    /* "": the pixels are read from light_path. Else from this file, a downloaded copy of
     * the light (cloud sync); the output is still named and placed after light_path. */
    char input_path[4096];
    /* NULL: the set's MD5s are final when the light starts (the daemon's sets). Else the
     * output's MD5 cards (BIASMD5, DARKMD5, FLATMD5, FDRKMD5) are written empty and filled
     * from late_md5s(late_md5s_ud, ...), called on the light's thread just before its
     * header is final (at commit; with hash_output before the second pass); its failure
     * fails the light and nothing is committed. */
    ac_engine_md5s_fn late_md5s;
    void *late_md5s_ud;
} ac_engine_opts_t;

void ac_engine_opts_default(ac_engine_opts_t *o);

/* A reusable strip buffer. Zero-initialise; ac_workbuf_free releases it. */
typedef struct ac_workbuf {
    float *strip;
    size_t cap; /* floats */
} ac_workbuf_t;

void ac_workbuf_free(ac_workbuf_t *wb);

/* What happened to one light. */
typedef struct ac_light_result {
    int status; /* 0 or an error code; err holds the message */
    ac_err_t err;
    char light_path[4096];
    char out_path[4096];
    ac_quality_t quality;
    double k; /* dark scale applied */
    double pedestal;
    size_t hot_fixed;
    size_t out_bytes;
    uint64_t in_bytes;                        /* data bytes read from the light */
    double t_total, t_read, t_calib, t_write; /* seconds */
    char steps[128];                          /* e.g. "bias,dark(k=1.000),flat" */
    char warning[512];                        /* non-fatal notes, "" when none */
    char sha256[65]; /* hex SHA-256 of the output with hash_output, else "" */
} ac_light_result_t;

/* ac_engine_output_path builds the output path for light_path with opts (directory and
 * suffix; ".fits", or ".fits.fz" when compressing; opts->out_path when set). 0 or
 * -ENAMETOOLONG. */
int ac_engine_output_path(const char *light_path, const ac_engine_opts_t *o, char *out,
                          size_t size);

/* ac_engine_strip_rows returns the rows per strip for a frame of width w whose stored
 * pixels take raw_bytes each, so that a job fits in opts->job_memory (at least 1 row,
 * at most 256). */
int ac_engine_strip_rows(const ac_engine_opts_t *o, int w, int raw_bytes);

/* Steps a running job reports (ac_engine_ctl_t.step). */
enum ac_engine_step {
    AC_STEP_QUEUED = 0,
    AC_STEP_READING,     /* opening and validating the light */
    AC_STEP_CALIBRATING, /* streaming strips: read, calibrate, write */
    AC_STEP_COMMITTING,  /* checksums, fsync, rename */
    AC_STEP_DONE,
};

/* Shared between the thread running a job and the loop thread watching it: the loop sets
 * cancel; the job publishes its step and the rows done so far. Zero-initialise. */
typedef struct ac_engine_ctl {
    atomic_int cancel;
    atomic_int step;
    atomic_int rows_done;
    atomic_int rows_total;
} ac_engine_ctl_t;

/* ac_engine_calibrate_light calibrates light_path with cs and writes the result.
 * ctl (may be NULL) is polled for cancel between strips; when it becomes non-zero the job
 * stops with AC_ECANCELED and leaves no file behind. Returns res->status. */
int ac_engine_calibrate_light(const ac_calset_t *cs, const char *light_path,
                              const ac_engine_opts_t *o, ac_workbuf_t *wb, ac_engine_ctl_t *ctl,
                              ac_light_result_t *res);

/* Strips shown to a preview: calibrated false for the rows as read (ADU), true for the
 * same rows calibrated (and hot pixels fixed). rows holds n rows from y0, width of the
 * light; borrowed for the call. */
typedef void (*ac_engine_rows_fn)(void *ud, bool calibrated, const float *rows, int y0, int n);

/* ac_engine_preview_light runs ac_engine_calibrate_light's checks and calibration of
 * light_path with cs, showing every strip to rows_fn (raw, then calibrated), and fills the
 * quality figures, k, pedestal and steps of res; it writes nothing, anywhere. Memory is
 * the same strip buffer. Returns res->status. */
int ac_engine_preview_light(const ac_calset_t *cs, const char *light_path,
                            const ac_engine_opts_t *o, ac_workbuf_t *wb, ac_engine_ctl_t *ctl,
                            ac_engine_rows_fn rows_fn, void *ud, ac_light_result_t *res);

/* ac_engine_steps_string describes what cs applies, e.g. "bias,dark(k=1.500),flat". */
void ac_engine_steps_string(const ac_calset_t *cs, double k, char *out, size_t size);

#endif
