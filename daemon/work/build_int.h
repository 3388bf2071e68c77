/*
 * build_int.h - what build.c (the build's passes) and build_hdr.c (the master's
 * header and its quality check) share: the state of one build on its pool thread. Not part
 * of the builder's contract (see build.h). The functions below are build_hdr.c's: build.c
 * calls them, build_hdr.c calls nothing of build.c (the dependency is one-way).
 *
 * Thread: one struct job per build, touched only by the thread running it.
 */
#ifndef AC_BUILDER_INT_H
#define AC_BUILDER_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "build.h"
#include "hdr.h"
#include "imgio.h"
#include "quality.h"
#include "stack.h"

/* A sub-frame given to the build. */
struct sub {
    const char *path;
    ac_imgin_t *in;
    const ac_meta_t *m;
    bool used;
    double median, mean, raw_mean; /* flats, from the pilot */
};

/* One build in progress. */
struct job {
    const ac_build_spec_t *sp;
    const ac_build_opts_t *o;
    ac_build_result_t *res;
    atomic_int *cancel;
    struct sub *subs;
    int nsubs;
    struct sub **used; /* the subs combined */
    int nused;
    ac_imgin_t *bias, *fd; /* prerequisites opened */
    bool sub_bias, sub_fd; /* what is subtracted from every sub */
    int w, h, rows;
    ac_stack_opts_t so;
    ac_stack_work_t *work;
    ac_stack_stats_t st;
    float **strip; /* nused strips of rows * w */
    float *bias_strip, *fd_strip, *out;
    double *scale; /* flats: per used sub */
    double hot_thr;
    ac_err_t *e;
};

/* ac_build_median_exptime returns the median EXPTIME of the subs in use, as one of their
 * exposures (ac_stats_median_high_d: the higher middle one for an even count); NAN when
 * none has one, or without memory. */
double ac_build_median_exptime(const struct sub *subs, int nsubs);

/* ac_build_header_facts fills the result's header facts (equipment, exposure, mean
 * temperature, camera settings, earliest DATE-OBS) from the used subs. */
void ac_build_header_facts(struct job *j);

/* ac_build_header builds the master's header (the first sub's cards minus those it
 * rewrites, then type, counts, settings, provenance, combination and HISTORY). 0 or
 * -ENOMEM (message in j->e). */
int ac_build_header(struct job *j, ac_hdr_t *h);

/* ac_build_quality_cards appends the quality figures (written at commit). 0 or -EINVAL. */
int ac_build_quality_cards(const struct job *j, ac_hdr_t *h);

/* ac_build_judge computes the quality figures from the counts and samples and writes the
 * reason for rejecting the master into why ("" when it passes). */
void ac_build_judge(struct job *j, ac_quality_acc_t *q, uint64_t hot, uint64_t nan_px,
                    char *why, size_t size);

#endif
