/*
 * isodate.c - ISO 8601 dates (see isodate.h for the forms accepted and refused).
 *
 * Calendar arithmetic is done on plain integers (Howard Hinnant's days-from-civil
 * algorithms, proleptic Gregorian calendar), so nothing depends on the process's time
 * zone or on timegm.
 *
 * Ownership: nothing is allocated. Thread: any thread.
 */
#include "isodate.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>

int64_t ac_isodate_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void ac_isodate_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
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

/* time_of_day reads "HH:MM[:SS[.f...]]" and an optional zone after it. */
static bool time_of_day(const char **p, ac_isodate_t *d)
{
    if (!digits(p, 2, &d->hour) || *(*p)++ != ':' || !digits(p, 2, &d->minute) ||
        d->hour > 23 || d->minute > 59)
        return false;
    if (**p == ':') {
        (*p)++;
        if (!digits(p, 2, &d->second) || d->second > 60)
            return false;
        if (**p == '.') {
            double scale = 0.1;
            (*p)++;
            if (!isdigit((unsigned char)**p))
                return false;
            for (; isdigit((unsigned char)**p); (*p)++, scale /= 10)
                d->frac += (**p - '0') * scale;
        }
    }
    return **p == '\0' || isspace((unsigned char)**p) || zone(p, &d->zone_east_s);
}

int ac_isodate_parse(const char *s, ac_isodate_t *out)
{
    const char *p = s;
    ac_isodate_t d = {0};

    if (s == NULL || out == NULL)
        return -EINVAL;
    while (isspace((unsigned char)*p))
        p++;
    if (!digits(&p, 4, &d.year) || *p++ != '-' || !digits(&p, 2, &d.month) || *p++ != '-' ||
        !digits(&p, 2, &d.day))
        return -EINVAL;
    if (d.month < 1 || d.month > 12 || d.day < 1 || d.day > days_in_month(d.year, d.month))
        return -EINVAL;
    if ((*p == 'T' || *p == 't' || *p == ' ') && isdigit((unsigned char)p[1])) {
        p++;
        d.has_time = true;
        if (!time_of_day(&p, &d))
            return -EINVAL;
    } else if (*p == 'Z' || *p == 'z') {
        p++; /* UTC on a date alone: nothing to convert */
    }
    while (isspace((unsigned char)*p))
        p++;
    if (*p != '\0')
        return -EINVAL;
    *out = d;
    return 0;
}

double ac_isodate_unix(const ac_isodate_t *d)
{
    return (double)ac_isodate_days_from_civil(d->year, d->month, d->day) * 86400.0 +
           d->hour * 3600.0 + d->minute * 60.0 + d->second - d->zone_east_s + d->frac;
}

int ac_isodate_parse_unix(const char *s, double *unix_s, bool *has_time)
{
    ac_isodate_t d;

    if (unix_s == NULL || ac_isodate_parse(s, &d) != 0)
        return -EINVAL;
    *unix_s = ac_isodate_unix(&d);
    if (has_time != NULL)
        *has_time = d.has_time;
    return 0;
}
