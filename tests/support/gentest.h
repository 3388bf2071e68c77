/*
 * gentest.h - helpers of the generator tests (tests/unit/test-fitsgen*.c): small cameras,
 * checked generator calls, images and header cards read back with cfitsio
 * (tests/support/fitsread.h), a median. Built once into the ac_testunit library
 * (gentest.c). Failures fail the test. Thread: the test's thread.
 */
#ifndef AC_GENTEST_H
#define AC_GENTEST_H

#include <stddef.h>
#include <stdint.h>

#include "fitsgen.h"
#include "fitsread.h"
#include "test.h"

/* The size of the small camera. */
#define GENTEST_W 128
#define GENTEST_H 96

/* small_cam sets *cam to the default camera of seed at GENTEST_W x GENTEST_H. */
void small_cam(ac_gen_camera_t *cam, uint64_t seed);

/* plain_cam sets *cam to small_cam(cam, 11) with no fixed pattern, no hot pixels, no stars,
 * no dust, no PRNU, no gradient and no temperature jitter, so that every term can be
 * computed by hand. */
void plain_cam(ac_gen_camera_t *cam);

/* gen_new returns ac_gen_new(cam), owned by the caller (ac_gen_free). */
ac_gen_t *gen_new(const ac_gen_camera_t *cam);

/* small_gen is small_cam(cam, seed) then gen_new(cam). */
ac_gen_t *small_gen(ac_gen_camera_t *cam, uint64_t seed);

/* write_frame writes frame f of g to path. */
void write_frame(ac_gen_t *g, const ac_gen_frame_t *f, const char *path);

/* The size and BITPIX of the last image read by read_image; tests that read an HDU's
 * parameters themselves may store into img_bitpix too. */
extern int img_w, img_h, img_bitpix;

/* read_image reads the image of path (past the empty primary of a .fz file) as doubles,
 * owned by the caller (free), and sets img_w, img_h and img_bitpix. */
double *read_image(const char *path);

/* median returns the median of the n >= 1 values v (v is not changed). */
double median(const double *v, size_t n);

/* ASSERT_CARD compares the raw value field of a keyword of the image HDU (quotes kept; ""
 * when absent) with want. */
#define ASSERT_CARD(path, key, want)                                                           \
    do {                                                                                       \
        char cv_[FLEN_VALUE];                                                                  \
        ac_fitsread_card(path, key, cv_);                                                      \
        ASSERT_STR_EQ(cv_, want);                                                              \
    } while (0)

#endif
