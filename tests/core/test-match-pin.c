/*
 * test-match-pin.c - masters pinned by the operator (ac_match_pin_t): the pinned one is
 * chosen even when another ranks higher, a non-fatal mismatch needs force (and is then
 * recorded), a fatal one (size, binning, Bayer) is refused even with force, and a pin that
 * names no candidate makes the session wait with the pin in the reason.
 */
#include <math.h>

#include "match.h"
#include "test.h"

static void light_init(ac_match_light_t *l)
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
    l->eq.ccd_temp = -10;
    l->eq.set_temp = NAN;
    strcpy(l->eq.filter, "L");
    strcpy(l->night, "2024-10-05");
    strcpy(l->date_obs, "2024-10-05T22:00:00.0");
}

static void cand_init(ac_match_cand_t *c, int64_t id, ac_match_type_t type, const char *night)
{
    memset(c, 0, sizeof *c);
    c->id = id;
    c->type = type;
    snprintf(c->path, sizeof c->path, "/repo/Masters/m%d.fits", (int)id);
    strcpy(c->eq.instrument, "ZWO ASI2600MM Pro");
    strcpy(c->eq.telescope, "Esprit100");
    c->eq.width = 6248;
    c->eq.height = 4176;
    c->eq.xbin = c->eq.ybin = 1;
    c->eq.gain = 100;
    c->eq.offset = 50;
    c->eq.exposure = type == AC_MATCH_DARK ? 300 : 2;
    c->eq.ccd_temp = type == AC_MATCH_DARK ? -10 : NAN;
    c->eq.set_temp = NAN;
    if (type == AC_MATCH_FLAT)
        strcpy(c->eq.filter, "L");
    strcpy(c->night, night);
    c->dark_has_bias = AC_MATCH_YES;
    c->flat_calibrated = AC_MATCH_YES;
}

/* Two darks (#1 same night, #2 three nights earlier) and a flat (#3). */
static void three(ac_match_cand_t c[3])
{
    cand_init(&c[0], 1, AC_MATCH_DARK, "2024-10-05");
    cand_init(&c[1], 2, AC_MATCH_DARK, "2024-10-02");
    cand_init(&c[2], 3, AC_MATCH_FLAT, "2024-10-05");
}

static ac_match_result_t run_pin(const ac_match_cand_t *c, size_t n, int type,
                                 const int64_t *ids, size_t nids, bool force)
{
    ac_match_light_t l;
    ac_match_opts_t o;
    ac_match_result_t r;
    ac_err_t e = {0};

    light_init(&l);
    ac_match_opts_default(&o);
    o.pin[type].ids = ids;
    o.pin[type].nids = nids;
    o.pin[type].force = force;
    snprintf(o.pin[type].label, sizeof o.pin[type].label, "#%lld", (long long)ids[0]);
    if (ac_match_run(&l, c, n, &o, &r, &e) != 0)
        AC_TEST_FAIL("ac_match_run: %s", e.msg);
    return r;
}

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
    ASSERT(strstr(r.reason, "differs by 10.0 C") != NULL);
    ac_match_result_free(&r);

    r = run_pin(c, 3, AC_MATCH_DARK, &pin, 1, true);
    ASSERT_EQ(r.status, AC_MATCH_READY);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 1);
    ASSERT(strstr(r.notes[1].overridden, "differs by 10.0 C") != NULL);
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
    cand_init(&c[0], 1, AC_MATCH_BIAS, "2024-10-05");
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
        ac_match_opts_t o;
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
        light_init(&l);
        if (cases[k].bayer[0] != '\0')
            strcpy(l.eq.bayerpat, "RGGB");
        ac_match_opts_default(&o);
        o.pin[AC_MATCH_DARK] = (ac_match_pin_t){.ids = &pin, .nids = 1, .force = true};
        strcpy(o.pin[AC_MATCH_DARK].label, "#2");
        ASSERT_EQ(ac_match_run(&l, c, 3, &o, &r, NULL), 0);
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
    cand_init(&c[3], 4, AC_MATCH_DARK, "2024-10-04");
    r = run_pin(c, 4, AC_MATCH_DARK, ids, 2, false);
    ASSERT_EQ(r.chosen[AC_MATCH_DARK], 3); /* #4 (one night) beats #2 (three nights) */
    ASSERT_EQ(r.notes[1].verdict, AC_MATCH_LOWER);
    ASSERT_EQ(r.notes[0].verdict, AC_MATCH_UNUSED);
    ac_match_result_free(&r);
}
