/*
 * night.c - the observing night of a frame (pure core), see night.h.
 *
 * Calendar arithmetic is done here on plain integers (Howard Hinnant's days-from-civil
 * algorithms, proleptic Gregorian calendar), so nothing depends on the process's time
 * zone or on timegm.
 *
 * Ownership: nothing is allocated. Thread: any thread.
 */
#include "night.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Days from 1970-01-01 to y-m-d. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The date of day z counted from 1970-01-01. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dm[m - 1];
}

/* digits reads exactly n decimal digits at *p into *v and advances *p. */
static bool digits(const char **p, int n, int *v)
{
    int x = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        x = x * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return true;
}

/* zone reads "Z", "+HH", "+HHMM" or "+HH:MM" (or '-') into seconds east of UTC. */
static bool zone(const char **p, int *east_s)
{
    int sign, hh, mm = 0;

    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *east_s = 0;
        return true;
    }
    if (**p != '+' && **p != '-')
        return false;
    sign = **p == '-' ? -1 : 1;
    (*p)++;
    if (!digits(p, 2, &hh) || hh > 14)
        return false;
    if (**p == ':')
        (*p)++;
    if (isdigit((unsigned char)**p) && (!digits(p, 2, &mm) || mm > 59))
        return false;
    *east_s = sign * (hh * 3600 + mm * 60);
    return true;
}

int ac_night_parse_date_obs(const char *s, double *unix_s, bool *has_time)
{
    const char *p = s;
    int y, mo, d, hh = 0, mi = 0, ss = 0, east = 0;
    double frac = 0;
    bool timed = false;

    if (s == NULL || unix_s == NULL)
        return -EINVAL;
    while (isspace((unsigned char)*p))
        p++;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -EINVAL;
    if ((*p == 'T' || *p == 't' || *p == ' ') && isdigit((unsigned char)p[1])) {
        p++;
        timed = true;
        if (!digits(&p, 2, &hh) || *p++ != ':' || !digits(&p, 2, &mi) || hh > 23 || mi > 59)
            return -EINVAL;
        if (*p == ':') {
            p++;
            /* 60 is a leap second: it counts as the first second of the next minute. */
            if (!digits(&p, 2, &ss) || ss > 60)
                return -EINVAL;
            if (*p == '.') {
                double scale = 0.1;
                p++;
                if (!isdigit((unsigned char)*p))
                    return -EINVAL;
                for (; isdigit((unsigned char)*p); p++, scale /= 10)
                    frac += (*p - '0') * scale;
            }
        }
        if (*p != '\0' && !isspace((unsigned char)*p) && !zone(&p, &east))
            return -EINVAL;
    }
    while (isspace((unsigned char)*p))
        p++;
    if (*p != '\0')
        return -EINVAL;
    *unix_s = (double)days_from_civil(y, mo, d) * 86400.0 + hh * 3600.0 + mi * 60.0 + ss -
              east + frac;
    if (has_time != NULL)
        *has_time = timed;
    return 0;
}

int ac_night_of(const char *date_obs_iso, double utc_offset_h, char out[AC_NIGHT_LEN + 1])
{
    double t;
    bool timed = false;
    int64_t day, y;
    int m, d;

    out[0] = '\0';
    if (!isfinite(utc_offset_h) || fabs(utc_offset_h) > AC_NIGHT_MAX_OFFSET_H)
        return -EINVAL;
    if (ac_night_parse_date_obs(date_obs_iso, &t, &timed) != 0)
        return -EINVAL;
    if (timed)
        t += utc_offset_h * 3600.0 - 12 * 3600.0;
    day = (int64_t)floor(t / 86400.0);
    civil_from_days(day, &y, &m, &d);
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
