/*
 * test-isodate.c - the one ISO date parser (daemon/core/isodate.c): every accepted form
 * with its fields and its moment, every refused form, and the calendar arithmetic.
 * Expected moments were computed with Python's datetime(..., tzinfo=...).timestamp(), and
 * day numbers as (date - date(1970, 1, 1)).days.
 */
#include <errno.h>
#include <math.h>

#include "isodate.h"
#include "test.h"

/* parse_ok parses s, expecting success, and returns its moment. */
static double parse_ok(const char *s, ac_isodate_t *d)
{
    if (ac_isodate_parse(s, d) != 0)
        AC_TEST_FAIL("'%s' was refused", s);
    return ac_isodate_unix(d);
}

TEST(isodate_date_alone)
{
    ac_isodate_t d;

    ASSERT_NEAR(parse_ok("2024-10-05", &d), 1728086400.0, 0);
    ASSERT_EQ(d.year, 2024);
    ASSERT_EQ(d.month, 10);
    ASSERT_EQ(d.day, 5);
    ASSERT(!d.has_time);
    ASSERT_EQ(d.hour + d.minute + d.second + d.zone_east_s, 0);
    /* 'Z' on a date alone (accepted by the old matcher) changes nothing. */
    ASSERT_NEAR(parse_ok("2024-10-05Z", &d), 1728086400.0, 0);
    ASSERT(!d.has_time);
    ASSERT_NEAR(parse_ok("2024-10-05z", &d), 1728086400.0, 0);
    /* Blanks around the value (the old matcher refused leading ones). */
    ASSERT_NEAR(parse_ok("  2024-10-05 \t", &d), 1728086400.0, 0);
    ASSERT(!d.has_time);
}

TEST(isodate_timed_forms)
{
    ac_isodate_t d;

    /* Minutes only, with 'T', 't' or a space. */
    ASSERT_NEAR(parse_ok("2024-10-05T02:10", &d), 1728094200.0, 0);
    ASSERT(d.has_time);
    ASSERT_EQ(d.hour, 2);
    ASSERT_EQ(d.minute, 10);
    ASSERT_EQ(d.second, 0);
    ASSERT_NEAR(parse_ok("2024-10-05t02:10", &d), 1728094200.0, 0);
    ASSERT_NEAR(parse_ok("2024-10-05 02:10", &d), 1728094200.0, 0);
    /* Seconds. */
    ASSERT_NEAR(parse_ok("2024-10-05T02:10:07", &d), 1728094207.0, 0);
    ASSERT_EQ(d.second, 7);
    ASSERT_NEAR(d.frac, 0, 0);
    /* Fractions of any length: DATE-OBS and AstroFiler's microseconds. */
    ASSERT_NEAR(parse_ok("2024-10-05T02:10:07.5", &d), 1728094207.5, 1e-6);
    ASSERT_NEAR(d.frac, 0.5, 1e-12);
    ASSERT_NEAR(parse_ok("2024-10-05 02:10:07.250000", &d), 1728094207.25, 1e-6);
    ASSERT_NEAR(parse_ok("2024-10-05T02:10:07.123456789", &d), 1728094207.123456789, 1e-6);
    /* Trailing blanks after a time. */
    ASSERT_NEAR(parse_ok("2024-10-05T02:10:07  ", &d), 1728094207.0, 0);
    /* A leap second is the first second of the next minute. */
    ASSERT_NEAR(parse_ok("2016-12-31T23:59:60", &d), 1483228800.0, 0);
    ASSERT_EQ(d.second, 60);
}

TEST(isodate_zones)
{
    ac_isodate_t d;

    ASSERT_NEAR(parse_ok("2024-10-05T02:10:07Z", &d), 1728094207.0, 0);
    ASSERT_EQ(d.zone_east_s, 0);
    ASSERT_NEAR(parse_ok("2024-10-05T02:10:07z", &d), 1728094207.0, 0);
    ASSERT_NEAR(parse_ok("2024-10-05T02:10Z", &d), 1728094200.0, 0);
    ASSERT_NEAR(parse_ok("2024-10-05T02:10:07.25Z", &d), 1728094207.25, 1e-6);
    /* +HH, +HHMM, +HH:MM and '-': converted to UTC. */
    ASSERT_NEAR(parse_ok("2024-10-05T02:10:07+14", &d), 1728043807.0, 0);
    ASSERT_EQ(d.zone_east_s, 14 * 3600);
    ASSERT_NEAR(parse_ok("2024-10-05T02:10:07-0930", &d), 1728128407.0, 0);
    ASSERT_EQ(d.zone_east_s, -(9 * 3600 + 30 * 60));
    ASSERT_NEAR(parse_ok("2024-10-05T02:10:07-09:30", &d), 1728128407.0, 0);
    ASSERT_NEAR(parse_ok("2024-10-05T02:10+00:00", &d), 1728094200.0, 0);
}

TEST(isodate_calendar_edges)
{
    ac_isodate_t d;

    ASSERT_NEAR(parse_ok("2024-02-29", &d), 1709164800.0, 0); /* leap year */
    ASSERT_NEAR(parse_ok("2000-02-29", &d), 951782400.0, 0);  /* divisible by 400 */
    ASSERT_NEAR(parse_ok("1969-12-31", &d), -86400.0, 0);
    ASSERT_NEAR(parse_ok("1900-03-01", &d), -2203891200.0, 0);
    ASSERT_NEAR(parse_ok("9999-12-31", &d), 253402214400.0, 0);
    ASSERT_EQ(ac_isodate_days_from_civil(1970, 1, 1), 0);
    ASSERT_EQ(ac_isodate_days_from_civil(2024, 10, 5), 20001);
    ASSERT_EQ(ac_isodate_days_from_civil(1900, 3, 1), -25508);
    ASSERT_EQ(ac_isodate_days_from_civil(9999, 12, 31), 2932896);
    {
        int64_t y;
        int m, dd;
        ac_isodate_civil_from_days(11016, &y, &m, &dd);
        ASSERT(y == 2000 && m == 2 && dd == 29);
        ac_isodate_civil_from_days(-1, &y, &m, &dd);
        ASSERT(y == 1969 && m == 12 && dd == 31);
        ac_isodate_civil_from_days(-25508, &y, &m, &dd);
        ASSERT(y == 1900 && m == 3 && dd == 1);
    }
}

TEST(isodate_parse_unix_and_has_time)
{
    double t = 0;
    bool timed = true;

    ASSERT_OK(ac_isodate_parse_unix("2024-10-05", &t, &timed));
    ASSERT_NEAR(t, 1728086400.0, 0);
    ASSERT(!timed);
    ASSERT_OK(ac_isodate_parse_unix("2024-10-05T02:10:07", &t, &timed));
    ASSERT_NEAR(t, 1728094207.0, 0);
    ASSERT(timed);
    ASSERT_OK(ac_isodate_parse_unix("2024-10-05T02:10:07", &t, NULL));
    ASSERT_EQ(ac_isodate_parse_unix("2024-10-05", NULL, NULL), -EINVAL);
    ASSERT_EQ(ac_isodate_parse_unix(NULL, &t, NULL), -EINVAL);
}

TEST(isodate_refused_forms)
{
    static const char *const bad[] = {
        "",                           /* empty */
        "   ",                        /* blanks only */
        "24-10-05",                   /* two-digit year */
        "02024-10-05",                /* five-digit year */
        "2024-1-05",                  /* one-digit month */
        "2024-10-5",                  /* one-digit day */
        "2024/10/05",                 /* other separators */
        "05/10/2024",                 /* day first */
        "2024-13-01",                 /* month 13 */
        "2024-00-10",                 /* month 0 */
        "2024-10-00",                 /* day 0 */
        "2024-04-31",                 /* April has 30 days (the old matcher took it) */
        "2024-02-30",                 /* February */
        "2023-02-29",                 /* not a leap year */
        "1900-02-29",                 /* divisible by 100, not 400 */
        "2024-10-05T",                /* 'T' without a time */
        "2024-10-05T12",              /* hour without minutes */
        "2024-10-05T1:00",            /* one-digit hour */
        "2024-10-05T24:00:00",        /* hour 24 */
        "2024-10-05T12:60:00",        /* minute 60 */
        "2024-10-05T12:00:61",        /* second 61 */
        "2024-10-05T12:00:5",         /* one-digit second */
        "2024-10-05T12:00:00.",       /* fraction without digits */
        "2024-10-05T12:30.5",         /* fraction without seconds */
        "2024-10-05T12:00:00.5e3",    /* exponent (the old matcher's strtod took it) */
        "2024-10-05T12:00:00,5",      /* comma fraction */
        "2024-10-05T02:10:07xyz",     /* trailing text */
        "2024-10-05 garbage",         /* text instead of a time */
        "2024-10-05T02:10:07 Z",      /* blank before the zone */
        "2024-10-05T02:10:07+2",      /* one-digit zone hour */
        "2024-10-05T02:10:07+15:00",  /* zone beyond 14 h */
        "2024-10-05T02:10:07+01:60",  /* zone minute 60 */
        "2024-10-05T02:10:07+01:0",   /* one-digit zone minute */
        "2024-10-05+01:00",           /* numeric zone on a date alone */
        "2024-10-05ZZ",               /* two zones */
        "2024-10-05T02:10:07ZZ",      /* two zones */
        "2024-10-05T02:10:07Z+01:00", /* two zones */
    };
    ac_isodate_t d;
    double t;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ac_isodate_parse(bad[i], &d) != -EINVAL)
            AC_TEST_FAIL("'%s' was accepted", bad[i]);
        if (ac_isodate_parse_unix(bad[i], &t, NULL) != -EINVAL)
            AC_TEST_FAIL("'%s' was accepted by parse_unix", bad[i]);
    }
    ASSERT_EQ(ac_isodate_parse(NULL, &d), -EINVAL);
    ASSERT_EQ(ac_isodate_parse("2024-10-05", NULL), -EINVAL);
}
