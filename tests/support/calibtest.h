/*
 * calibtest.h - small builders shared by the calibration tests (tests/core/test-calib*.c,
 * test-calibrun.c): empty metadata, constant masters, whole-image calibration, the HISTORY
 * and warnings text of a calset. Built once into the ac_testcore library (calibtest.c),
 * linked with the pure core only. Failures abort the test. Thread: the test's thread.
 */
#ifndef AC_CALIBTEST_H
#define AC_CALIBTEST_H

#include "calib.h"

/* meta0 returns a metadata block with everything missing (as read from an empty header). */
ac_meta_t meta0(void);

/* mk makes img a w x h master filled with v, named path, with a fixed MD5 and meta0()
 * metadata of that size and bitpix; bitpix > 0 gives a 16-bit saturation level (65535).
 * The pixels are owned by img (ac_image_free). */
void mk(ac_image_t *img, int w, int h, const char *path, int bitpix, float v);

/* joined returns the n lines, each followed by " | ", in a static buffer (4 KiB, truncated)
 * overwritten by the next call. */
const char *joined(const char (*lines)[160], int n);

/* HIST(cs) is the HISTORY of calset cs as one string (see joined). */
#define HIST(cs) joined((cs)->history, (cs)->n_history)

/* warnings returns the warnings of cs, each followed by " | ", in a static buffer (4 KiB,
 * truncated) overwritten by the next call. */
const char *warnings(const ac_calset_t *cs);

/* calib_whole calibrates the whole prepared image in (cs->w x cs->h) with dark scale k and
 * pedestal ped into a new buffer, owned by the caller (free); *st is initialised and
 * receives the row statistics. */
float *calib_whole(const ac_calset_t *cs, const float *in, double k, float ped,
                   ac_rowstats_t *st);

#endif
