/*
 * test-grade.c - judging lights against their session (core/grade.h). Known answers: the
 * rules' thresholds worked out by hand from the figures below (docs/grading.md), the flat
 * residual of meshes drawn from c0 + c1 x + c2 y + c3 r^2 with known coefficients.
 */
#include <math.h>
#include <string.h>

#include "grade.h"
#include "test.h"

/* A session of six lights: four alike, one under cloud, one trailed. */
static void session(ac_grade_fig_t *f)
{
    for (int i = 0; i < 6; i++)
        f[i] = (ac_grade_fig_t){.fwhm = 3.50 + 0.02 * i,
                                .hfr = 2.2,
                                .ecc = 0.05,
                                .stars = 300 + 3 * i,
                                .snr = 500 + 5 * i,
                                .scale = 1.2,
                                .nonfinite = 0,
                                .flat_residual = 0.004};
    f[4].stars = 195; /* 65 % of the stars: clouds */
    f[4].snr = 390;   /* 77 % of the SNR: within min_snr_fraction 0.7 */
    f[5].ecc = 0.88;  /* trailed */
    f[5].fwhm = 3.62;
}

TEST(grade_cloud_and_trailed_rejected_by_their_rule)
{
    ac_grade_fig_t f[6];
    ac_grade_verdict_t v[6];
    ac_grade_rules_t r;

    ac_grade_rules_default(&r);
    session(f);
    ASSERT_OK(ac_grade_judge(f, 6, &r, v));
    for (int i = 0; i < 4; i++) {
        ASSERT(!v[i].rejected);
        ASSERT_STR_EQ(v[i].reasons, "");
    }
    /* Median stars of {300,303,306,309,195,315} = 304.5; 0.75 x 304.5 = 228.4. */
    ASSERT(v[4].rejected);
    ASSERT_STR_EQ(v[4].reasons, "stars 195 < 0.75 x 304");
    ASSERT(v[5].rejected);
    ASSERT_STR_EQ(v[5].reasons, "eccentricity 0.88 > 0.60");
    /* Scores: 100 at the medians or better; the cloudy light scores its FWHM, star and
     * SNR ratios: medians FWHM 3.55, stars 304.5, SNR 507.5. */
    ASSERT_NEAR(v[4].score, 100 * (3.55 / 3.58) * (195 / 304.5) * (390 / 507.5), 0.01);
    ASSERT(v[0].score > 95); /* 300 / 304.5 stars, 500 / 507.5 SNR: 97.1 */
}

TEST(grade_fwhm_rule_median_plus_k_mad_with_a_floor)
{
    ac_grade_fig_t f[6];
    ac_grade_verdict_t v[6];
    ac_grade_rules_t r;

    ac_grade_rules_default(&r);
    session(f);
    f[5].ecc = 0.05;
    f[5].fwhm = 4.0;
    /* FWHM {3.50,3.52,3.54,3.56,3.58,4.0}: median 3.55, MAD 0.03 -> 3 x 1.4826 x 0.03 =
     * 0.133 < the floor 0.1 x 3.55 = 0.355: limit 3.905. */
    ASSERT_OK(ac_grade_judge(f, 6, &r, v));
    ASSERT(v[5].rejected);
    ASSERT_STR_EQ(v[5].reasons, "fwhm 4.00 > 3.90 (median 3.55)");
    f[5].fwhm = 3.85; /* within the floor */
    ASSERT_OK(ac_grade_judge(f, 6, &r, v));
    ASSERT(!v[5].rejected);
    r.fwhm_min_excess = 0; /* now k MAD: 3.55 + 0.133 = 3.683 */
    ASSERT_OK(ac_grade_judge(f, 6, &r, v));
    ASSERT(v[5].rejected);
}

TEST(grade_absolute_rules_and_every_reason)
{
    ac_grade_fig_t f[6];
    ac_grade_verdict_t v[6];
    ac_grade_rules_t r;

    ac_grade_rules_default(&r);
    session(f);
    f[1].nonfinite = 0.02;
    f[2].flat_residual = -0.12; /* dark corners: no flat */
    f[3].stars = 0;
    f[3].fwhm = f[3].hfr = f[3].ecc = NAN;
    f[5].stars = 100; /* trailed and few stars: both reasons */
    ASSERT_OK(ac_grade_judge(f, 6, &r, v));
    ASSERT_STR_EQ(v[1].reasons, "nonfinite 0.0200 > 0.0100");
    ASSERT_STR_EQ(v[2].reasons, "flat -0.120 beyond 0.050");
    ASSERT_STR_EQ(v[3].reasons, "nostars");
    ASSERT_EQ(v[3].score, 0);
    /* Stars {300, 303, 306, 0, 195, 100}: median 247.5, printed 248. */
    ASSERT_STR_EQ(v[5].reasons, "eccentricity 0.88 > 0.60; stars 100 < 0.75 x 248");
    ASSERT(!v[0].rejected);
}

TEST(grade_small_session_only_absolute_rules)
{
    ac_grade_fig_t f[6];
    ac_grade_verdict_t v[2];
    ac_grade_rules_t r;

    ac_grade_rules_default(&r);
    session(f);
    /* Two lights: the cloudy one is not judged against a median of two. */
    ASSERT_OK(ac_grade_judge(f + 4, 2, &r, v));
    ASSERT(!v[0].rejected);
    ASSERT(v[1].rejected); /* eccentricity is absolute */
    r.min_session_frames = 2;
    ASSERT_OK(ac_grade_judge(f + 4, 2, &r, v));
    ASSERT(v[0].rejected || v[1].rejected);
}

/* mesh draws c0 + c1 x + c2 y + c3 r^2 at the centres of the 64 x 64 cells of a 1250 x 880
 * image (20 x 14 cells, the last ones cut to 34 and 48 px). */
static void mesh(float *m, int nx, int ny, double c0, double c1, double c2, double c3)
{
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            double x = (64.0 * i + fmin(64.0 * (i + 1), 1250)) / 1250 - 1;
            double y = (64.0 * j + fmin(64.0 * (j + 1), 880)) / 880 - 1;
            m[j * nx + i] = (float)(c0 + c1 * x + c2 * y + c3 * (x * x + y * y) / 2);
        }
}

TEST(grade_flat_residual_separates_vignetting_from_a_sky_gradient)
{
    float m[20 * 14];

    mesh(m, 20, 14, 1000, 0, 0, -120); /* corners 12 % darker: no flat */
    ASSERT_NEAR(ac_grade_flat_residual(m, 20, 14, 64, 64, 1250, 880, 10), -0.12, 1e-5);
    mesh(m, 20, 14, 1000, 80, -40, 0); /* a plain gradient (light pollution) */
    ASSERT_NEAR(ac_grade_flat_residual(m, 20, 14, 64, 64, 1250, 880, 10), 0, 1e-5);
    mesh(m, 20, 14, 1000, 80, -40, 50); /* over-corrected, on a gradient */
    ASSERT_NEAR(ac_grade_flat_residual(m, 20, 14, 64, 64, 1250, 880, 10), 0.05, 1e-5);
    /* One node on a bright star or nebula is clipped, not fitted. */
    mesh(m, 20, 14, 1000, 0, 0, 0);
    m[5 * 20 + 7] = 3000;
    ASSERT_NEAR(ac_grade_flat_residual(m, 20, 14, 64, 64, 1250, 880, 10), 0, 1e-4);
    /* A background near 0 cannot be divided by; too small a mesh says nothing. */
    mesh(m, 20, 14, 30, 0, 0, -10);
    ASSERT(isnan(ac_grade_flat_residual(m, 20, 14, 64, 64, 1250, 880, 10)));
    ASSERT(isnan(ac_grade_flat_residual(m, 2, 14, 64, 64, 1250, 880, 10)));
}

TEST(grade_cards_and_qreject_value)
{
    ac_grade_fig_t f = {.fwhm = 3.5,
                        .hfr = 2.2,
                        .ecc = 0.1,
                        .stars = 312,
                        .snr = 800,
                        .scale = 1.25,
                        .flat_residual = 0.01};
    ac_hdr_t h;
    char v[80];
    double d;

    ac_hdr_init(&h);
    ASSERT_OK(ac_grade_cards(&h, &f, false));
    ASSERT(ac_hdr_get_double(&h, "FWHM", &d));
    ASSERT_NEAR(d, 3.5, 1e-9);
    ASSERT(ac_hdr_get_double(&h, "STARCNT", &d));
    ASSERT_NEAR(d, 312, 0);
    ASSERT(ac_hdr_find(&h, "PIXSCALE") < 0); /* the header had its own */
    ac_hdr_free(&h);
    ac_hdr_init(&h);
    f.hfr = NAN;
    ASSERT_OK(ac_grade_cards(&h, &f, true));
    ASSERT(ac_hdr_find(&h, "HFR") < 0);
    ASSERT(ac_hdr_get_double(&h, "PIXSCALE", &d));
    ASSERT_NEAR(d, 1.25, 1e-9);
    ac_hdr_free(&h);

    ac_grade_qreject_value("stars 195 < 0.75 x 304", v, sizeof v);
    ASSERT_STR_EQ(v, "stars 195 < 0.75 x 304");
    ac_grade_qreject_value("eccentricity 0.88 > 0.60; stars 100 < 0.75 x 301; snr 120.0 < "
                           "0.70 x 512.5; fwhm 4.00 > 3.90 (median 3.55)",
                           v, sizeof v);
    ASSERT_STR_EQ(v, "eccentricity 0.88 > 0.60; stars 100 < 0.75 x 301...");
    ASSERT(strlen(v) <= 68);
}
