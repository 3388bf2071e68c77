/*
 * isodate.h - the one parser of ISO 8601 dates in the tree (pure core: no time zone of the
 * process, no timegm), and the civil-calendar arithmetic it rests on. Used for DATE-OBS
 * values (night.h), AstroFiler's date columns and observing-night names (match.h).
 *
 * Accepted (each form has a known-answer test in tests/core/test-isodate.c):
 *   "YYYY-MM-DD"                        a date alone (no time of day: has_time false);
 *   "YYYY-MM-DDZ"                       the same (a 'Z' or 'z' on a date alone changes
 *                                       nothing: other zones on a date alone are refused);
 *   "YYYY-MM-DDTHH:MM"                  'T', 't' or one space between date and time;
 *   "YYYY-MM-DDTHH:MM:SS"               seconds 00-60 (60 is a leap second: it counts as
 *                                       the first second of the next minute);
 *   "YYYY-MM-DDTHH:MM:SS.f..."          any number (at least one) of fraction digits, as
 *                                       DATE-OBS and AstroFiler's 'YYYY-MM-DD HH:MM:SS.ffffff';
 *   any timed form followed by a zone   'Z'/'z' (UTC), or "+HH", "+HHMM", "+HH:MM" (or '-';
 *                                       hours 00-14, minutes 00-59), written right after
 *                                       the time: the value is converted to UTC;
 *   and blanks before and after the whole value.
 * A value without a zone is taken as UTC (FITS DATE-OBS is UTC).
 * Refused (-EINVAL): years of other than four digits, other separators ("2024/10/05",
 * "05/10/24"), a month outside 01-12 or a day the month does not have (2023-02-29,
 * 2024-04-31), an hour above 23 or minutes above 59, a time without minutes ("T12"), a 'T'
 * without a time, a fraction without digits or without seconds ("12:30.5"), an exponent
 * or other text after the fraction, a blank or anything else before a zone, a numeric zone
 * on a date alone, and any trailing text.
 *
 * Thread: pure functions, any thread. Nothing is allocated.
 */
#ifndef AC_ISODATE_H
#define AC_ISODATE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ac_isodate {
    int year, month, day;     /* as written */
    int hour, minute, second; /* 0 for a date alone; second 60 is a leap second */
    double frac;              /* fraction of a second, 0 <= frac < 1 */
    int zone_east_s;          /* the written zone, seconds east of UTC; 0 for none or Z */
    bool has_time;            /* a time of day was written */
} ac_isodate_t;

/* ac_isodate_parse parses s (forms above) into *out. 0, or -EINVAL (NULL s or out, or a
 * refused form; *out is then unspecified). */
int ac_isodate_parse(const char *s, ac_isodate_t *out);

/* ac_isodate_unix returns the moment as seconds since 1970-01-01T00:00:00 UTC (the zone
 * taken off, the fraction kept). A date alone gives its 00:00:00 UTC. */
double ac_isodate_unix(const ac_isodate_t *d);

/* ac_isodate_parse_unix is ac_isodate_parse then ac_isodate_unix: 0 or -EINVAL;
 * *has_time (may be NULL) says whether a time of day was written. */
int ac_isodate_parse_unix(const char *s, double *unix_s, bool *has_time);

/* ac_isodate_days_from_civil returns the days from 1970-01-01 to y-m-d (proleptic
 * Gregorian calendar; m 1-12, d 1-31; earlier dates are negative). */
int64_t ac_isodate_days_from_civil(int64_t y, int m, int d);

/* ac_isodate_civil_from_days is the inverse: the date of day z counted from 1970-01-01. */
void ac_isodate_civil_from_days(int64_t z, int64_t *y, int *m, int *d);

#endif
