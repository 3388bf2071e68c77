/*
 * test-fitsgen.c - the synthetic data generator's frames: determinism, headers and storage
 * (plain, compressed, 32-bit), masters, saturation, and noise and signal statistics against
 * hand-computed expectations. Bad files, the ground truth, nights and dates are in
 * test-fitsgen-truth.c. Images are small (128 x 96 or less).
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

/* same_bytes says whether two files have identical contents. */
static bool same_bytes(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int ca, cb;
    ASSERT(fa && fb);
    do {
        ca = getc(fa);
        cb = getc(fb);
    } while (ca == cb && ca != EOF);
    fclose(fa);
    fclose(fb);
    return ca == cb;
}

static void mean_sd(const double *v, size_t n, double *mean, double *sd)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++)
        s2 += (v[i] - *mean) * (v[i] - *mean);
    *sd = sqrt(s2 / (double)(n - 1));
}

TEST(fitsgen_determinism)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f;

    small_cam(&cam, 5);
    ac_gen_t *g1 = gen_new(&cam), *g2 = gen_new(&cam);
    cam.seed = 6;
    ac_gen_t *g3 = gen_new(&cam);
    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    write_frame(g1, &f, "a.fits");
    write_frame(g2, &f, "b.fits");
    write_frame(g3, &f, "c.fits");
    f.index = 1;
    write_frame(g1, &f, "d.fits");
    ASSERT(same_bytes("a.fits", "b.fits"));
    ASSERT(!same_bytes("a.fits", "c.fits")); /* another seed */
    ASSERT(!same_bytes("a.fits", "d.fits")); /* another frame index */

    /* A strip generated on its own equals the same rows of the whole frame. */
    float *whole = malloc(sizeof *whole * W * H), *strip = malloc(sizeof *strip * W * 7);
    ASSERT_OK(ac_gen_frame_rows(g1, &f, 0, H, whole, NULL));
    ASSERT_OK(ac_gen_frame_rows(g1, &f, 40, 7, strip, NULL));
    ASSERT(memcmp(whole + 40 * W, strip, sizeof *strip * W * 7) == 0);
    free(whole);
    free(strip);
    ac_gen_free(g1);
    ac_gen_free(g2);
    ac_gen_free(g3);
}

TEST(fitsgen_light_headers_and_storage)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f;
    fitsfile *ff = NULL;
    int st = 0, ival = 0;
    double dval = 0;
    char sval[FLEN_VALUE];
    long nax[2];

    small_cam(&cam, 3);
    ac_gen_camera_color(&cam, "RGGB");
    ac_gen_t *g = gen_new(&cam);
    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    f.filter = "L";
    f.object = "NGC 7000";
    f.date_obs = "2024-03-15T22:01:02.345";
    write_frame(g, &f, "light.fits");

    ASSERT_OK(fits_open_diskfile(&ff, "light.fits", READONLY, &st));
    fits_get_img_param(ff, 2, &img_bitpix, &ival, nax, &st);
    ASSERT_EQ(img_bitpix, 16);
    ASSERT_EQ(nax[0], W);
    ASSERT_EQ(nax[1], H);
    fits_read_key(ff, TDOUBLE, "BZERO", &dval, NULL, &st);
    ASSERT_NEAR(dval, 32768, 0);
    fits_read_key(ff, TDOUBLE, "CCD-TEMP", &dval, NULL, &st);
    ASSERT_NEAR(dval, -10, 0.1 + 1e-9);
    ASSERT_EQ(st, 0);
    /* Raw value fields: quoted strings, unquoted numbers. */
    ASSERT_CARD("light.fits", "IMAGETYP", "'Light Frame'");
    ASSERT_CARD("light.fits", "EXPTIME", "300.000");
    ASSERT_CARD("light.fits", "DATE-OBS", "'2024-03-15T22:01:02.345'");
    ASSERT_CARD("light.fits", "SET-TEMP", "-10.0");
    ASSERT_CARD("light.fits", "XBINNING", "1");
    ASSERT_CARD("light.fits", "YBINNING", "1");
    ASSERT_CARD("light.fits", "GAIN", "100");
    ASSERT_CARD("light.fits", "OFFSET", "50");
    ASSERT_CARD("light.fits", "FILTER", "'L       '");
    ASSERT_CARD("light.fits", "OBJECT", "'NGC 7000'");
    ASSERT_CARD("light.fits", "TELESCOP", "'SimScope 80/480'");
    ASSERT_CARD("light.fits", "INSTRUME", "'SimCam 640MC'");
    ASSERT_CARD("light.fits", "SWCREATE", "'acgen (astrocald synthetic data)'");
    ASSERT_CARD("light.fits", "BAYERPAT", "'RGGB    '");
    ASSERT_CARD("light.fits", "XBAYROFF", "0");
    ASSERT_CARD("light.fits", "YBAYROFF", "0");
    /* The stored integers are unsigned 16-bit through BZERO = 32768: read the raw signed
     * shorts with scaling off and add 32768 by hand. */
    short *raw16 = malloc(sizeof *raw16 * W * H);
    float *want = malloc(sizeof *want * W * H);
    long fp[2] = {1, 1};
    fits_set_bscale(ff, 1.0, 0.0, &st);
    fits_read_pix(ff, TSHORT, fp, W * H, NULL, raw16, NULL, &st);
    ASSERT_EQ(st, 0);
    ASSERT_OK(ac_gen_frame_rows(g, &f, 0, H, want, NULL));
    for (int i = 0; i < W * H; i++)
        ASSERT_EQ(raw16[i] + 32768, (int)want[i]);
    fits_close_file(ff, &st);
    free(raw16);
    free(want);

    /* Alternative keyword names and short type names. */
    cam.keys = AC_GEN_KEYS_ALT;
    cam.typenames = AC_GEN_NAMES_SHORT;
    ac_gen_t *g2 = gen_new(&cam);
    ac_gen_frame_default(&f, AC_GEN_FLATDARK);
    write_frame(g2, &f, "fd.fits");
    ASSERT_CARD("fd.fits", "FRAME", "'DARKFLAT'");
    ASSERT_CARD("fd.fits", "EXPOSURE", "2.000");
    ac_fitsread_card("fd.fits", "CCD_TEMP", sval);
    ASSERT(sval[0] != '\0');
    ASSERT_CARD("fd.fits", "BINX", "1");
    ASSERT_CARD("fd.fits", "IMAGETYP", "");
    ASSERT_CARD("fd.fits", "FILTER", ""); /* flat-darks have no filter */
    ac_gen_free(g);
    ac_gen_free(g2);
}

TEST(fitsgen_master_headers)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f;

    ac_gen_t *g = small_gen(&cam, 4);
    ac_gen_frame_default(&f, AC_GEN_DARK);
    f.master = AC_GEN_MASTER_ASTROFILER;
    f.exptime_string = true;
    write_frame(g, &f, "mdark16.fits");
    ASSERT_CARD("mdark16.fits", "IMAGETYP", "'Master Dark'");
    ASSERT_CARD("mdark16.fits", "EXPTIME",
                "'300.0   '"); /* cfitsio pads strings to 8 characters */
    ASSERT_CARD("mdark16.fits", "NCOMBINE", "20");
    ASSERT_CARD("mdark16.fits", "BITPIX", "16");
    ASSERT_CARD("mdark16.fits", "DARKBIAS", "");

    f.master = AC_GEN_MASTER_FLOAT;
    f.exptime_string = false;
    write_frame(g, &f, "mdark32.fits");
    ASSERT_CARD("mdark32.fits", "BITPIX", "-32");
    ASSERT_CARD("mdark32.fits", "DARKBIAS", "F");
    ASSERT_CARD("mdark32.fits", "BIASSUB", "T");
    ASSERT_CARD("mdark32.fits", "BZERO", "");

    ac_gen_frame_default(&f, AC_GEN_FLAT);
    f.master = AC_GEN_MASTER_FLOAT;
    f.flat_normalised = true;
    write_frame(g, &f, "mflat.fits");
    ASSERT_CARD("mflat.fits", "IMAGETYP", "'Master Flat'");
    ASSERT_CARD("mflat.fits", "FLATNORM", "T");
    ASSERT_CARD("mflat.fits", "FILTER", "'L       '");
    /* Normalised: the mean is 1. */
    double *px = read_image("mflat.fits"), mean, sd;
    mean_sd(px, (size_t)W * H, &mean, &sd);
    ASSERT_NEAR(mean, 1.0, 0.002);
    free(px);
    ac_gen_free(g);
}

TEST(fitsgen_saturation_and_clipping)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f;
    size_t n_sat = 0, n_nan = 0;

    ac_gen_t *g = small_gen(&cam, 8);
    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    write_frame(g, &f, "l.fits");
    double *px = read_image("l.fits");
    float *truth = malloc(sizeof *truth * W * H);
    ASSERT_OK(ac_gen_truth_rows(g, &f, 0, H, truth, NULL, NULL));
    for (int i = 0; i < W * H; i++) {
        ASSERT(px[i] >= 0 && px[i] <= 65535);
        n_sat += px[i] == 65535;
        if (isnan(truth[i])) {
            n_nan++;
            ASSERT(px[i] > 60000); /* the truth is withheld only near saturation */
        }
    }
    ASSERT(n_sat > 0); /* at least one star saturates */
    ASSERT(n_nan >= n_sat / 2);
    free(px);
    free(truth);
    ac_gen_free(g);

    /* Float output shows the clipping at both ends: a sky far above 65535 ADU, and a
     * camera with no bias offset (half of the pixels would be negative). */
    cam.sky_level = 500000;
    g = gen_new(&cam);
    f.bitpix = -32;
    write_frame(g, &f, "bright.fits");
    px = read_image("bright.fits");
    ASSERT_EQ(img_bitpix, -32);
    for (int i = 0; i < W * H; i++)
        ASSERT_NEAR(px[i], 65535, 0);
    free(px);
    ac_gen_free(g);

    plain_cam(&cam);
    cam.bias_level = 0;
    g = gen_new(&cam);
    ac_gen_frame_default(&f, AC_GEN_BIAS);
    f.bitpix = -32;
    write_frame(g, &f, "zero.fits");
    px = read_image("zero.fits");
    size_t n_zero = 0;
    for (int i = 0; i < W * H; i++) {
        ASSERT(px[i] >= 0);
        ASSERT_NEAR(px[i], floor(px[i]), 0);
        n_zero += px[i] == 0;
    }
    /* P(N(0, 5) < 0.5) = 0.54: about half the pixels clip to 0. */
    ASSERT(n_zero > W * H * 45 / 100 && n_zero < W * H * 63 / 100);
    free(px);
    ac_gen_free(g);
}

/* pair_noise writes frames 1 and 2 of f as <stem>1.fits and <stem>2.fits and returns the
 * noise of one frame: the standard deviation of their difference (where the fixed pattern
 * cancels) over sqrt(2). *diff_mean (may be NULL) receives the mean difference, *first (may
 * be NULL) the pixels of frame 1 (owned by the caller, free). */
static double pair_noise(ac_gen_t *g, ac_gen_frame_t *f, const char *stem, double *diff_mean,
                         double **first)
{
    char p1[64], p2[64];
    double *a, *b, *d = malloc(sizeof *d * W * H), mean, sd;

    ASSERT_NOT_NULL(d);
    snprintf(p1, sizeof p1, "%s1.fits", stem);
    snprintf(p2, sizeof p2, "%s2.fits", stem);
    f->index = 1;
    write_frame(g, f, p1);
    f->index = 2;
    write_frame(g, f, p2);
    a = read_image(p1);
    b = read_image(p2);
    for (int i = 0; i < W * H; i++)
        d[i] = a[i] - b[i];
    mean_sd(d, W * H, &mean, &sd);
    if (diff_mean != NULL)
        *diff_mean = mean;
    if (first != NULL)
        *first = a;
    else
        free(a);
    free(b);
    free(d);
    return sd / sqrt(2.0);
}

TEST(fitsgen_bias_noise_is_read_noise)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f;
    double mean, sd;

    ac_gen_t *g = small_gen(&cam, 21);
    ac_gen_frame_default(&f, AC_GEN_BIAS);
    /* The fixed pattern cancels in the difference of two frames; what is left is the read
     * noise (plus 1/12 ADU^2 of rounding) times sqrt(2). */
    double *a, rn = pair_noise(g, &f, "b", &mean, &a);
    ASSERT_NEAR(mean, 0, 0.3);
    ASSERT_NEAR(rn, 5.0, 0.5);
    /* The frame itself: bias level plus column (sd 2) and pixel (sd 0.5) patterns. */
    mean_sd(a, W * H, &mean, &sd);
    ASSERT_NEAR(mean, 1000, 1.0);
    ASSERT_NEAR(sd, sqrt(25 + 4 + 0.25), 0.6);
    free(a);
    ac_gen_free(g);
}

TEST(fitsgen_dark_mean_follows_rate_and_temperature)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f;
    double mean, sd;

    plain_cam(&cam);
    cam.dc_base = 0.5; /* ADU/s at -10 C */
    ac_gen_t *g = gen_new(&cam);
    ac_gen_frame_default(&f, AC_GEN_DARK);
    f.exptime = 200;
    f.ccd_temp = -10;
    write_frame(g, &f, "d1.fits");
    double *px = read_image("d1.fits");
    mean_sd(px, W * H, &mean, &sd);
    ASSERT_NEAR(mean, 1000 + 0.5 * 200, 0.5);
    /* Shot noise of 100 ADU (egain 1) and read noise 5: sqrt(125). */
    ASSERT_NEAR(sd, sqrt(125.0), 0.1 * sqrt(125.0));
    free(px);
    /* 6.3 C warmer doubles the dark current. */
    f.ccd_temp = -3.7;
    write_frame(g, &f, "d2.fits");
    px = read_image("d2.fits");
    mean_sd(px, W * H, &mean, &sd);
    ASSERT_NEAR(mean, 1000 + 2 * 0.5 * 200, 0.5);
    free(px);
    ac_gen_free(g);

    /* Hot pixels: about 1e-4 of the pixels, 50-500 times the rate. */
    plain_cam(&cam);
    cam.width = cam.height = 256;
    cam.hot_fraction = 2e-3;
    g = gen_new(&cam);
    int n_hot = 0;
    for (int y = 0; y < 256; y++)
        for (int x = 0; x < 256; x++) {
            ac_gen_terms_t t;
            ASSERT_OK(ac_gen_pixel_terms(g, &f, x, y, &t, NULL));
            if (t.hot) {
                n_hot++;
                ASSERT(t.dark_rate >= 50 * 0.02 * 2 - 1e-6);
                ASSERT(t.dark_rate <= 500 * 0.02 * 2 + 1e-6);
            } else {
                ASSERT_NEAR(t.dark_rate, 0.02 * 2, 1e-6);
            }
        }
    ASSERT(n_hot > 65536 * 2e-3 * 0.6 && n_hot < 65536 * 2e-3 * 1.4);
    ac_gen_free(g);
}

TEST(fitsgen_master_darks_and_bias_noise)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f;

    ac_gen_t *g = small_gen(&cam, 31);
    ac_gen_frame_default(&f, AC_GEN_DARK);
    f.master = AC_GEN_MASTER_ASTROFILER;
    write_frame(g, &f, "af.fits");
    f.master = AC_GEN_MASTER_FLOAT;
    write_frame(g, &f, "fl.fits");
    double *af = read_image("af.fits");
    ASSERT_EQ(img_bitpix, 16);
    /* AstroFiler: bias (1000) + 0.02 ADU/s * 300 s, the dark still contains the bias. */
    ASSERT_NEAR(median(af, W * H), 1006, 1.0);
    double *fl = read_image("fl.fits");
    ASSERT_EQ(img_bitpix, -32);
    /* Float: bias-free, 6 ADU. */
    ASSERT_NEAR(median(fl, W * H), 6, 0.5);
    free(af);
    free(fl);

    /* Masters carry the noise of one frame reduced by sqrt(NCOMBINE). */
    ac_gen_frame_default(&f, AC_GEN_BIAS);
    f.master = AC_GEN_MASTER_FLOAT;
    f.ncombine = 25;
    ASSERT_NEAR(pair_noise(g, &f, "m", NULL, NULL), 5.0 / 5, 0.1);
    ac_gen_free(g);
}

TEST(fitsgen_flat_colour_response)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f;
    double sum[3] = {0, 0, 0};
    int n[3] = {0, 0, 0};

    small_cam(&cam, 41);
    ac_gen_camera_color(&cam, "RGGB");
    ac_gen_t *g = gen_new(&cam);
    ac_gen_frame_default(&f, AC_GEN_FLAT);
    f.filter = NULL;
    f.master = AC_GEN_MASTER_ASTROFILER;
    write_frame(g, &f, "flat.fits");
    double *px = read_image("flat.fits");
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            /* RGGB: red at even x and even y, blue at odd x and odd y. */
            int c = (x % 2 == 0 && y % 2 == 0) ? 0 : (x % 2 == 1 && y % 2 == 1) ? 2 : 1;
            sum[c] += px[y * W + x] - 1000; /* the AstroFiler flat contains the bias */
            n[c]++;
        }
    double r = sum[0] / n[0], gr = sum[1] / n[1], b = sum[2] / n[2];
    ASSERT_NEAR(gr, 25000 - 1000, 240);
    ASSERT_NEAR(r / gr, 0.6, 0.006);
    ASSERT_NEAR(b / gr, 0.5, 0.005);
    free(px);

    /* An Ha filter changes the colour balance. */
    f.filter = "Ha";
    write_frame(g, &f, "flat_ha.fits");
    px = read_image("flat_ha.fits");
    sum[0] = sum[1] = 0;
    for (int y = 0; y < H; y += 2)
        for (int x = 0; x < W; x += 2) {
            sum[0] += px[y * W + x] - 1000;
            sum[1] += px[y * W + x + 1] - 1000;
        }
    ASSERT_NEAR(sum[0] / sum[1], 0.55 / 0.25, 0.03);
    free(px);
    ac_gen_free(g);
}

TEST(fitsgen_compressed_and_32bit)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f;
    struct stat a, b;

    ac_gen_t *g = small_gen(&cam, 71);
    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    write_frame(g, &f, "plain.fits");
    f.fz = true;
    write_frame(g, &f, "comp.fits.fz");
    f.fz = false;
    f.bitpix = 32;
    write_frame(g, &f, "i32.fits");
    double *p = read_image("plain.fits");
    double *c = read_image("comp.fits.fz");
    ASSERT_EQ(img_bitpix, 16);
    double *q = read_image("i32.fits");
    ASSERT_EQ(img_bitpix, 32);
    for (int i = 0; i < W * H; i++) {
        ASSERT_NEAR(c[i], p[i], 0);
        ASSERT_NEAR(q[i], p[i], 0);
    }
    ASSERT_OK(stat("plain.fits", &a));
    ASSERT_OK(stat("comp.fits.fz", &b));
    ASSERT(b.st_size < a.st_size);
    free(p);
    free(c);
    free(q);

    /* A float master compresses losslessly. */
    ac_gen_frame_default(&f, AC_GEN_DARK);
    f.master = AC_GEN_MASTER_FLOAT;
    write_frame(g, &f, "md.fits");
    f.fz = true;
    write_frame(g, &f, "md.fits.fz");
    p = read_image("md.fits");
    c = read_image("md.fits.fz");
    ASSERT_EQ(img_bitpix, -32);
    for (int i = 0; i < W * H; i++)
        ASSERT_NEAR(c[i], p[i], 0);
    free(p);
    free(c);
    ac_gen_free(g);
}
