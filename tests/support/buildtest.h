/*
 * buildtest.h - helpers of the master-building tests (tests/unit/test-builder*.c): a small
 * camera, raw frames written by tests/support/fitsgen.h, build specifications and checked
 * runs, header cards read back with cfitsio. Built once into the ac_testunit library
 * (buildtest.c). Failures fail the test. Thread: the test's thread.
 */
#ifndef AC_BUILDTEST_H
#define AC_BUILDTEST_H

#include <stdbool.h>

#include "buildplan.h"
#include "fitsgen.h"

/* The frame size of build_camera, and the number of subs most tests build from. */
#define BUILDTEST_W 96
#define BUILDTEST_H 64
#define BUILDTEST_N 7

/* build_camera returns a BUILDTEST_W x BUILDTEST_H generator (seed 42, no stars, C14 /
 * ZWO ASI294MM Pro) with the given read noise, bias column deviation (a fixed pattern of
 * 0.5 with it), flat level and hot pixel fraction; owned by the caller (ac_gen_free). */
ac_gen_t *build_camera(double read_noise, double col_sd, double flat_level, double hot_frac);

/* frame_of sets *f to the default frame of type with index (flats through filter L). */
void frame_of(ac_gen_frame_t *f, ac_gen_type_t type, int index);

/* write_frames writes n raw frames of type as <test dir>/<prefix>_<i>.fits, i = 1..n, and
 * their paths into paths. */
void write_frames(ac_gen_t *g, ac_gen_type_t type, const char *prefix, int n,
                  char paths[][256]);

/* spec_init fills *sp to build the n subs in paths into <test dir>/Masters/out_name
 * (key "K", session "S", default options, no durable writes), with the bias and flat-dark
 * masters given (NULL: none). The strings are copied; ac_build_spec_clear releases them. */
void spec_init(ac_build_spec_t *sp, ac_cal_kind_t kind, char paths[][256], int n,
               const char *out_name, const char *bias, const char *fd);

/* run_ok runs the build of sp into *res and fails the test unless it built a master. */
void run_ok(const ac_build_spec_t *sp, ac_build_result_t *res);

/* exists says whether path exists. */
bool exists(const char *path);

/* key_text copies the raw value field of keyword key of path (quotes kept) into value
 * (FLEN_VALUE bytes); an absent keyword fails the test. */
void key_text(const char *path, const char *key, char *value);

#endif
