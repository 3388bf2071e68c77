/*
 * test-fitsgen.c - the synthetic data generator: determinism, headers, storage, noise and
 * signal statistics against hand-computed expectations, masters, bad files, ground truth,
 * nights and dates. Images are small (128 x 96 or less).
 */
#include <errno.h>
#include <fitsio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fitsgen.h"
#include "test.h"

#define W 128
#define H 96

/* A small camera with the defaults otherwise. */
static void small_cam(ac_gen_camera_t *cam, uint64_t seed)
{
    ac_gen_camera_default(cam, seed);
    cam->width = W;
    cam->height = H;
}

/* A camera with no fixed pattern, no hot pixels, no stars, no dust, no PRNU and no
 * gradient, so that every term can be computed by hand. */
static void plain_cam(ac_gen_camera_t *cam)
{
    small_cam(cam, 11);
    cam->bias_col_sd = 0;
    cam->bias_fpn_sd = 0;
    cam->dc_var = 0;
    cam->hot_fraction = 0;
    cam->n_stars = 0;
    cam->n_dust = 0;
    cam->prnu = 0;
    cam->sky_gradient = 0;
    cam->temp_jitter = 0;
}

static ac_gen_t *gen_new(const ac_gen_camera_t *cam)
{
    ac_err_t e = {0};
    ac_gen_t *g = ac_gen_new(cam, &e);
    if (!g)
        AC_TEST_FAIL("ac_gen_new: %s", e.msg);
    return g;
}

static void write_frame(ac_gen_t *g, const ac_gen_frame_t *f, const char *path)
{
    ac_err_t e = {0};
    if (ac_gen_write_frame(g, f, path, &e) != 0)
        AC_TEST_FAIL("ac_gen_write_frame %s: %s", path, e.msg);
}

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

/* open_image opens path at its first HDU with an image (past an empty primary for .fz). */
static fitsfile *open_image(const char *path)
{
    fitsfile *ff = NULL;
    int st = 0, naxis = 0, hdutype;
    if (fits_open_diskfile(&ff, path, READONLY, &st))
        AC_TEST_FAIL("cannot open %s: status %d", path, st);
    fits_get_img_dim(ff, &naxis, &st);
    if (naxis == 0)
        fits_movabs_hdu(ff, 2, &hdutype, &st);
    ASSERT_EQ(st, 0);
    return ff;
}

/* The size and BITPIX of the last image read by read_image. */
static int img_w, img_h, img_bitpix;

/* read_image reads the image of path as double (owned by the caller). */
static double *read_image(const char *path)
{
    fitsfile *ff = open_image(path);
    int st = 0, naxis = 0;
    long nax[3] = {0, 0, 0}, fp[3] = {1, 1, 1};
    double *px;

    fits_get_img_param(ff, 3, &img_bitpix, &naxis, nax, &st);
    img_w = (int)nax[0];
    img_h = (int)nax[1];
    px = malloc(sizeof *px * (size_t)nax[0] * (size_t)nax[1]);
    ASSERT_NOT_NULL(px);
    fits_read_pix(ff, TDOUBLE, fp, nax[0] * nax[1], NULL, px, NULL, &st);
    ASSERT_EQ(st, 0);
    fits_close_file(ff, &st);
    return px;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, size_t n)
{
    double *c = malloc(n * sizeof *c), m;
    memcpy(c, v, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_double);
    m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    free(c);
    return m;
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

/* read_card returns the raw value field of a keyword of the image HDU (quotes kept), ""
 * when absent. */
static void read_card(const char *path, const char *key, char *value)
{
    fitsfile *ff = open_image(path);
    int st = 0;
    value[0] = '\0';
    if (fits_read_keyword(ff, key, value, NULL, &st))
        value[0] = '\0';
    st = 0;
    fits_close_file(ff, &st);
}

/* ASSERT_CARD compares the raw value field of a keyword ("" when absent). */
#define ASSERT_CARD(path, key, want)                                                           \
    do {                                                                                       \
        char cv_[FLEN_VALUE];                                                                  \
        read_card(path, key, cv_);                                                             \
        ASSERT_STR_EQ(cv_, want);                                                              \
    } while (0)

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
    read_card("fd.fits", "CCD_TEMP", sval);
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

    small_cam(&cam, 4);
    ac_gen_t *g = gen_new(&cam);
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

    small_cam(&cam, 8);
    ac_gen_t *g = gen_new(&cam);
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

TEST(fitsgen_bias_noise_is_read_noise)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f;
    double mean, sd;

    small_cam(&cam, 21);
    ac_gen_t *g = gen_new(&cam);
    ac_gen_frame_default(&f, AC_GEN_BIAS);
    f.index = 1;
    write_frame(g, &f, "b1.fits");
    f.index = 2;
    write_frame(g, &f, "b2.fits");
    double *a = read_image("b1.fits");
    double *b = read_image("b2.fits");
    double *d = malloc(sizeof *d * W * H);
    for (int i = 0; i < W * H; i++)
        d[i] = a[i] - b[i];
    /* The fixed pattern cancels in the difference of two frames; what is left is the read
     * noise (plus 1/12 ADU^2 of rounding) times sqrt(2). */
    mean_sd(d, W * H, &mean, &sd);
    double rn = sd / sqrt(2.0);
    ASSERT_NEAR(mean, 0, 0.3);
    ASSERT_NEAR(rn, 5.0, 0.5);
    /* The frame itself: bias level plus column (sd 2) and pixel (sd 0.5) patterns. */
    mean_sd(a, W * H, &mean, &sd);
    ASSERT_NEAR(mean, 1000, 1.0);
    ASSERT_NEAR(sd, sqrt(25 + 4 + 0.25), 0.6);
    free(a);
    free(b);
    free(d);
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
    double mean, sd;

    small_cam(&cam, 31);
    ac_gen_t *g = gen_new(&cam);
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
    f.index = 1;
    write_frame(g, &f, "m1.fits");
    f.index = 2;
    write_frame(g, &f, "m2.fits");
    double *a = read_image("m1.fits");
    double *b = read_image("m2.fits");
    for (int i = 0; i < W * H; i++)
        a[i] -= b[i];
    mean_sd(a, W * H, &mean, &sd);
    ASSERT_NEAR(sd / sqrt(2.0), 5.0 / 5, 0.1);
    free(a);
    free(b);
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

TEST(fitsgen_bad_files)
{
    ac_gen_camera_t cam;
    ac_err_t e = {0};
    fitsfile *ff = NULL;
    struct stat sb;
    int st = 0, naxis = 0;
    long nax[3] = {0, 0, 0};

    small_cam(&cam, 51);
    ac_gen_t *g = gen_new(&cam);
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

TEST(fitsgen_compressed_and_32bit)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f;
    struct stat a, b;

    small_cam(&cam, 71);
    ac_gen_t *g = gen_new(&cam);
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
    small_cam(&cam, 1);
    ac_gen_t *g = gen_new(&cam);
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
