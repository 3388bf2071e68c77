/*
 * test-match-pin.c - masters pinned by the operator (ac_match_pin_t): the pinned one is
 * chosen even when another ranks higher, a non-fatal mismatch needs force (and is then
 * recorded), a fatal one (size, binning, Bayer) is refused even with force, and a pin that
 * names no candidate makes the session wait with the pin in the reason.
 */
#include <math.h>

#include "match.h"
#include "matchtest.h"
#include "test.h"

/* The shared light and candidates, compared by CCD-TEMP alone (no set point). */
static void pin_light(ac_match_light_t *l)
{
    light_init(l);
    l->eq.ccd_temp = -10;
    l->eq.set_temp = NAN;
}

static void pin_cand(ac_match_cand_t *c, int64_t id, ac_match_type_t type, const char *night)
{
    char name[32];

    snprintf(name, sizeof name, "m%d.fits", (int)id);
    cand_init(c, id, type, name);
    c->eq.set_temp = NAN;
    snprintf(c->night, sizeof c->night, "%s", night);
}

/* Two darks (#1 same night, #2 three nights earlier) and a flat (#3). */
static void three(ac_match_cand_t c[3])
{
    pin_cand(&c[0], 1, AC_MATCH_DARK, "2024-10-05");
    pin_cand(&c[1], 2, AC_MATCH_DARK, "2024-10-02");
    pin_cand(&c[2], 3, AC_MATCH_FLAT, "2024-10-05");
}

/* run_pin matches c[0..n) with a pin of type on ids (label "#ids[0]"), against light
 * (NULL: pin_light's). */
static ac_match_result_t run_pin_on(const ac_match_light_t *light, const ac_match_cand_t *c,
                                    size_t n, int type, const int64_t *ids, size_t nids,
                                    bool force)
{
    ac_match_light_t l;
    ac_match_opts_t o;
    ac_match_result_t r;
    ac_err_t e = {0};

    if (light != NULL)
        l = *light;
    else
        pin_light(&l);
    ac_match_opts_default(&o);
    o.pin[type].ids = ids;
    o.pin[type].nids = nids;
    o.pin[type].force = force;
    snprintf(o.pin[type].label, sizeof o.pin[type].label, "#%lld", (long long)ids[0]);
    if (ac_match_run(&l, c, n, &o, &r, &e) != 0)
        AC_TEST_FAIL("ac_match_run: %s", e.msg);
    return r;
}

#define run_pin(...) run_pin_on(NULL, __VA_ARGS__)

TEST(match_pin_chooses_the_pinned_dark_over_a_closer_one)
{
    ac_match_cand_t c[3];
    int64_t pin = 2;
    ac_match_result_t r;

    three(c);
    r = run_pin(c, 3, AC_MATCH_DARK, &pin, 1, false);
    ASSERT_EQ(r.status, AC_MATCH_READY);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 1); /* #2, not the same-night #1 */
    ASSERT(r.pinned[AC_MATCH_DARK]);
    ASSERT(r.notes[1].pinned);
    ASSERT(strstr(r.notes[1].reason, "pinned") != NULL);
    ASSERT_EQ(r.notes[0].verdict, AC_MATCH_UNUSED);
    ASSERT_STR_EQ(r.notes[0].reason, "not used: the dark is pinned to #2");
    ASSERT_EQ(r.chosen[AC_MATCH_FLAT], 2); /* other types are unaffected */
    ac_match_result_free(&r);
}

TEST(match_pin_temperature_needs_force_and_is_recorded)
{
    ac_match_cand_t c[3];
    int64_t pin = 2;
    ac_match_result_t r;

    three(c);
    c[1].eq.ccd_temp = 0; /* 10 C warmer than the light: over the 5 C tolerance */
    r = run_pin(c, 3, AC_MATCH_DARK, &pin, 1, false);
    ASSERT_EQ(r.status, AC_MATCH_WAITING);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], -1);
    ASSERT(!r.notes[1].fatal);
    ASSERT(strstr(r.reason, "pinned dark #2") != NULL);
    ASSERT(strstr(r.reason, "--force accepts it") != NULL);
    ASSERT(strstr(r.reason, "10.0 C apart (> 5.0)") != NULL);
    ac_match_result_free(&r);

    r = run_pin(c, 3, AC_MATCH_DARK, &pin, 1, true);
    ASSERT_EQ(r.status, AC_MATCH_READY);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 1);
    ASSERT(strstr(r.notes[1].overridden, "10.0 C apart") != NULL);
    ASSERT(strstr(r.notes[1].reason, "pinned with --force") != NULL);
    ASSERT_NEAR(r.dark_k, 1.0, 1e-12);
    ac_match_result_free(&r);
}

TEST(match_pin_forced_exposure_scales_by_the_ratio)
{
    ac_match_cand_t c[3];
    int64_t pin = 2;
    ac_match_result_t r;

    three(c);
    c[1].eq.exposure = 60; /* k = 5 > dark_max_scale 2 */
    c[1].dark_has_bias = AC_MATCH_NO;
    r = run_pin(c, 3, AC_MATCH_DARK, &pin, 1, false);
    ASSERT_EQ(r.status, AC_MATCH_WAITING);
    ac_match_result_free(&r);
    /* A bias-free dark without a bias: the bias rule makes it wait (no bias candidate). */
    pin_cand(&c[0], 1, AC_MATCH_BIAS, "2024-10-05");
    r = run_pin(c, 3, AC_MATCH_DARK, &pin, 1, true);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 1);
    ASSERT_NEAR(r.dark_k, 300.0 / 60.0, 1e-12);
    ASSERT(strstr(r.notes[1].overridden, "k=5.00 > 2.00") != NULL);
    ac_match_result_free(&r);
}

TEST(match_pin_fatal_mismatch_refused_even_with_force)
{
    static const struct {
        int w, h, bin;
        const char *bayer, *want;
    } cases[] = {
        {3000, 2000, 1, "", "size 3000x2000 != 6248x4176"},
        {6248, 4176, 2, "", "binning 2x2 != 1x1"},
        {6248, 4176, 1, "GBRG", "Bayer pattern 'GBRG' != 'RGGB'"},
    };

    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ac_match_cand_t c[3];
        ac_match_light_t l;
        ac_match_result_t r;
        int64_t pin = 2;

        three(c);
        c[1].eq.width = cases[k].w;
        c[1].eq.height = cases[k].h;
        c[1].eq.xbin = c[1].eq.ybin = cases[k].bin;
        if (cases[k].bayer[0] != '\0') {
            strcpy(c[1].eq.bayerpat, cases[k].bayer);
            strcpy(c[0].eq.bayerpat, "RGGB");
            strcpy(c[2].eq.bayerpat, "RGGB");
        }
        pin_light(&l);
        if (cases[k].bayer[0] != '\0')
            strcpy(l.eq.bayerpat, "RGGB");
        r = run_pin_on(&l, c, 3, AC_MATCH_DARK, &pin, 1, true);
        ASSERT_EQ(r.status, AC_MATCH_WAITING);
        ASSERT_EQ(r.chosen[AC_MATCH_DARK], -1);
        ASSERT(r.notes[1].fatal);
        ASSERT(strstr(r.reason, "cannot be used even with --force") != NULL);
        ASSERT(strstr(r.reason, cases[k].want) != NULL);
        ac_match_result_free(&r);
    }
}

TEST(match_pin_of_a_missing_master_waits_with_the_pin)
{
    ac_match_cand_t c[3];
    int64_t pin = 99;
    ac_match_result_t r;

    three(c);
    r = run_pin(c, 3, AC_MATCH_FLAT, &pin, 1, true);
    ASSERT_EQ(r.status, AC_MATCH_WAITING);
    ASSERT_EQ(r.chosen[AC_MATCH_FLAT], -1);
    ASSERT(strstr(r.reason, "the pinned flat #99, which is not a usable master") != NULL);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 0); /* the dark is still chosen automatically */
    ac_match_result_free(&r);
}

TEST(match_pin_set_of_several_chooses_the_best_of_them)
{
    ac_match_cand_t c[4];
    int64_t ids[2] = {2, 4};
    ac_match_result_t r;

    three(c);
    pin_cand(&c[3], 4, AC_MATCH_DARK, "2024-10-04");
    r = run_pin(c, 4, AC_MATCH_DARK, ids, 2, false);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 3); /* #4 (one night) beats #2 (three nights) */
    ASSERT_EQ(r.notes[1].verdict, AC_MATCH_LOWER);
    ASSERT_EQ(r.notes[0].verdict, AC_MATCH_UNUSED);
    ac_match_result_free(&r);
}
