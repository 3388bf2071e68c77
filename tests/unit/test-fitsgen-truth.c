/*
 * test-fitsgen-truth.c - the synthetic data generator beyond single frames: bad files, the
 * ground truth (every term of a pixel by hand, and a calibration that recovers it), nights
 * laid out on disk with their dates, date arithmetic, and argument checks. Images are small
 * (128 x 96 or less).
 */
#include <errno.h>
#include <fitsio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fitsgen.h"
#include "gentest.h"
#include "test.h"

#define W GENTEST_W
#define H GENTEST_H

TEST(fitsgen_bad_files)
{
    ac_gen_camera_t cam;
    ac_err_t e = {0};
    fitsfile *ff = NULL;
    struct stat sb;
    int st = 0, naxis = 0;
    long nax[3] = {0, 0, 0};

    ac_gen_t *g = small_gen(&cam, 51);
    for (int k = 0; k < AC_GEN_BAD_COUNT; k++)
        if (ac_gen_write_bad(g, (ac_gen_bad_t)k, ac_gen_bad_name((ac_gen_bad_t)k), &e) != 0)
            AC_TEST_FAIL("bad file %d: %s", k, e.msg);

    /* Truncated (shorter than header + W*H*2 bytes) and header only: the header reads,
     * the data do not. */
    unsigned short *buf = malloc(sizeof *buf * W * H);
    long fp[3] = {1, 1, 1};
    for (int k = 0; k < 2; k++) {
        const char *name = k ? "header-only.fits" : "truncated.fits";
        ASSERT_OK(stat(name, &sb));
        ASSERT(k ? sb.st_size == 2880 : sb.st_size > 2880 && sb.st_size < 2880 + W * H * 2);
        st = 0;
        ASSERT_OK(fits_open_diskfile(&ff, name, READONLY, &st));
        fits_get_img_param(ff, 3, &img_bitpix, &naxis, nax, &st);
        ASSERT_EQ(st, 0);
        ASSERT_EQ(nax[0], W);
        fits_read_pix(ff, TUSHORT, fp, W * H, NULL, buf, NULL, &st);
        ASSERT(st != 0);
        st = 0;
        fits_close_file(ff, &st);
    }
    free(buf);

    /* Wrong size: 4 columns more. */
    ASSERT_CARD("wrong-size.fits", "NAXIS1", "132");
    ASSERT_CARD("wrong-size.fits", "NAXIS2", "96");

    /* NaN master dark and zero flat. */
    double *px = read_image("nan-master-dark.fits");
    ASSERT_EQ(img_bitpix, -32);
    for (int i = 0; i < W * H; i++)
        ASSERT(isnan(px[i]));
    free(px);
    ASSERT_CARD("nan-master-dark.fits", "IMAGETYP", "'Master Dark'");
    px = read_image("zero-flat.fits");
    for (int i = 0; i < W * H; i++)
        ASSERT_NEAR(px[i], 0, 0);
    free(px);
    ASSERT_CARD("zero-flat.fits", "IMAGETYP", "'Master Flat'");

    /* Not FITS. */
    st = 0;
    ASSERT(fits_open_diskfile(&ff, "not-fits.fits", READONLY, &st) != 0);

    /* RGB cube. */
    st = 0;
    ASSERT_OK(fits_open_diskfile(&ff, "rgb-cube.fits", READONLY, &st));
    fits_get_img_param(ff, 3, &img_bitpix, &naxis, nax, &st);
    ASSERT_EQ(naxis, 3);
    ASSERT_EQ(nax[2], 3);
    ASSERT_EQ(img_bitpix, 16);
    fits_close_file(ff, &st);
    ac_gen_free(g);
}

TEST(fitsgen_truth_by_hand)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f;
    ac_gen_terms_t t;
    double cx, cy;

    /* Every term of one pixel computed from the documented model. */
    plain_cam(&cam);
    ac_gen_camera_color(&cam, "RGGB");
    cam.dc_base = 0.05;
    ac_gen_t *g = gen_new(&cam);
    ac_gen_optical_centre(g, &cx, &cy);
    ASSERT(fabs(cx - (W - 1) / 2.0) <= 0.03 * W);
    ASSERT(fabs(cy - (H - 1) / 2.0) <= 0.03 * H);
    double k = sqrt(1 / 0.6) - 1, rh = hypot(W, H) / 2;
#define VIGN(x, y) (1.0 / pow(1 + k * (pow((x)-cx, 2) + pow((y)-cy, 2)) / (rh * rh), 2))
    /* Mean vignetting over each colour of the RGGB pattern. */
    double sum[3] = {0, 0, 0};
    int n[3] = {0, 0, 0};
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int c = (x % 2 == 0 && y % 2 == 0) ? 0 : (x % 2 == 1 && y % 2 == 1) ? 2 : 1;
            sum[c] += VIGN(x, y);
            n[c]++;
        }
    const double resp[3] = {0.6, 1.0, 0.5};
    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    f.filter = NULL;
    f.exptime = 120;
    f.ccd_temp = -10;
    int px = 101, py = 7; /* blue */
    ASSERT_OK(ac_gen_pixel_terms(g, &f, px, py, &t, NULL));
    double v = VIGN(px, py);
    double want_mean = 1000 + 0.05 * 120 + resp[2] * v * 200 * (120.0 / 300);
    double want_truth = 200 * (120.0 / 300) * resp[2] * sum[2] / n[2];
    ASSERT_EQ(t.color, 2);
    ASSERT_NEAR(t.bias, 1000, 1e-3);
    ASSERT_NEAR(t.dark_rate, 0.05, 1e-6);
    ASSERT_NEAR(t.response, resp[2] * v, 1e-5);
    ASSERT_NEAR(t.sky, 200, 1e-3);
    ASSERT_NEAR(t.mean, want_mean, 1e-3);
    ASSERT_NEAR(t.truth, want_truth, 1e-3);
    /* Noise: Poisson of the signal in electrons (egain 1) plus read noise. */
    ASSERT_NEAR(t.sigma, sqrt(0.05 * 120 + resp[2] * v * 80 + 25), 1e-3);
    float truth[W], sig[W];
    ASSERT_OK(ac_gen_truth_rows(g, &f, py, 1, truth, sig, NULL));
    ASSERT_NEAR(truth[px], want_truth, 1e-3);
    ASSERT_NEAR(sig[px], t.sigma * (sum[2] / n[2]) / (v), 1e-3);
    double m[3];
    ASSERT_OK(ac_gen_flat_mean(g, NULL, m));
    for (int c = 0; c < 3; c++)
        ASSERT_NEAR(m[c], resp[c] * sum[c] / n[c], 1e-6);
    ASSERT_NEAR(ac_gen_flat_illumination(g, NULL), (25000 - 1000) / m[1], 1e-3);
#undef VIGN
    ac_gen_free(g);
}

TEST(fitsgen_truth_matches_a_calibration)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f, lf;

    /* Calibrate a light by hand with AstroFiler masters (the dark contains the bias, the
     * flat is raw), normalising the flat by its exact per-colour mean, and compare the
     * result with the documented ground truth. */
    small_cam(&cam, 61);
    ac_gen_camera_color(&cam, "RGGB");
    ac_gen_t *g = gen_new(&cam);
    ac_gen_frame_default(&f, AC_GEN_BIAS);
    f.master = AC_GEN_MASTER_ASTROFILER;
    f.ncombine = 50;
    write_frame(g, &f, "B.fits");
    f.type = AC_GEN_DARK;
    f.exptime = 300;
    write_frame(g, &f, "D.fits");
    f.type = AC_GEN_FLAT;
    f.exptime = 2;
    f.filter = NULL;
    write_frame(g, &f, "F.fits");
    ac_gen_frame_default(&lf, AC_GEN_LIGHT);
    lf.filter = NULL;
    lf.index = 3;
    write_frame(g, &lf, "L.fits");
    double *B = read_image("B.fits"), *D = read_image("D.fits");
    double *F = read_image("F.fits"), *L = read_image("L.fits");
    double s[3] = {0, 0, 0};
    int n[3] = {0, 0, 0};
    for (int i = 0; i < W * H; i++) {
        int c = ac_gen_cfa_color(&cam, i % W, i / W);
        F[i] -= B[i];
        s[c] += F[i];
        n[c]++;
    }
    float *truth = malloc(sizeof *truth * W * H), *sig = malloc(sizeof *sig * W * H);
    double *diff = malloc(sizeof *diff * W * H), *z = malloc(sizeof *z * W * H);
    size_t m = 0;
    ASSERT_OK(ac_gen_truth_rows(g, &lf, 0, H, truth, sig, NULL));
    for (int i = 0; i < W * H; i++) {
        int c = ac_gen_cfa_color(&cam, i % W, i / W);
        double cal = (L[i] - D[i]) / (F[i] / (s[c] / n[c]));
        if (isnan(truth[i]))
            continue;
        diff[m] = cal - truth[i];
        z[m] = fabs(diff[m]) / sig[i];
        m++;
    }
    ASSERT(m > W * H * 9 / 10);
    /* Median difference ~ 0 (noise of one light about 16 ADU; median of 12000 values). */
    ASSERT_NEAR(median(diff, m), 0, 0.6);
    /* |z| has a median of 0.674 for Gaussian noise; the masters add a little. */
    ASSERT_NEAR(median(z, m), 0.674, 0.08);
    free(B);
    free(D);
    free(F);
    free(L);
    free(truth);
    free(sig);
    free(diff);
    free(z);
    ac_gen_free(g);
}

static void count_file(const char *path, void *ud)
{
    (void)path;
    (*(int *)ud)++;
}

TEST(fitsgen_night_layout_and_dates)
{
    ac_gen_camera_t cam;
    ac_gen_night_t n;
    ac_err_t e = {0};
    int files = 0;

    small_cam(&cam, 81);
    cam.width = 64;
    cam.height = 48;
    ac_gen_t *g = gen_new(&cam);
    ac_gen_night_default(&n, &cam);
    n.n_lights = 3;
    n.raw_cal = 2;
    n.on_file = count_file;
    n.ud = &files;
    if (ac_gen_write_night(g, &n, "night/a", &e) != 0)
        AC_TEST_FAIL("night: %s", e.msg);
    ASSERT_EQ(files, 3 + 3 + 4 * 2);
    ASSERT_CARD("night/a/lights/M_31_L_300s_0001.fits", "DATE-OBS",
                "'2024-03-15T21:30:00.250'");
    ASSERT_CARD("night/a/lights/M_31_L_300s_0003.fits", "DATE-OBS",
                "'2024-03-15T21:40:10.250'");
    ASSERT_CARD("night/a/lights/M_31_L_300s_0002.fits", "OBJECT", "'M 31    '");
    ASSERT_CARD("night/a/masters/master_dark.fits", "DATE-OBS", "'2024-03-14T21:40:00.250'");
    ASSERT_CARD("night/a/masters/master_flat.fits", "IMAGETYP", "'Master Flat'");
    ASSERT_CARD("night/a/masters/master_bias.fits", "EXPTIME", "'0.0     '");
    ASSERT_CARD("night/a/flatdarks/FlatDark_2s_0002.fits", "IMAGETYP", "'Flat Dark'");
    ASSERT_CARD("night/a/darks/Dark_300s_0001.fits", "EXPTIME", "300.000");

    /* Across midnight, float masters, compressed lights. */
    files = 0;
    n.raw_cal = 0;
    n.n_lights = 4;
    n.cross_midnight = true;
    n.masters = AC_GEN_MASTER_FLOAT;
    n.fz = true;
    if (ac_gen_write_night(g, &n, "night/b", &e) != 0)
        AC_TEST_FAIL("night: %s", e.msg);
    ASSERT_EQ(files, 3 + 4);
    free(read_image("night/b/lights/M_31_L_300s_0002.fits.fz"));
    ASSERT_EQ(img_w, 64);
    ASSERT_CARD("night/b/lights/M_31_L_300s_0002.fits.fz", "DATE-OBS",
                "'2024-03-15T23:54:55.250'");
    ASSERT_CARD("night/b/lights/M_31_L_300s_0003.fits.fz", "DATE-OBS",
                "'2024-03-16T00:00:00.250'");
    ASSERT_CARD("night/b/masters/master_dark.fits", "DARKBIAS", "F");
    ac_gen_free(g);
}

TEST(fitsgen_date_add)
{
    char out[40];
    ASSERT_OK(ac_gen_date_add("2024-02-28T23:59:59.500", 1.0, out, sizeof out));
    ASSERT_STR_EQ(out, "2024-02-29T00:00:00.500");
    ASSERT_OK(ac_gen_date_add("2023-12-31T23:59:59.999", 0.001, out, sizeof out));
    ASSERT_STR_EQ(out, "2024-01-01T00:00:00.000");
    ASSERT_OK(ac_gen_date_add("2024-03-15T21:30:00", -86400, out, sizeof out));
    ASSERT_STR_EQ(out, "2024-03-14T21:30:00.000");
    ASSERT_EQ(ac_gen_date_add("15/03/2024", 1, out, sizeof out), -EINVAL);
}

TEST(fitsgen_rejects_bad_arguments)
{
    ac_gen_camera_t cam;
    ac_err_t e = {0};
    ac_gen_frame_t f;

    small_cam(&cam, 1);
    memcpy(cam.bayerpat, "RGBX", 5);
    ASSERT_NULL(ac_gen_new(&cam, &e));
    ASSERT_EQ(e.code, -EINVAL);
    ASSERT_CONTAINS(e.msg, "RGBX");
    ac_gen_t *g = small_gen(&cam, 1);
    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    f.master = AC_GEN_MASTER_FLOAT;
    ac_err_clear(&e);
    ASSERT_EQ(ac_gen_write_frame(g, &f, "x.fits", &e), -EINVAL);
    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    f.bitpix = 8;
    ac_err_clear(&e);
    ASSERT_EQ(ac_gen_write_frame(g, &f, "x.fits", &e), -EINVAL);
    ac_gen_free(g);
}
