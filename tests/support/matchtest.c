/*
 * matchtest.c - the light and the candidates the matching tests start from (see
 * matchtest.h).
 */
#include "matchtest.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* A light from an Esprit100 with an ASI2600MM, 300 s at -10 C, gain 100, 1x1, filter L,
 * night of 2024-10-05. */
void light_init(ac_match_light_t *l)
{
    memset(l, 0, sizeof *l);
    strcpy(l->eq.instrument, "ZWO ASI2600MM Pro");
    strcpy(l->eq.telescope, "Esprit100");
    l->eq.width = 6248;
    l->eq.height = 4176;
    l->eq.xbin = l->eq.ybin = 1;
    l->eq.gain = 100;
    l->eq.offset = 50;
    l->eq.exposure = 300;
    l->eq.ccd_temp = -10.1;
    l->eq.set_temp = -10;
    strcpy(l->eq.filter, "L");
    strcpy(l->night, "2024-10-05");
    strcpy(l->date_obs, "2024-10-05T22:00:00.0");
}

/* A candidate with the light's camera settings, from the same night. */
void cand_init(ac_match_cand_t *c, int64_t id, ac_match_type_t type, const char *name)
{
    memset(c, 0, sizeof *c);
    c->id = id;
    c->type = type;
    snprintf(c->path, sizeof c->path, "/repo/Masters/%s", name);
    strcpy(c->eq.instrument, "ZWO ASI2600MM Pro");
    strcpy(c->eq.telescope, type == AC_MATCH_FLAT ? "Esprit100" : "Unknown");
    c->eq.width = 6248;
    c->eq.height = 4176;
    c->eq.xbin = c->eq.ybin = 1;
    c->eq.gain = 100;
    c->eq.offset = 50;
    c->eq.exposure = type == AC_MATCH_DARK ? 300 : type == AC_MATCH_FLAT ? 2 : 0;
    c->eq.ccd_temp = type == AC_MATCH_DARK ? -10.0 : NAN;
    c->eq.set_temp = type == AC_MATCH_DARK ? -10 : NAN;
    if (type == AC_MATCH_FLAT)
        strcpy(c->eq.filter, "L");
    strcpy(c->night, "2024-10-05");
    strcpy(c->date, "2024-10-05T20:00:00");
    c->dark_has_bias = AC_MATCH_YES;
    c->flat_calibrated = AC_MATCH_YES;
}
