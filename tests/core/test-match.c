/*
 * test-match.c - choosing masters for a light session: every rule with hand-made
 * candidates, AstroFiler's value quirks, the ranking, the explanations and the waiting text.
 */
#include <errno.h>

#include "match.h"
#include "matchtest.h"
#include "test.h"

static ac_match_result_t run(const ac_match_light_t *l, const ac_match_cand_t *c, size_t n,
                             const ac_match_opts_t *o)
{
    ac_match_result_t r;
    ac_err_t e = {0};

    if (ac_match_run(l, c, n, o, &r, &e) != 0)
        AC_TEST_FAIL("ac_match_run failed: %s", e.msg);
    ASSERT_EQ(r.n, n);
    return r;
}

TEST(match_defaults)
{
    ac_match_opts_t o;

    ac_match_opts_default(&o);
    ASSERT_NEAR(o.max_temp_diff, 5.0, 0);
    ASSERT_NEAR(o.exp_tol_s, 0.5, 0);
    ASSERT_NEAR(o.exp_tol_pct, 1.0, 0);
    ASSERT_NEAR(o.dark_max_scale, 2.0, 0);
    ASSERT(o.allow_later && o.allow_dark_scaling);
    ASSERT_EQ(o.max_age_days, 0);
    ASSERT_EQ(o.required, AC_MATCH_NEED_DARK | AC_MATCH_NEED_FLAT);
}

TEST(match_astrofiler_set_ready)
{
    ac_match_light_t l;
    ac_match_cand_t c[3];
    ac_match_result_t r;

    light_init(&l);
    /* AstroFiler's masters: 'Unknown' telescope on the dark, '300.0' parsed to 300, a raw
     * flat (median of raw flats) and a dark that contains the bias. */
    cand_init(&c[0], 11, AC_MATCH_BIAS, "Master-Bias.fits");
    c[0].eq.telescope[0] = '\0';
    cand_init(&c[1], 12, AC_MATCH_DARK, "Master-Dark.fits");
    c[1].eq.exposure = strtod("300", NULL); /* Masters.exposure_time '300' */
    l.eq.exposure = strtod("300.0", NULL);  /* the light's EXPTIME '300.0' */
    cand_init(&c[2], 13, AC_MATCH_FLAT, "Master-Flat.fits");
    c[2].flat_calibrated = AC_MATCH_NO;
    r = run(&l, c, 3, NULL);
    ASSERT_EQ(r.status, AC_MATCH_READY);
    ASSERT_STR_EQ(r.reason, "");
    ASSERT_EQ(r.chosen[AC_MATCH_BIAS], 0);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 1);
    ASSERT_EQ(r.chosen[AC_MATCH_FLAT], 2);
    ASSERT_EQ(r.chosen[AC_MATCH_FLATDARK], -1);
    ASSERT_NEAR(r.dark_k, 1.0, 0);
    ASSERT(r.bias_needed);
    ASSERT_STR_EQ(r.bias_why, "the flat is raw and no flat-dark matches");
    ASSERT_STR_EQ(r.notes[1].reason, "same night as the light, k=1.00");
    ASSERT_EQ(r.notes[1].verdict, AC_MATCH_CHOSEN);
    ASSERT_EQ(r.notes[1].nights, 0);
    ASSERT(!r.later[AC_MATCH_FLAT]);
    /* gain, offset and SET-TEMP are equal on the dark; gain and offset on the flat. */
    ASSERT_EQ(r.notes[1].keywords_equal, 3);
    ASSERT_EQ(r.notes[2].keywords_equal, 2);
    ASSERT_STR_EQ(ac_match_chosen(&r, AC_MATCH_DARK)->name, "Master-Dark.fits");
    ASSERT_NULL(ac_match_chosen(&r, AC_MATCH_FLATDARK));
    ac_match_result_free(&r);
    ASSERT_NULL(r.notes);
}

TEST(match_equipment_rejections)
{
    ac_match_light_t l;
    ac_match_cand_t c[7];
    ac_match_result_t r;

    light_init(&l);
    cand_init(&c[0], 1, AC_MATCH_FLAT, "rc8.fits");
    strcpy(c[0].eq.telescope, "RC8");
    cand_init(&c[1], 2, AC_MATCH_DARK, "gain.fits");
    c[1].eq.gain = 139;
    cand_init(&c[2], 3, AC_MATCH_BIAS, "bin.fits");
    c[2].eq.xbin = c[2].eq.ybin = 2;
    c[2].eq.width = 3124;
    c[2].eq.height = 2088;
    cand_init(&c[3], 4, AC_MATCH_DARK, "cam.fits");
    strcpy(c[3].eq.instrument, "ZWO ASI533MC Pro");
    strcpy(c[3].eq.bayerpat, "RGGB");
    strcpy(l.eq.bayerpat, "GRBG");
    cand_init(&c[4], 5, AC_MATCH_FLAT, "ha.fits");
    strcpy(c[4].eq.filter, " ha ");
    c[4].eq.offset = 30;
    strcpy(c[4].eq.readout, "High Gain");
    strcpy(l.eq.readout, "Low Noise");
    cand_init(&c[5], 6, AC_MATCH_FLAT, "l.fits");
    strcpy(c[5].eq.filter, " l ");          /* trimmed, case-folded: equal */
    strcpy(c[5].eq.telescope, "esprit100"); /* case-folded: equal */
    c[5].eq.gain = 100.0;
    cand_init(&c[6], 7, AC_MATCH_DARK, "dark.fits");
    strcpy(c[6].eq.telescope, "");
    r = run(&l, c, 7, NULL);
    ASSERT_STR_EQ(r.notes[0].reason, "telescope 'RC8' != light's 'Esprit100'");
    ASSERT_STR_EQ(r.notes[1].reason, "gain 139 != 100");
    ASSERT_STR_EQ(r.notes[2].reason, "size 3124x2088 != 6248x4176; binning 2x2 != 1x1");
    ASSERT_STR_EQ(r.notes[3].reason, "instrument 'ZWO ASI533MC Pro' != light's 'ZWO ASI2600MM "
                                     "Pro'; Bayer pattern 'RGGB' != 'GRBG'");
    ASSERT_STR_EQ(r.notes[4].reason, "offset 30 != 50; readout mode 'High Gain' != 'Low "
                                     "Noise'; filter ' ha ' != light's 'L'");
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(r.notes[i].verdict, AC_MATCH_REJECTED);
    ASSERT_EQ(r.chosen[AC_MATCH_FLAT], 5);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 6); /* empty TELESCOP on a dark is normal */
    ASSERT_EQ(r.chosen[AC_MATCH_BIAS], -1);
    ASSERT(!r.bias_needed);
    ASSERT_EQ(r.status, AC_MATCH_READY);
    ac_match_result_free(&r);
}

TEST(match_flat_unknown_telescope_is_a_mismatch_but_unknown_gain_is_not)
{
    ac_match_light_t l;
    ac_match_cand_t c[2];
    ac_match_result_t r;

    light_init(&l);
    cand_init(&c[0], 1, AC_MATCH_FLAT, "a.fits");
    strcpy(c[0].eq.telescope, "Unknown");
    cand_init(&c[1], 2, AC_MATCH_FLAT, "b.fits");
    c[1].eq.gain = NAN; /* AstroFiler never fills gain: not compared */
    c[1].eq.offset = NAN;
    c[1].eq.width = 0;
    r = run(&l, c, 2, NULL);
    ASSERT_STR_EQ(r.notes[0].reason, "telescope 'Unknown' != light's 'Esprit100'");
    ASSERT_EQ(r.chosen[AC_MATCH_FLAT], 1);
    ASSERT_EQ(r.notes[1].keywords_equal, 0);
    ac_match_result_free(&r);
}

TEST(match_dark_temperature)
{
    ac_match_light_t l;
    ac_match_cand_t c[4];
    ac_match_result_t r;

    light_init(&l);
    l.eq.set_temp = NAN;
    l.eq.ccd_temp = -12.0;
    cand_init(&c[0], 1, AC_MATCH_DARK, "warm.fits");
    c[0].eq.ccd_temp = -5.0;
    cand_init(&c[1], 2, AC_MATCH_DARK, "notemp.fits");
    c[1].eq.ccd_temp = c[1].eq.set_temp = NAN;
    cand_init(&c[2], 3, AC_MATCH_DARK, "edge.fits");
    c[2].eq.ccd_temp = -7.0; /* exactly 5.0 C away: allowed */
    c[2].eq.set_temp = NAN;
    cand_init(&c[3], 4, AC_MATCH_DARK, "close.fits");
    c[3].eq.ccd_temp = -11.0;
    c[3].eq.set_temp = NAN;
    r = run(&l, c, 4, NULL);
    ASSERT_STR_EQ(r.notes[0].reason,
                  "light CCD-TEMP -12.0 C vs master CCD-TEMP -5.0 C: 7.0 C apart (> 5.0)");
    ASSERT_EQ(r.notes[0].verdict, AC_MATCH_REJECTED);
    /* The light has a temperature, the dark none: the tolerance cannot be checked. */
    ASSERT_EQ(r.notes[1].verdict, AC_MATCH_REJECTED);
    ASSERT_STR_EQ(
        r.notes[1].reason,
        "the light has CCD-TEMP -12.0 C but the master has no temperature (CCD-TEMP, "
        "CCD_TEMP, CCDTEMP, TEMPERAT, CAMTEMP, SET-TEMP, SET_TEMP or SETTEMP): the 5.0 "
        "C tolerance cannot be checked");
    ASSERT_STR_EQ(r.notes[2].reason, "temperature differs by 5.0 C, #4's by 1.0 C");
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 3);
    ac_match_result_free(&r);

    /* Sensor temperatures decide before equal set points (the cooler missed its target). */
    light_init(&l);
    cand_init(&c[0], 1, AC_MATCH_DARK, "set.fits");
    c[0].eq.ccd_temp = -3.0;
    r = run(&l, c, 1, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], -1);
    ASSERT_STR_EQ(r.notes[0].reason,
                  "light CCD-TEMP -10.1 C vs master CCD-TEMP -3.0 C: 7.1 C apart (> 5.0)");
    ac_match_result_free(&r);

    /* The night: dark at -12 C, lights at -10 C (set points only), tolerance 5:
     * used; at -3 C (7 C apart): refused. */
    light_init(&l);
    l.eq.ccd_temp = NAN;
    cand_init(&c[0], 1, AC_MATCH_DARK, "m12.fits");
    c[0].eq.ccd_temp = NAN;
    c[0].eq.set_temp = -12;
    r = run(&l, c, 1, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 0);
    ac_match_result_free(&r);
    c[0].eq.set_temp = -3;
    r = run(&l, c, 1, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], -1);
    ASSERT_CONTAINS(r.notes[0].reason, "SET-TEMP -3.0 C: 7.0 C apart (> 5.0)");
    ac_match_result_free(&r);

    /* Neither side with a temperature: compared with nothing, a note, used. */
    light_init(&l);
    l.eq.ccd_temp = l.eq.set_temp = NAN;
    cand_init(&c[0], 1, AC_MATCH_DARK, "dslr.fits");
    c[0].eq.ccd_temp = c[0].eq.set_temp = NAN;
    r = run(&l, c, 1, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 0);
    ASSERT_CONTAINS(r.notes[0].warning, "uncooled camera");
    ac_match_result_free(&r);

    /* Only SET-TEMP on both, different set points. */
    light_init(&l);
    l.eq.ccd_temp = NAN;
    cand_init(&c[0], 1, AC_MATCH_DARK, "set.fits");
    c[0].eq.ccd_temp = NAN;
    c[0].eq.set_temp = -20;
    r = run(&l, c, 1, NULL);
    ASSERT_STR_EQ(r.notes[0].reason,
                  "light SET-TEMP -10.0 C vs master SET-TEMP -20.0 C: 10.0 C apart (> 5.0)");
    ac_match_result_free(&r);
}

TEST(match_dark_exposure_tolerance_and_scaling)
{
    ac_match_light_t l;
    ac_match_cand_t c[4];
    ac_match_result_t r;

    light_init(&l);
    cand_init(&c[0], 1, AC_MATCH_DARK, "302.fits");
    c[0].eq.exposure = 302.0; /* |2| <= max(0.5, 3.02): equal */
    r = run(&l, c, 1, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 0);
    ASSERT_NEAR(r.dark_k, 1.0, 0);
    ASSERT(!r.bias_needed);
    ac_match_result_free(&r);

    /* 296 s: |4| > 2.96, scaled by 300/296 with a bias; the dark contains the bias. */
    cand_init(&c[0], 1, AC_MATCH_DARK, "296.fits");
    c[0].eq.exposure = 296.0;
    cand_init(&c[1], 2, AC_MATCH_BIAS, "bias.fits");
    r = run(&l, c, 2, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 0);
    ASSERT_NEAR(r.dark_k, 300.0 / 296.0, 1e-12);
    ASSERT(r.bias_needed);
    ASSERT_STR_EQ(r.bias_why, "the dark is scaled (k=1.01)");
    ASSERT_EQ(r.chosen[AC_MATCH_BIAS], 1);
    ASSERT_STR_EQ(r.notes[0].warning, "exposure 296 s scaled by k=1.01 to the light's 300 s");
    ac_match_result_free(&r);

    /* 0.3 s light and 0.7 s dark: within the absolute 0.5 s. */
    l.eq.exposure = 0.3;
    c[0].eq.exposure = 0.7;
    r = run(&l, c, 1, NULL);
    ASSERT_NEAR(r.notes[0].k, 1.0, 0);
    ac_match_result_free(&r);
}

TEST(match_dark_scale_limits)
{
    ac_match_light_t l;
    ac_match_cand_t c[3];
    ac_match_result_t r;
    ac_match_opts_t o;

    light_init(&l);
    cand_init(&c[0], 1, AC_MATCH_DARK, "120.fits");
    c[0].eq.exposure = 120;
    cand_init(&c[1], 2, AC_MATCH_DARK, "150-bias.fits");
    c[1].eq.exposure = 150;
    cand_init(&c[2], 3, AC_MATCH_DARK, "150-unknown.fits");
    c[2].eq.exposure = 150;
    c[2].dark_has_bias = AC_MATCH_UNKNOWN;
    r = run(&l, c, 3, NULL);
    ASSERT_STR_EQ(r.notes[0].reason, "exposure 120 s needs k=2.50 > 2.00");
    ASSERT_STR_EQ(r.notes[1].reason, "exposure 150 s needs k=2.00, but the dark contains the "
                                     "bias and no master bias matches");
    ASSERT_STR_EQ(r.notes[2].reason, "exposure 150 s needs k=2.00, but the dark may contain "
                                     "the bias and no master bias matches");
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], -1);
    ASSERT_EQ(r.status, AC_MATCH_WAITING);
    ac_match_result_free(&r);

    /* A larger dark_max_scale accepts 120 s when the dark is bias-free; the bias it needs
     * is missing, so the session waits for one. */
    ac_match_opts_default(&o);
    o.dark_max_scale = 3.0;
    o.required = AC_MATCH_NEED_DARK;
    c[0].dark_has_bias = AC_MATCH_NO;
    r = run(&l, c, 1, &o);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 0);
    ASSERT_NEAR(r.dark_k, 2.5, 1e-12);
    ASSERT(r.bias_needed);
    ASSERT_STR_EQ(r.bias_why, "the dark is scaled (k=2.50); the dark is bias-free");
    ASSERT_EQ(r.status, AC_MATCH_WAITING);
    ASSERT_STR_EQ(r.reason, "waiting for bias gain 100, 1x1");
    ac_match_result_free(&r);

    /* Scaling disabled. */
    o.allow_dark_scaling = false;
    r = run(&l, c, 1, &o);
    ASSERT_STR_EQ(r.notes[0].reason, "exposure 120 s != light's 300 s (scaling disabled)");
    ac_match_result_free(&r);
}

TEST(match_prefers_equal_exposure_over_scaled_same_night)
{
    ac_match_light_t l;
    ac_match_cand_t c[3];
    ac_match_result_t r;

    light_init(&l);
    cand_init(&c[0], 1, AC_MATCH_DARK, "200-tonight.fits");
    c[0].eq.exposure = 200;
    cand_init(&c[1], 2, AC_MATCH_DARK, "300-old.fits");
    strcpy(c[1].night, "2024-08-01");
    strcpy(c[1].date, "2024-08-01T23:00:00");
    cand_init(&c[2], 3, AC_MATCH_BIAS, "bias.fits");
    r = run(&l, c, 3, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 1);
    ASSERT_EQ(r.notes[1].nights, -65);
    ASSERT_STR_EQ(r.notes[1].reason, "65 nights before the light, k=1.00");
    ASSERT_EQ(r.notes[0].verdict, AC_MATCH_LOWER);
    ASSERT_STR_EQ(r.notes[0].reason, "exposure 200 s needs scaling (k=1.50), #2 has the "
                                     "light's exposure");
    /* The dark contains the bias and is not scaled; the flat is missing: no bias needed. */
    ASSERT(!r.bias_needed);
    ASSERT_EQ(r.chosen[AC_MATCH_BIAS], -1);
    ASSERT_EQ(r.notes[2].verdict, AC_MATCH_UNUSED);
    ASSERT_STR_EQ(r.notes[2].reason, "not needed: the dark contains the bias");
    ac_match_result_free(&r);
}

TEST(match_bias_free_dark_without_bias_ranks_last)
{
    ac_match_light_t l;
    ac_match_cand_t c[3];
    ac_match_result_t r;

    light_init(&l);
    cand_init(&c[0], 1, AC_MATCH_DARK, "biasfree.fits");
    c[0].dark_has_bias = AC_MATCH_NO;
    cand_init(&c[1], 2, AC_MATCH_DARK, "withbias.fits");
    strcpy(c[1].night, "2024-09-30");
    cand_init(&c[2], 3, AC_MATCH_FLAT, "flat.fits");
    r = run(&l, c, 3, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 1);
    ASSERT_STR_EQ(r.notes[0].reason, "bias-free: needs a master bias and none matches, #2 "
                                     "does not");
    ASSERT_EQ(r.status, AC_MATCH_READY);
    ASSERT(!r.bias_needed);
    ac_match_result_free(&r);

    /* Only the bias-free dark: chosen, and the session waits for the bias it needs. */
    r = run(&l, c, 1, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 0);
    ASSERT(r.bias_needed);
    ASSERT_STR_EQ(r.bias_why, "the dark is bias-free");
    ASSERT_STR_EQ(r.reason, "waiting for flat L, Esprit100; bias gain 100, 1x1");
    ac_match_result_free(&r);
}

TEST(match_same_night_before_closer_earlier_night)
{
    ac_match_light_t l;
    ac_match_cand_t c[2];
    ac_match_result_t r;

    /* A site at UTC-2 (local noon is 14:00 UTC): the first light at 20:00 UTC belongs to
     * the night of 2024-10-05, dawn flats at 06:00 UTC next morning too (10 h after the
     * light), while flats taken at 11:00 UTC that day (9 h before the light, closer by the
     * clock) belong to the night of 2024-10-04. The caller computed those nights. */
    light_init(&l);
    strcpy(l.date_obs, "2024-10-05T20:00:00");
    cand_init(&c[0], 21, AC_MATCH_FLAT, "dawn.fits");
    strcpy(c[0].date, "2024-10-06 06:00:00.000000");
    cand_init(&c[1], 22, AC_MATCH_FLAT, "prev.fits");
    strcpy(c[1].night, "2024-10-04");
    strcpy(c[1].date, "2024-10-05T11:00:00");
    r = run(&l, c, 2, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_FLAT], 0);
    ASSERT(!r.later[AC_MATCH_FLAT]);
    ASSERT_STR_EQ(r.notes[0].reason, "same night as the light");
    ASSERT_STR_EQ(r.notes[1].reason,
                  "1 night before the light, #21 is closer (same night as the light)");
    ac_match_result_free(&r);
}

TEST(match_later_master_only_when_nothing_earlier)
{
    ac_match_light_t l;
    ac_match_cand_t c[2];
    ac_match_result_t r;
    ac_match_opts_t o;

    light_init(&l);
    cand_init(&c[0], 31, AC_MATCH_FLAT, "later.fits");
    strcpy(c[0].night, "2024-10-07");
    strcpy(c[0].date, "2024-10-07T19:00:00");
    cand_init(&c[1], 32, AC_MATCH_FLAT, "old.fits");
    strcpy(c[1].night, "2024-09-01");
    strcpy(c[1].date, "2024-09-01T19:00:00");
    r = run(&l, c, 2, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_FLAT], 1);
    ASSERT(!r.later[AC_MATCH_FLAT]);
    ASSERT_EQ(r.notes[0].verdict, AC_MATCH_LOWER);
    ASSERT(r.notes[0].later);
    ASSERT_EQ(r.notes[0].nights, 2);
    ASSERT_STR_EQ(
        r.notes[0].reason,
        "later than the light (dawn flats allowed: used only when nothing earlier fits)");
    ac_match_result_free(&r);

    /* The earlier one has the wrong filter: the later one is used, and marked. */
    strcpy(c[1].eq.filter, "Ha");
    r = run(&l, c, 2, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_FLAT], 0);
    ASSERT(r.later[AC_MATCH_FLAT]);
    ASSERT_STR_EQ(r.notes[0].reason, "2 nights after the light, later: nothing earlier fits");
    ac_match_result_free(&r);

    ac_match_opts_default(&o);
    o.allow_later = false;
    r = run(&l, c, 2, &o);
    ASSERT_EQ(r.chosen[AC_MATCH_FLAT], -1);
    ASSERT_STR_EQ(r.notes[0].reason, "later than the light (allow_later_masters is off)");
    ASSERT_EQ(r.status, AC_MATCH_WAITING);
    ASSERT_STR_EQ(r.reason, "waiting for dark 300 s, -10 C, gain 100, 1x1; flat L, Esprit100 "
                            "(#31 refused: later than the light (allow_later_masters is off))");
    ac_match_result_free(&r);
}

TEST(match_invalid_best_falls_back_to_next)
{
    ac_match_light_t l;
    ac_match_cand_t c[2];
    ac_match_result_t r;

    light_init(&l);
    cand_init(&c[0], 41, AC_MATCH_DARK, "best.fits");
    cand_init(&c[1], 42, AC_MATCH_DARK, "next.fits");
    strcpy(c[1].night, "2024-10-01");
    r = run(&l, c, 2, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 0);
    ac_match_result_free(&r);

    c[0].invalid = true;
    strcpy(c[0].invalid_reason, "checksum mismatch");
    r = run(&l, c, 2, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 1);
    ASSERT_EQ(r.notes[0].verdict, AC_MATCH_REJECTED);
    ASSERT_STR_EQ(r.notes[0].reason, "invalid: checksum mismatch");
    ASSERT_STR_EQ(r.notes[1].reason, "4 nights before the light, k=1.00");
    ac_match_result_free(&r);
}

TEST(match_waiting_reason_text)
{
    ac_match_light_t l;
    ac_match_result_t r;

    light_init(&l);
    r = run(&l, NULL, 0, NULL);
    ASSERT_EQ(r.status, AC_MATCH_WAITING);
    ASSERT_STR_EQ(r.reason, "waiting for dark 300 s, -10 C, gain 100, 1x1; flat L, Esprit100");
    ASSERT_STR_EQ(ac_match_status_name(r.status), "waiting");
    ac_match_result_free(&r);

    /* CCD-TEMP only, rounded without "-0"; unknown gain and binning left out. */
    l.eq.set_temp = NAN;
    l.eq.ccd_temp = -0.4;
    l.eq.gain = NAN;
    l.eq.xbin = 0;
    l.eq.exposure = 0.5;
    l.eq.filter[0] = '\0';
    r = run(&l, NULL, 0, NULL);
    ASSERT_STR_EQ(r.reason, "waiting for dark 0.5 s, 0 C; flat Esprit100");
    ac_match_result_free(&r);
}

TEST(match_tie_breaks)
{
    ac_match_light_t l;
    ac_match_cand_t c[6];
    ac_match_result_t r;

    light_init(&l);
    /* All same night and exposure. #51 lacks gain (fewer optional keywords). */
    cand_init(&c[0], 51, AC_MATCH_DARK, "nogain.fits");
    c[0].eq.gain = NAN;
    /* #52: exposure 299.0 (equal within tolerance, but farther). */
    cand_init(&c[1], 52, AC_MATCH_DARK, "299.fits");
    c[1].eq.exposure = 299.0;
    /* #53: 1.5 C away. */
    cand_init(&c[2], 53, AC_MATCH_DARK, "warmer.fits");
    c[2].eq.ccd_temp = -8.6;
    /* #54: same as #56 but its frames were taken farther from the light. */
    cand_init(&c[3], 54, AC_MATCH_DARK, "early.fits");
    strcpy(c[3].date, "2024-10-05T18:00:00");
    /* #55 and #56: identical, #55 has the higher id. */
    cand_init(&c[4], 56, AC_MATCH_DARK, "b.fits");
    cand_init(&c[5], 55, AC_MATCH_DARK, "a.fits");
    r = run(&l, c, 6, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 5);
    ASSERT_STR_EQ(r.notes[0].reason, "2 optional keywords equal, #55 has 3");
    ASSERT_STR_EQ(r.notes[1].reason, "exposure 299 s is farther from the light's 300 s than "
                                     "#55's 300 s");
    ASSERT_STR_EQ(r.notes[2].reason, "temperature differs by 1.5 C, #55's by 0.1 C");
    ASSERT_STR_EQ(r.notes[3].reason, "DATE-OBS 4.0 h from the light's, #55's 2.0 h");
    ASSERT_STR_EQ(r.notes[4].reason, "ranks equal to #55, which has the lower id");
    ac_match_result_free(&r);

    /* Same distance on both sides of the light's DATE-OBS... both same night: newest wins. */
    light_init(&l);
    cand_init(&c[0], 61, AC_MATCH_FLAT, "before.fits");
    strcpy(c[0].date, "2024-10-05T21:00:00");
    cand_init(&c[1], 62, AC_MATCH_FLAT, "after.fits");
    strcpy(c[1].date, "2024-10-05T23:00:00");
    r = run(&l, c, 2, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_FLAT], 1);
    ASSERT_STR_EQ(r.notes[0].reason, "older than #62");
    ac_match_result_free(&r);
}

TEST(match_max_age_and_no_date)
{
    ac_match_light_t l;
    ac_match_cand_t c[3];
    ac_match_result_t r;
    ac_match_opts_t o;

    light_init(&l);
    ac_match_opts_default(&o);
    o.max_age_days = 30;
    cand_init(&c[0], 71, AC_MATCH_FLAT, "old.fits");
    strcpy(c[0].night, "2024-09-04"); /* 31 nights before */
    cand_init(&c[1], 72, AC_MATCH_FLAT, "nodate.fits");
    c[1].night[0] = c[1].date[0] = '\0';
    cand_init(&c[2], 73, AC_MATCH_FLAT, "month.fits");
    c[2].night[0] = '\0';
    strcpy(c[2].date, "2024-09-05T21:00:00"); /* night taken from the date: 30 before */
    r = run(&l, c, 3, &o);
    ASSERT_STR_EQ(r.notes[0].reason, "31 nights before the light > max_master_age_days 30");
    ASSERT_EQ(r.chosen[AC_MATCH_FLAT], 2);
    ASSERT_EQ(r.notes[2].nights, -30);
    ASSERT_STR_EQ(r.notes[1].warning, "no date: ranked after dated masters");
    ASSERT_EQ(r.notes[1].nights, AC_MATCH_NIGHTS_UNKNOWN);
    ASSERT_STR_EQ(r.notes[1].reason, "no date, #73 is closer (30 nights before the light)");
    ac_match_result_free(&r);
}

TEST(match_flat_dark_replaces_the_bias_for_a_raw_flat)
{
    ac_match_light_t l;
    ac_match_cand_t c[5];
    ac_match_result_t r;

    light_init(&l);
    cand_init(&c[0], 81, AC_MATCH_DARK, "dark.fits");
    cand_init(&c[1], 82, AC_MATCH_FLAT, "flat.fits");
    c[1].flat_calibrated = AC_MATCH_NO;
    c[1].eq.exposure = 2.0;
    c[1].eq.ccd_temp = -10;
    cand_init(&c[2], 83, AC_MATCH_FLATDARK, "fd3.fits");
    c[2].eq.exposure = 3.0;
    cand_init(&c[3], 84, AC_MATCH_FLATDARK, "fd2.fits");
    c[3].eq.exposure = 2.0;
    c[3].eq.ccd_temp = -10.5;
    cand_init(&c[4], 85, AC_MATCH_BIAS, "bias.fits");
    r = run(&l, c, 5, NULL);
    ASSERT_EQ(r.status, AC_MATCH_READY);
    ASSERT_EQ(r.chosen[AC_MATCH_FLATDARK], 3);
    ASSERT_CONTAINS(r.notes[2].reason, "exposure 3 s != flat's 2 s");
    ac_match_result_free(&r);
    /* A flat-dark of unknown exposure could be of any other: refused (issue 9). */
    c[3].eq.exposure = NAN;
    r = run(&l, c, 5, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_FLATDARK], -1);
    ASSERT_CONTAINS(r.notes[3].reason, "exposure unknown on the flat-dark");
    ac_match_result_free(&r);
    c[3].eq.exposure = 2.0;
    r = run(&l, c, 5, NULL);
    ASSERT(!r.bias_needed);
    ASSERT_EQ(r.chosen[AC_MATCH_BIAS], -1);
    ASSERT_STR_EQ(r.notes[4].reason,
                  "not needed: the dark contains the bias; the flat-dark calibrates the flat");
    ac_match_result_free(&r);

    /* A calibrated flat uses no flat-dark. */
    c[1].flat_calibrated = AC_MATCH_YES;
    r = run(&l, c, 5, NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_FLATDARK], -1);
    ASSERT_EQ(r.notes[3].verdict, AC_MATCH_UNUSED);
    ASSERT_STR_EQ(r.notes[3].reason, "not needed: the flat is already calibrated");
    ac_match_result_free(&r);
}

TEST(match_bias_need_rules)
{
    ac_match_light_t l;
    ac_match_cand_t c[3];
    ac_match_result_t r;
    ac_match_opts_t o;

    light_init(&l);
    ac_match_opts_default(&o);
    /* A flat without a dark (dark not required): the light's bias must go. */
    o.required = AC_MATCH_NEED_FLAT;
    cand_init(&c[0], 91, AC_MATCH_FLAT, "flat.fits");
    r = run(&l, c, 1, &o);
    ASSERT(r.bias_needed);
    ASSERT_STR_EQ(r.bias_why, "no dark removes the light's bias before the flat");
    ASSERT_STR_EQ(r.reason, "waiting for bias gain 100, 1x1");
    ac_match_result_free(&r);

    /* Unknown provenance: a bias is used when there is one, never waited for. */
    ac_match_opts_default(&o);
    cand_init(&c[0], 92, AC_MATCH_DARK, "dark.fits");
    c[0].dark_has_bias = AC_MATCH_UNKNOWN;
    cand_init(&c[1], 93, AC_MATCH_FLAT, "flat.fits");
    c[1].flat_calibrated = AC_MATCH_UNKNOWN;
    r = run(&l, c, 2, &o);
    ASSERT_EQ(r.status, AC_MATCH_READY);
    ASSERT(!r.bias_needed);
    ac_match_result_free(&r);
    cand_init(&c[2], 94, AC_MATCH_BIAS, "bias.fits");
    r = run(&l, c, 3, &o);
    ASSERT_EQ(r.chosen[AC_MATCH_BIAS], 2);
    ASSERT(!r.bias_needed);
    ASSERT_STR_EQ(r.bias_why, "the dark may be bias-free; the flat may be raw");
    ac_match_result_free(&r);

    /* Required by the configuration. */
    o.required |= AC_MATCH_NEED_BIAS;
    r = run(&l, c, 2, &o);
    ASSERT(r.bias_needed);
    ASSERT_STR_EQ(r.reason, "waiting for bias gain 100, 1x1");
    ac_match_result_free(&r);
}

TEST(match_plan_text)
{
    ac_match_light_t l;
    ac_match_cand_t c[4];
    ac_match_result_t r;
    char buf[2048], small[16];
    size_t len;

    light_init(&l);
    cand_init(&c[0], 4, AC_MATCH_DARK, "Master-Dark-300s.fits");
    cand_init(&c[1], 7, AC_MATCH_DARK, "Master-Dark-120s.fits");
    c[1].eq.exposure = 120;
    cand_init(&c[2], 9, AC_MATCH_FLAT, "Master-Flat-Ha.fits");
    strcpy(c[2].eq.filter, "Ha");
    cand_init(&c[3], 5, AC_MATCH_DARK, "Master-Dark-old.fits");
    strcpy(c[3].night, "2024-10-03");
    r = run(&l, c, 4, NULL);
    len = ac_match_plan_text(&r, buf, sizeof buf);
    ASSERT_EQ(len, strlen(buf));
    ASSERT_STR_EQ(buf,
                  "status: waiting for flat L, Esprit100 (#9 refused: filter 'Ha' != light's "
                  "'L')\n"
                  "bias: not needed\n"
                  "dark: #4 Master-Dark-300s.fits (same night as the light, k=1.00)\n"
                  "  #7 Master-Dark-120s.fits: rejected: exposure 120 s needs k=2.50 > 2.00\n"
                  "  #5 Master-Dark-old.fits: ranked lower: 2 nights before the light, #4 "
                  "is closer (same night as the light)\n"
                  "flat: none\n"
                  "  #9 Master-Flat-Ha.fits: rejected: filter 'Ha' != light's 'L'\n");
    /* Truncation: terminated, and the full length is still returned. */
    ASSERT_EQ(ac_match_plan_text(&r, small, sizeof small), len);
    ASSERT_STR_EQ(small, "status: waiting");
    ac_match_result_free(&r);
}

TEST(match_names_and_errors)
{
    ac_match_light_t l;
    ac_match_cand_t c;
    ac_match_result_t r;
    ac_err_t e = {0};
    char buf[256];

    ASSERT_EQ(ac_match_type_from_name("dark"), AC_MATCH_DARK);
    ASSERT_EQ(ac_match_type_from_name("bias"), AC_MATCH_BIAS);
    ASSERT_EQ(ac_match_type_from_name("Master Flat"), AC_MATCH_FLAT);
    ASSERT_EQ(ac_match_type_from_name("flat-dark"), AC_MATCH_FLATDARK);
    ASSERT_EQ(ac_match_type_from_name("DARKFLAT"), AC_MATCH_FLATDARK);
    ASSERT_EQ(ac_match_type_from_name("light"), -1);
    ASSERT_EQ(ac_match_type_from_name(NULL), -1);
    ASSERT_STR_EQ(ac_match_type_name(AC_MATCH_FLATDARK), "flat-dark");
    ASSERT_STR_EQ(ac_match_verdict_name(AC_MATCH_LOWER), "ranked-lower");
    ASSERT_STR_EQ(ac_match_verdict_name(AC_MATCH_UNUSED), "unused");
    ASSERT_STR_EQ(ac_match_status_name(AC_MATCH_READY), "ready");

    ASSERT_EQ(ac_match_run(NULL, NULL, 0, NULL, &r, &e), -EINVAL);
    ASSERT_CONTAINS(e.msg, "light");

    light_init(&l);
    cand_init(&c, 99, (ac_match_type_t)7, "odd.fits");
    r = run(&l, &c, 1, NULL);
    ASSERT_EQ(r.notes[0].type, -1);
    ASSERT_EQ(r.notes[0].verdict, AC_MATCH_REJECTED);
    ac_match_plan_text(&r, buf, sizeof buf);
    ASSERT_CONTAINS(buf, "other: #99 odd.fits: rejected: unknown master type 7\n");
    ac_match_result_free(&r);
}

/* Dates in every form isodate.h accepts; a zone moves the moment, hence the UTC date. */
TEST(match_dates_in_every_iso_form)
{
    ac_match_light_t l;
    ac_match_cand_t c[4];
    ac_match_result_t r;

    light_init(&l);
    l.night[0] = '\0';
    strcpy(l.date_obs, " 2024-10-05T22:00:00+02:00"); /* 20:00 UTC on the 5th */
    for (int i = 0; i < 4; i++) {
        cand_init(&c[i], 80 + i, AC_MATCH_FLAT, "flat.fits");
        c[i].night[0] = '\0';
    }
    strcpy(c[0].date, "2024-10-06T01:00:00+02:00");   /* 23:00 UTC on the 5th */
    strcpy(c[1].date, "2024-10-04Z");                 /* a date alone with Z */
    strcpy(c[2].date, "2024-04-31T20:00:00");         /* April has 30 days: no date */
    strcpy(c[3].date, "2024-10-03 20:00:00.500000 "); /* AstroFiler's form, blank after */
    r = run(&l, c, 4, NULL);
    ASSERT_EQ(r.notes[0].nights, 0);
    ASSERT_EQ(r.notes[1].nights, -1);
    ASSERT_EQ(r.notes[2].nights, AC_MATCH_NIGHTS_UNKNOWN);
    ASSERT_EQ(r.notes[3].nights, -2);
    ASSERT_EQ(r.chosen[AC_MATCH_FLAT], 0);
    ac_match_result_free(&r);
}
