/*
 * matchtest.h - the light and the master candidates the matching tests (tests/core/
 * test-match*.c) start from and then change. Built once into the ac_testcore library
 * (matchtest.c), linked with the pure core only. Thread: the test's thread.
 */
#ifndef AC_MATCHTEST_H
#define AC_MATCHTEST_H

#include <stdint.h>

#include "match.h"

/* light_init: an Esprit100 with an ASI2600MM, 300 s at -10 C (CCD-TEMP -10.1, SET-TEMP
 * -10), gain 100, offset 50, 6248 x 4176, 1x1, filter L, night of 2024-10-05. */
void light_init(ac_match_light_t *l);

/* cand_init: a candidate of type with the light's camera settings, from the same night,
 * at /repo/Masters/<name> (darks 300 s at -10 C, flats 2 s through L, bias-containing
 * darks and calibrated flats). */
void cand_init(ac_match_cand_t *c, int64_t id, ac_match_type_t type, const char *name);

#endif
