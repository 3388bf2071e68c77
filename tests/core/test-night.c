/*
 * test-night.c - the observing night of a frame (daemon/core/night.c). Expected nights are
 * worked out by hand in the comments: local = UTC + offset, night = date of (local - 12 h).
 */
#include <errno.h>
#include <math.h>

#include "isodate.h"
#include "night.h"
#include "test.h"

static const char *night(const char *date_obs, double offset_h)
{
    static char out[AC_NIGHT_LEN + 1];

    ASSERT_OK(ac_night_of(date_obs, offset_h, out));
    return out;
}

TEST(night_utc_site_crossing_midnight_utc)
{
    /* 23:50 UTC -> 11:50 the same day; 00:10 UTC next day -> 12:10 the day before. */
    ASSERT_STR_EQ(night("2024-03-15T23:50:00.250", 0), "2024-03-15");
    ASSERT_STR_EQ(night("2024-03-16T00:10:00.250", 0), "2024-03-15");
    /* The split is at noon: 11:59:59 UTC is still the previous night, 12:00 the next. */
    ASSERT_STR_EQ(night("2024-03-16T11:59:59.999", 0), "2024-03-15");
    ASSERT_STR_EQ(night("2024-03-16T12:00:00", 0), "2024-03-16");
    /* The example: 02:10 UTC belongs to the night of the 4th. */
    ASSERT_STR_EQ(night("2024-10-05T02:10:07.25", 0), "2024-10-04");
}

TEST(night_east_offsets)
{
    /* UTC+1: 10:30 UTC = 11:30 local -> 23:30 on the 15th; 11:30 UTC = 12:30 local -> 16th. */
    ASSERT_STR_EQ(night("2024-03-16T10:30:00", 1), "2024-03-15");
    ASSERT_STR_EQ(night("2024-03-16T11:30:00", 1), "2024-03-16");
    /* UTC+10: 14:30 UTC = 00:30 local on Jul 1 -> 12:30 Jun 30; 01:00 UTC = 11:00 local
     * Jun 30 -> 23:00 Jun 29. A night crossing local midnight and not UTC midnight. */
    ASSERT_STR_EQ(night("2024-06-30T14:30:00", 10), "2024-06-30");
    ASSERT_STR_EQ(night("2024-06-30T09:30:00", 10), "2024-06-30");
    ASSERT_STR_EQ(night("2024-06-30T01:00:00", 10), "2024-06-29");
    /* A fractional zone (UTC+5:30): 06:45 UTC = 12:15 local -> the same date. */
    ASSERT_STR_EQ(night("2024-06-30T06:45:00", 5.5), "2024-06-30");
    ASSERT_STR_EQ(night("2024-06-30T06:15:00", 5.5), "2024-06-29");
}

TEST(night_west_offsets)
{
    /* UTC-7: 04:00 UTC on the 16th = 21:00 local on the 15th -> 09:00 on the 15th. */
    ASSERT_STR_EQ(night("2024-03-16T04:00:00", -7), "2024-03-15");
    /* 10:00 UTC = 03:00 local on the 16th -> 15:00 on the 15th: still the 15th's night
     * although the UTC date is the 16th. */
    ASSERT_STR_EQ(night("2024-03-16T10:00:00Z", -7), "2024-03-15");
    /* 20:00 UTC = 13:00 local -> 01:00 on the 16th. */
    ASSERT_STR_EQ(night("2024-03-16T20:00:00", -7), "2024-03-16");
    /* UTC-12: 23:00 UTC on Jan 1 = 11:00 local on Jan 1 -> Dec 31. */
    ASSERT_STR_EQ(night("2025-01-01T23:00:00", -12), "2024-12-31");
}

TEST(night_calendar_edges)
{
    /* Year and leap-day boundaries at UTC. */
    ASSERT_STR_EQ(night("2025-01-01T03:00:00", 0), "2024-12-31");
    ASSERT_STR_EQ(night("2024-03-01T05:00:00", 0), "2024-02-29");
    ASSERT_STR_EQ(night("2023-03-01T05:00:00", 0), "2023-02-28");
    ASSERT_STR_EQ(night("2000-03-01T05:00:00", 0), "2000-02-29");
    ASSERT_STR_EQ(night("1970-01-01T06:00:00", 0), "1969-12-31");
}

TEST(night_date_obs_variants)
{
    double t = 0;
    bool timed = false;

    /* Values computed with Python's datetime(..., tzinfo=timezone.utc).timestamp(). */
    ASSERT_OK(ac_isodate_parse_unix("2024-10-05T02:10:07.25", &t, &timed));
    ASSERT_NEAR(t, 1728094207.25, 1e-6);
    ASSERT(timed);
    ASSERT_OK(ac_isodate_parse_unix("2024-10-05T02:10:07", &t, NULL));
    ASSERT_NEAR(t, 1728094207.0, 1e-6);
    ASSERT_OK(ac_isodate_parse_unix("2024-10-05T02:10:07.250000Z", &t, NULL));
    ASSERT_NEAR(t, 1728094207.25, 1e-6);
    ASSERT_OK(ac_isodate_parse_unix("2024-10-05 02:10:07.25", &t, NULL));
    ASSERT_NEAR(t, 1728094207.25, 1e-6);
    ASSERT_OK(ac_isodate_parse_unix("  2024-10-05T02:10  ", &t, NULL));
    ASSERT_NEAR(t, 1728094200.0, 1e-6);
    /* 04:10:07.25+02:00 is 02:10:07.25 UTC; -0130 adds 1.5 h. */
    ASSERT_OK(ac_isodate_parse_unix("2024-10-05T04:10:07.25+02:00", &t, NULL));
    ASSERT_NEAR(t, 1728094207.25, 1e-6);
    ASSERT_OK(ac_isodate_parse_unix("2024-10-05T00:40:07.25-0130", &t, NULL));
    ASSERT_NEAR(t, 1728094207.25, 1e-6);
    /* A leap second counts as the next minute's first second. */
    ASSERT_OK(ac_isodate_parse_unix("2000-02-29T23:59:60", &t, NULL));
    ASSERT_NEAR(t, 951868800.0, 1e-6);
    ASSERT_OK(ac_isodate_parse_unix("1969-12-31T12:00:00", &t, NULL));
    ASSERT_NEAR(t, -43200.0, 1e-6);
    /* A date alone: 00:00 UTC, no time; its night is the date itself, whatever the offset. */
    ASSERT_OK(ac_isodate_parse_unix("2024-10-05", &t, &timed));
    ASSERT_NEAR(t, 1728086400.0, 1e-6);
    ASSERT(!timed);
    ASSERT_STR_EQ(night("2024-10-05", 0), "2024-10-05");
    ASSERT_STR_EQ(night("2024-10-05", -7), "2024-10-05");
    ASSERT_STR_EQ(night("2024-10-05", 10), "2024-10-05");
    /* A zone in the value is honoured: 13:00+02:00 = 11:00 UTC -> the 4th at UTC. */
    ASSERT_STR_EQ(night("2024-10-05T13:00:00+02:00", 0), "2024-10-04");
}

TEST(night_bad_input)
{
    static const char *const bad[] = {
        "",
        "   ",
        "24-10-05",
        "2024-1-05",
        "2024-13-01",
        "2024-00-10",
        "2024-02-30",
        "2023-02-29",
        "2024-10-05T25:00:00",
        "2024-10-05T12:60:00",
        "2024-10-05T12:00:61",
        "2024-10-05T12",
        "2024-10-05T12:00:00.",
        "2024-10-05T02:10:07xyz",
        "2024-10-05T02:10:07+2",
        "2024-10-05T02:10:07+15:00",
        "05/10/2024",
        "2024-10-05 garbage",
        "2024-10-05T02:10:07 Z",
    };
    char out[AC_NIGHT_LEN + 1];
    double t;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ac_isodate_parse_unix(bad[i], &t, NULL) != -EINVAL)
            AC_TEST_FAIL("'%s' was accepted", bad[i]);
        out[0] = 'x';
        ASSERT_EQ(ac_night_of(bad[i], 0, out), -EINVAL);
        ASSERT_STR_EQ(out, "");
    }
    ASSERT_EQ(ac_isodate_parse_unix(NULL, &t, NULL), -EINVAL);
    ASSERT_EQ(ac_night_of(NULL, 0, out), -EINVAL);
    /* Offsets that are not finite or beyond 14 h. */
    ASSERT_EQ(ac_night_of("2024-10-05T02:10:07", NAN, out), -EINVAL);
    ASSERT_EQ(ac_night_of("2024-10-05T02:10:07", INFINITY, out), -EINVAL);
    ASSERT_EQ(ac_night_of("2024-10-05T02:10:07", 14.5, out), -EINVAL);
    ASSERT_EQ(ac_night_of("2024-10-05T02:10:07", -20, out), -EINVAL);
    ASSERT_STR_EQ(out, "");
}

TEST(night_sitelong_offsets)
{
    /* round(lon / 15), east positive. */
    ASSERT_NEAR(ac_night_offset_from_sitelong(11.0), 1.0, 0);    /* 0.733 */
    ASSERT_NEAR(ac_night_offset_from_sitelong(7.4), 0.0, 0);     /* 0.493 */
    ASSERT_NEAR(ac_night_offset_from_sitelong(7.6), 1.0, 0);     /* 0.507 */
    ASSERT_NEAR(ac_night_offset_from_sitelong(150.0), 10.0, 0);  /* Australia */
    ASSERT_NEAR(ac_night_offset_from_sitelong(-122.4), -8.0, 0); /* -8.16, California */
    ASSERT_NEAR(ac_night_offset_from_sitelong(-70.7), -5.0, 0);  /* -4.71, Chile */
    ASSERT_NEAR(ac_night_offset_from_sitelong(350.0), -1.0, 0);  /* -10 deg: -0.67 */
    ASSERT_NEAR(ac_night_offset_from_sitelong(-180.0), 12.0, 0); /* = +180 */
    ASSERT_NEAR(ac_night_offset_from_sitelong(180.0), 12.0, 0);
    ASSERT_NEAR(ac_night_offset_from_sitelong(-3.0), 0.0, 0); /* -0.2 */
    ASSERT(!signbit(ac_night_offset_from_sitelong(-3.0)));    /* 0, not -0 */
    ASSERT(isnan(ac_night_offset_from_sitelong(NAN)));
    ASSERT(isnan(ac_night_offset_from_sitelong(INFINITY)));
    /* SITELONG overrides the configured offset; without it the configured one is used. */
    ASSERT_NEAR(ac_night_site_offset(3.0, NAN), 3.0, 0);
    ASSERT_NEAR(ac_night_site_offset(3.0, -75.0), -5.0, 0);
    ASSERT_NEAR(ac_night_site_offset(-7.0, 11.0), 1.0, 0);
    /* A west site (SITELONG -105, offset -7) keeps a US night together while the
     * configured offset 0 would have split it at 12:00 UTC = 05:00 local. */
    ASSERT_STR_EQ(night("2024-03-16T11:00:00", ac_night_site_offset(0, -105)), "2024-03-15");
    ASSERT_STR_EQ(night("2024-03-16T13:00:00", ac_night_site_offset(0, -105)), "2024-03-15");
    ASSERT_STR_EQ(night("2024-03-16T13:00:00", ac_night_site_offset(0, NAN)), "2024-03-16");
}
