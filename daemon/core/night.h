/*
 * night.h - the observing night of a frame (pure core: no uv, no sqlite, no cfitsio).
 *
 * An observing night runs from local noon to the next local noon and is named by the
 * date of its evening: the night of a frame is the local date at (local time - 12 h),
 * where local time = UTC + the site's offset. So frames taken on both sides of 00:00 UTC
 * (or of local midnight) during one night get the same night, which is what sessions are
 * grouped by (issue 4), unlike AstroFiler's UTC date.
 *
 * The offset is the configured [MATCHING] site_utc_offset_h, unless the frame's header
 * has SITELONG: then round(SITELONG / 15) hours (east positive) is used instead
 * (ac_night_site_offset). Only the split point at noon depends on it, so an approximate
 * offset (mean solar time rather than the civil time zone) is good enough.
 *
 * DATE-OBS forms accepted are isodate.h's (ac_isodate_parse): "YYYY-MM-DDTHH:MM:SS",
 * with any number of fractional digits, without seconds ("...THH:MM"), with a space instead
 * of 'T', followed by 'Z' or a numeric zone ("+01:00", "-0700", "+01"; converted to UTC),
 * or a date alone ("YYYY-MM-DD", also with 'Z'). Leading and trailing blanks are ignored.
 * Everything else (two-digit years, "dd/mm/yy", out-of-range fields, trailing text) is
 * -EINVAL.
 * A date alone carries no time of day: its night is that date itself (the way people
 * name a night), not a guess from 00:00 UTC.
 *
 * Thread: pure functions, any thread.
 */
#ifndef AC_NIGHT_H
#define AC_NIGHT_H

#include <stdbool.h>

/* Length of a night "YYYY-MM-DD" without the NUL. */
#define AC_NIGHT_LEN 10

/* The largest |offset| accepted, in hours (UTC-12 .. UTC+14 exist; this allows both). */
#define AC_NIGHT_MAX_OFFSET_H 14.0

/*
 * ac_night_of writes the observing night "YYYY-MM-DD" of a frame taken at date_obs_iso
 * (UTC) at a site utc_offset_h hours ahead of UTC (east positive) into out (11 bytes).
 * 0, or -EINVAL for an unparseable date or an offset that is not finite or beyond
 * +/-AC_NIGHT_MAX_OFFSET_H (out is then "").
 */
int ac_night_of(const char *date_obs_iso, double utc_offset_h, char out[AC_NIGHT_LEN + 1]);

/* ac_night_offset_from_sitelong returns round(sitelong_deg / 15) hours for a longitude
 * in degrees east (west negative; values beyond +/-180, e.g. 350, are first brought into
 * (-180, 180]). NAN when sitelong_deg is not finite. */
double ac_night_offset_from_sitelong(double sitelong_deg);

/* ac_night_site_offset chooses the offset for one frame: the SITELONG offset when
 * sitelong_deg is finite, else configured_h. */
double ac_night_site_offset(double configured_h, double sitelong_deg);

#endif
