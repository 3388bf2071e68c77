/*
 * night.c - the observing night of a frame (pure core), see night.h.
 *
 * Dates are parsed and counted by isodate.c (the one ISO date parser, with integer
 * calendar arithmetic), so nothing depends on the process's time zone or on timegm.
 *
 * Ownership: nothing is allocated. Thread: any thread.
 */
#include "night.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "isodate.h"

int ac_night_of(const char *date_obs_iso, double utc_offset_h, char out[AC_NIGHT_LEN + 1])
{
    double t;
    bool timed = false;
    int64_t day, y;
    int m, d;

    out[0] = '\0';
    if (!isfinite(utc_offset_h) || fabs(utc_offset_h) > AC_NIGHT_MAX_OFFSET_H)
        return -EINVAL;
    if (ac_isodate_parse_unix(date_obs_iso, &t, &timed) != 0)
        return -EINVAL;
    if (timed)
        t += utc_offset_h * 3600.0 - 12 * 3600.0;
    day = (int64_t)floor(t / 86400.0);
    ac_isodate_civil_from_days(day, &y, &m, &d);
    if (y < 0 || y > 9999)
        return -EINVAL;
    snprintf(out, AC_NIGHT_LEN + 1, "%04d-%02d-%02d", (int)y, m, d);
    return 0;
}

double ac_night_offset_from_sitelong(double sitelong_deg)
{
    double lon;

    if (!isfinite(sitelong_deg))
        return NAN;
    lon = fmod(sitelong_deg, 360.0);
    if (lon > 180.0)
        lon -= 360.0;
    else if (lon <= -180.0)
        lon += 360.0;
    return round(lon / 15.0) + 0.0; /* + 0.0 turns -0 into 0 */
}

double ac_night_site_offset(double configured_h, double sitelong_deg)
{
    double h = ac_night_offset_from_sitelong(sitelong_deg);

    return isfinite(h) ? h : configured_h;
}
