/*
 * grading.h - the grading stage's pool work on one calibrated output (issue 11): measure
 * its stars and write the figures into its header, or write/remove the QREJECT card.
 *
 * ac_grading_measure loads the output (the whole float image: 4 bytes a pixel, plus the
 * star measurement's working image, work/stars.h), counts its NaN/inf pixels, measures the
 * stars (the image scale from PIXSCALE, or FOCALLEN and XPIXSZ, and the gain from EGAIN
 * of the output's header), and writes the cards of core/grade.h ac_grade_cards through
 * io/hdrupdate.h (checked against expect_sha256 first; the new SHA-256 returned).
 * ac_grading_mark writes QREJECT = reasons (cut to fit) when reasons is not NULL, else
 * removes QREJECT, the same way.
 *
 * Ownership: everything borrowed; the caller owns the outputs. Thread: any (pool threads),
 * one call per file at a time.
 */
#ifndef AC_GRADING_H
#define AC_GRADING_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "grade.h"

typedef struct ac_grading_res {
    ac_grade_fig_t fig;
    double fwhm_arcsec, hfr_arcsec; /* NAN without a scale */
    char sha256[65];                /* of the file after the update */
    double t_measure, t_total;      /* seconds (wall) */
    double t_cpu;                   /* CPU seconds of the calling thread for the call */
} ac_grading_res_t;

/* ac_grading_measure: see above. write_header false measures only (no card, no hash).
 * Returns 0, -ESTALE (the file changed), AC_EFITS, AC_EFORMAT, -ENOMEM or -errno. */
int ac_grading_measure(const char *path, const char *expect_sha256, bool write_header,
                       ac_grading_res_t *r, ac_err_t *e);

/* ac_grading_mark: see above. sha256 (size >= 65) receives the new hash. */
int ac_grading_mark(const char *path, const char *reasons, const char *expect_sha256,
                    char *sha256, size_t size, ac_err_t *e);

#endif
