/*
 * test-oneshot.c - `astrocald calibrate` end to end on generated data: every output is
 * compared with a double-precision reference computed here from the same files (read with
 * cfitsio, not with astrocald's reader), with the generator's noiseless ground truth, and
 * checked with fitsverify; bad files fail with their specific reason while the good files
 * of the same run succeed.
 */
#include <dirent.h>
#include <glob.h>

#include "fitsgen.h"
#include "harness.h"
#include "support.h"
#include "tools.h"

#define W 160
#define H 120

/* argv_from returns pre (NULL-terminated) followed by first and the rest of ap (up to a NULL)
 * in a static array overwritten by the next call. */
static char *const *argv_from(const char *const *pre, const char *first, va_list ap)
{
    static char *args[64];
    int n = 0;

    while (*pre != NULL)
        args[n++] = (char *)*pre++;
    args[n++] = (char *)first;
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 63;)
        args[n++] = a;
    args[n] = NULL;
    return args;
}

static char *const *argv_of(const char *first, ...)
{
    static const char *const none[] = {NULL};
    char *const *args;
    va_list ap;

    va_start(ap, first);
    args = argv_from(none, first, ap);
    va_end(ap);
    return args;
}

/* calibrate_night runs `astrocald calibrate` with the three masters of make_night("night")
 * and the further arguments (up to a NULL); as run_capture. */
static int calibrate_night(char **out, const char *first, ...)
{
    static const char *const pre[] = {AC_ASTROCALD_BIN,
                                      "calibrate",
                                      "--bias",
                                      "night/masters/master_bias.fits",
                                      "--dark",
                                      "night/masters/master_dark.fits",
                                      "--flat",
                                      "night/masters/master_flat.fits",
                                      NULL};
    char *const *args;
    va_list ap;

    va_start(ap, first);
    args = argv_from(pre, first, ap);
    va_end(ap);
    return run_capture(args, out);
}

/* make_night_sized writes masters and w x h lights under dir with the given master style. */
static ac_gen_t *make_night_sized(const char *dir, bool color, int masters, int nlights, int w,
                                  int h)
{
    ac_gen_camera_t cam;
    ac_gen_night_t night;
    ac_err_t e = {0};
    ac_gen_t *g;

    ac_gen_camera_sized(&cam, 42, w, h);
    if (color)
        ac_gen_camera_color(&cam, "RGGB");
    g = ac_gen_new(&cam, &e);
    ASSERT_NOT_NULL(g);
    ac_gen_night_default(&night, &cam);
    night.n_lights = nlights;
    night.masters = masters;
    if (ac_gen_write_night(g, &night, dir, &e) != 0)
        AC_TEST_FAIL("write night: %s", e.msg);
    return g;
}

/* make_night is make_night_sized at W x H. */
static ac_gen_t *make_night(const char *dir, bool color, int masters, int nlights)
{
    return make_night_sized(dir, color, masters, nlights, W, H);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median_mad sets *med to the median (upper middle) of the n values v and *mad to their
 * median absolute deviation from it; v is not changed. */
static void median_mad(const double *v, size_t n, double *med, double *mad)
{
    double *tmp = malloc(n * sizeof *tmp);

    ASSERT_NOT_NULL(tmp);
    memcpy(tmp, v, n * sizeof *tmp);
    qsort(tmp, n, sizeof *tmp, cmp_double);
    *med = tmp[n / 2];
    for (size_t i = 0; i < n; i++)
        tmp[i] = fabs(v[i] - *med);
    qsort(tmp, n, sizeof *tmp, cmp_double);
    *mad = tmp[n / 2];
    free(tmp);
}

/* robust_mean: mean of values within 3 sigma (1.4826 MAD) of the median, then 3 more
 * iterations around the mean with the standard deviation: an independent robust mean. */
static double robust_mean(const double *v, size_t n)
{
    double med, mad, mean, sd;
    size_t k;

    median_mad(v, n, &med, &mad);
    mean = med;
    sd = mad * 1.4826;
    for (int it = 0; it < 4; it++) {
        double s = 0, s2 = 0;
        k = 0;
        for (size_t i = 0; i < n; i++) {
            if (fabs(v[i] - mean) <= 3 * sd) {
                s += v[i];
                s2 += v[i] * v[i];
                k++;
            }
        }
        mean = s / (double)k;
        sd = sqrt(fmax(s2 / (double)k - mean * mean, 0));
    }
    return mean;
}

/* flat_scales reads the flat scales an output records: FLATSCLR, FLATSCLG, FLATSCLB for a
 * colour output, FLATSCAL three times for a mono one. */
static void flat_scales(const char *out_path, bool color, double s[3])
{
    if (color) {
        s[0] = read_key_double(out_path, "FLATSCLR");
        s[1] = read_key_double(out_path, "FLATSCLG");
        s[2] = read_key_double(out_path, "FLATSCLB");
    } else {
        s[0] = s[1] = s[2] = read_key_double(out_path, "FLATSCAL");
    }
}

/* reference computes, in double, out = (L - offset) / max(Fc / s_c, floor) for every pixel,
 * where the caller gives the offset plane and the offset-free flat; s_c are the scales the
 * output header records (checked against robust_mean separately). */
static void check_against_reference(const char *out_path, const double *light,
                                    const double *offset, const double *flat_c, bool color,
                                    double floor_)
{
    int w, h;
    double *out = read_image(out_path, &w, &h);
    double s[3];
    double worst = 0;

    ASSERT_EQ(w, W);
    ASSERT_EQ(h, H);
    flat_scales(out_path, color, s);
    /* The scales themselves against the independent robust mean of each colour. */
    for (int c = 0; c < (color ? 3 : 1); c++) {
        double *v = malloc(sizeof(double) * W * H);
        size_t n = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int cc = color ? "RGGB"[2 * (y & 1) + (x & 1)] : 'R';
                int ci = cc == 'R' ? 0 : cc == 'G' ? 1 : 2;
                if (!color || ci == c)
                    v[n++] = flat_c[(size_t)y * W + x];
            }
        double ref = robust_mean(v, n);
        free(v);
        ASSERT_NEAR(s[c] / ref, 1.0, 2e-3);
    }
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            size_t i = (size_t)y * W + x;
            int cc = color ? "RGGB"[2 * (y & 1) + (x & 1)] : 'R';
            int ci = cc == 'R' ? 0 : cc == 'G' ? 1 : 2;
            double fn = fmax(flat_c[i] / s[ci], floor_);
            double ref = (light[i] - offset[i]) / fn;
            double tol = 2e-6 * fabs(ref) + 2e-4 * (1 + fabs(light[i]) / fn * 1e-3);
            double d = fabs(out[i] - ref);
            if (d > worst)
                worst = d;
            if (!(d <= tol))
                AC_TEST_FAIL("pixel (%d,%d): output %.9g, reference %.9g", x, y, out[i], ref);
        }
    }
    printf("largest difference from the double reference: %.3g ADU\n", worst);
    free(out);
}

/* check_against_truth compares an output with the noiseless scene: the median of the
 * residual (after the engine's own flat scale) must be near zero and its spread near the
 * expected noise. */
static void check_against_truth(ac_gen_t *g, int index, const char *out_path, bool color)
{
    ac_gen_frame_t f;
    ac_err_t e = {0};
    float *truth = malloc(sizeof(float) * W * H), *sigma = malloc(sizeof(float) * W * H);
    int w, h;
    double *out = read_image(out_path, &w, &h);
    double *z = malloc(sizeof(double) * W * H), m[3], F0, s[3], med, mad, spread;
    size_t n = 0;

    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    f.index = index;
    f.filter = color ? NULL : "L";
    ASSERT_OK(ac_gen_truth_rows(g, &f, 0, H, truth, sigma, &e));
    ASSERT_OK(ac_gen_flat_mean(g, f.filter, m));
    F0 = ac_gen_flat_illumination(g, f.filter);
    flat_scales(out_path, color, s);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t i = (size_t)y * W + x;
            int c = color ? ac_gen_cfa_color(ac_gen_camera(g), x, y) : 0;
            if (!isfinite(truth[i]))
                continue;
            double expect = truth[i] * s[c] / (F0 * m[c]);
            z[n++] = (out[i] - expect) / sigma[i];
        }
    median_mad(z, n, &med, &mad);
    spread = 1.4826 * mad;
    printf("truth residual: median %.3f sigma, spread %.3f sigma\n", med, spread);
    ASSERT_NEAR(med, 0.0, 0.08);
    ASSERT_NEAR(spread, 1.0, 0.15);
    free(truth);
    free(sigma);
    free(out);
    free(z);
}

/* read_masters reads night/masters/master_bias.fits, master_dark.fits and master_flat.fits
 * into m[0], m[1], m[2] (owned by the caller, free). */
static void read_masters(double *m[3])
{
    static const char *const names[] = {"bias", "dark", "flat"};
    char path[256];
    int w, h;

    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "night/masters/master_%s.fits", names[k]);
        m[k] = read_image(path, &w, &h);
    }
}

/* assert_master_md5s requires in output op the MD5 of each master file (md5sum's, the
 * file hashed beside the first lights: oneshot_masters.h) that applies. */
static void assert_master_md5s(const char *op, bool flat)
{
    static const char *const key[] = {"BIASMD5", "DARKMD5", "FLATMD5"};
    static const char *const file[] = {"night/masters/master_bias.fits",
                                       "night/masters/master_dark.fits",
                                       "night/masters/master_flat.fits"};

    for (int k = 0; k < (flat ? 3 : 2); k++) {
        char want[33];
        snprintf(want, sizeof want, "%s", ac_tools_hash("md5sum", file[k]));
        ASSERT_STR_EQ(read_key_string(op, key[k]), want);
    }
}

/* check_output checks out/<stem>_<i>_calibrated.fits, calibrated from
 * night/lights/<stem>_<i>.fits (i as %04d), against the double reference of the offset plane
 * and the offset-free flat, against the truth, and with fitsverify; op receives its path. */
static void check_output(ac_gen_t *g, const char *stem, int i, const double *offset,
                         const double *flat_c, bool color, char op[256])
{
    char lp[256];
    double *light;
    int w, h;

    snprintf(lp, sizeof lp, "night/lights/%s_%04d.fits", stem, i);
    snprintf(op, 256, "out/%s_%04d_calibrated.fits", stem, i);
    light = read_image(lp, &w, &h);
    check_against_reference(op, light, offset, flat_c, color, 0.05);
    check_against_truth(g, i, op, color);
    assert_fitsverify_clean(op);
    free(light);
}

TEST(oneshot_mono_astrofiler_masters_match_reference_and_truth)
{
    ac_gen_t *g = make_night("night", false, AC_GEN_MASTER_ASTROFILER, 3);
    char *out = NULL, op[256];
    double *m[3];
    glob_t gl;
    int rc;

    rc = calibrate_night(&out, "--output-dir", "out", "--jobs", "2", "--sync",
                         "night/lights/M_31_L_300s_0001.fits",
                         "night/lights/M_31_L_300s_0002.fits",
                         "night/lights/M_31_L_300s_0003.fits", NULL);
    printf("%s", out);
    ASSERT_EQ(rc, 0);
    ASSERT_CONTAINS(out, "3 files: 3 calibrated, 0 failed");
    ASSERT_OK(glob("out/*_calibrated.fits", 0, NULL, &gl));
    ASSERT_EQ(gl.gl_pathc, 3);
    globfree(&gl);

    /* AstroFiler masters: the dark contains the bias, the flat is raw (bias inside). */
    read_masters(m);
    for (size_t i = 0; i < (size_t)W * H; i++)
        m[2][i] -= m[0][i];
    for (int i = 1; i <= 3; i++) {
        check_output(g, "M_31_L_300s", i, m[1], m[2], false, op);
        ASSERT_STR_EQ(read_key_string(op, "BIASMAST"), "master_bias.fits");
        ASSERT_STR_EQ(read_key_string(op, "DARKMAST"), "master_dark.fits");
        ASSERT_STR_EQ(read_key_string(op, "FLATMAST"), "master_flat.fits");
        assert_master_md5s(op, true);
        ASSERT_NOT_NULL(read_key_string(op, "CALDATE"));
        ASSERT_CONTAINS(read_key_string(op, "CALSOFT"), "astrocald");
        ASSERT_NEAR(read_key_double(op, "DARKSCAL"), 1.0, 0);
        ASSERT_NEAR(read_key_double(op, "PEDESTAL"), 0.0, 0);
        ASSERT_STR_EQ(read_key_string(op, "OBJECT"), "M 31"); /* original cards kept */
        ASSERT(read_key_double(op, "QSCORE") > 50);
        ASSERT_NULL(read_key_string(op, "BZERO"));
    }
    ASSERT_EQ(count_tmp_files("out"), 0);
    for (int k = 0; k < 3; k++)
        free(m[k]);
    free(out);
    ac_gen_free(g);
}

TEST(oneshot_color_float_masters_flat_not_calibrated_twice)
{
    ac_gen_t *g = make_night("night", true, AC_GEN_MASTER_FLOAT, 2);
    char *out = NULL, op[256];
    double *m[3];
    int rc;

    rc = calibrate_night(&out, "--output-dir", "out", "night/lights/M_31_300s_0001.fits",
                         "night/lights/M_31_300s_0002.fits", NULL);
    printf("%s", out);
    ASSERT_EQ(rc, 0);
    /* Float masters: bias-free dark (offset = B + Dc), flat already offset-free. */
    read_masters(m);
    for (size_t i = 0; i < (size_t)W * H; i++)
        m[1][i] += m[0][i];
    for (int i = 1; i <= 2; i++)
        check_output(g, "M_31_300s", i, m[1], m[2], true, op);
    for (int k = 0; k < 3; k++)
        free(m[k]);
    free(out);
    ac_gen_free(g);
}

TEST(oneshot_bad_lights_fail_with_reason_good_ones_succeed)
{
    ac_gen_t *g = make_night("night", false, AC_GEN_MASTER_ASTROFILER, 2);
    ac_err_t e = {0};
    char *out = NULL;
    int rc;

    mkdir("bad", 0755);
    for (int k = 0; k < AC_GEN_BAD_COUNT; k++) {
        char p[256];
        if (k == AC_GEN_BAD_NAN_MASTER || k == AC_GEN_BAD_ZERO_FLAT)
            continue;
        snprintf(p, sizeof p, "bad/%s", ac_gen_bad_name((ac_gen_bad_t)k));
        ASSERT_OK(ac_gen_write_bad(g, (ac_gen_bad_t)k, p, &e));
    }
    rc = calibrate_night(&out, "--output-dir", "out", "--jobs", "2",
                         "night/lights/M_31_L_300s_0001.fits", "bad/truncated.fits",
                         "bad/header-only.fits", "bad/wrong-size.fits", "bad/not-fits.fits",
                         "bad/rgb-cube.fits", "night/lights/M_31_L_300s_0002.fits",
                         "missing.fits", NULL);
    printf("%s", out);
    ASSERT_EQ(rc, 1);
    ASSERT_CONTAINS(out, "8 files: 2 calibrated, 6 failed");
    ASSERT_CONTAINS(out, "OK   night/lights/M_31_L_300s_0001.fits");
    ASSERT_CONTAINS(out, "OK   night/lights/M_31_L_300s_0002.fits");
    ASSERT_CONTAINS(out, "FAIL bad/truncated.fits: ");
    ASSERT_CONTAINS(out, "truncated");
    ASSERT_CONTAINS(out, "FAIL bad/header-only.fits: ");
    ASSERT_CONTAINS(out, "FAIL bad/wrong-size.fits: ");
    ASSERT_CONTAINS(out, "NAXIS3");
    ASSERT_CONTAINS(out, "FAIL bad/not-fits.fits: ");
    ASSERT_CONTAINS(out, "FAIL missing.fits: ");
    /* The size mismatch names both sizes. */
    ASSERT_CONTAINS(out, "164x120");
    ASSERT_CONTAINS(out, "160x120");
    ASSERT(file_exists("out/M_31_L_300s_0001_calibrated.fits"));
    ASSERT(!file_exists("out/truncated_calibrated.fits"));
    ASSERT(!file_exists("out/wrong-size_calibrated.fits"));
    ASSERT_EQ(count_tmp_files("out"), 0);
    free(out);
    ac_gen_free(g);
}

TEST(oneshot_bad_masters_refused_with_reason)
{
    ac_gen_t *g = make_night("night", false, AC_GEN_MASTER_ASTROFILER, 1);
    ac_err_t e = {0};
    char *out = NULL;
    int rc;

    ASSERT_OK(ac_gen_write_bad(g, AC_GEN_BAD_NAN_MASTER, "nan_dark.fits", &e));
    ASSERT_OK(ac_gen_write_bad(g, AC_GEN_BAD_ZERO_FLAT, "zero_flat.fits", &e));
    rc = run_capture(argv_of(AC_ASTROCALD_BIN, "calibrate", "--dark", "nan_dark.fits",
                             "--output-dir", "out", "night/lights/M_31_L_300s_0001.fits", NULL),
                     &out);
    printf("%s", out);
    ASSERT_EQ(rc, 1);
    ASSERT_CONTAINS(out, "nan_dark.fits");
    ASSERT_CONTAINS(out, "NaN");
    free(out);
    rc = run_capture(argv_of(AC_ASTROCALD_BIN, "calibrate", "--flat", "zero_flat.fits",
                             "--output-dir", "out", "night/lights/M_31_L_300s_0001.fits", NULL),
                     &out);
    printf("%s", out);
    ASSERT_EQ(rc, 1);
    ASSERT_CONTAINS(out, "zero_flat.fits");
    ASSERT(!file_exists("out/M_31_L_300s_0001_calibrated.fits"));
    free(out);
    ac_gen_free(g);
}

TEST(oneshot_json_lines_and_usage_errors)
{
    ac_gen_t *g = make_night("night", false, AC_GEN_MASTER_ASTROFILER, 1);
    char *out = NULL;
    int rc;

    rc = run_capture(argv_of(AC_ASTROCALD_BIN, "calibrate", "--json", "--bias",
                             "night/masters/master_bias.fits", "--output-dir", "out",
                             "night/lights/M_31_L_300s_0001.fits", "nope.fits", NULL),
                     &out);
    printf("%s", out);
    ASSERT_EQ(rc, 1);
    ASSERT_CONTAINS(out, "{\"file\":\"night/lights/M_31_L_300s_0001.fits\",\"ok\":true");
    ASSERT_CONTAINS(out, "\"steps\":\"bias\"");
    /* The same stable codes as the control protocol (docs/protocol.md). */
    ASSERT_CONTAINS(out, "{\"file\":\"nope.fits\",\"ok\":false,\"error\":{\"code\":"
                         "\"not_found\",\"message\":");
    ASSERT_CONTAINS(out, "{\"summary\":{\"files\":2,\"ok\":1,\"failed\":1");
    ASSERT(strstr(out, "frames/s ETA") == NULL); /* no progress line in a pipe */
    free(out);
    rc = run_capture(argv_of(AC_ASTROCALD_BIN, "calibrate", "--bias", "x.fits", "--bogus",
                             "--json", "y.fits", NULL),
                     &out);
    ASSERT_EQ(rc, 64);
    ASSERT_CONTAINS(out, "{\"error\":{\"code\":\"usage\",\"message\":\"unknown option "
                         "'--bogus'\"}}\n");
    free(out);
    rc = run_capture(argv_of(AC_ASTROCALD_BIN, "calibrate", "--jobs", "zero", "x.fits", NULL),
                     &out);
    ASSERT_EQ(rc, 64);
    ASSERT_CONTAINS(out, "--jobs");
    free(out);
    rc = run_capture(argv_of(AC_ASTROCALD_BIN, "calibrate", "x.fits", NULL), &out);
    ASSERT_EQ(rc, 64);
    ASSERT_CONTAINS(out, "--bias");
    free(out);
    ac_gen_free(g);
}

TEST(oneshot_parallel_sync_and_compressed_io_agree)
{
    ac_gen_t *g = make_night("night", true, AC_GEN_MASTER_ASTROFILER, 2);
    ac_gen_frame_t f;
    ac_err_t e = {0};
    char *out = NULL;
    int w, h;

    /* The same light tile-compressed: must calibrate to the same values. */
    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    f.index = 1;
    f.filter = NULL;
    f.fz = true;
    ASSERT_OK(ac_gen_write_frame(g, &f, "light1.fits.fz", &e));
    ASSERT_EQ(calibrate_night(&out, "--output-dir", "a", "--jobs", "1",
                              "night/lights/M_31_300s_0001.fits",
                              "night/lights/M_31_300s_0002.fits", NULL),
              0);
    free(out);
    ASSERT_EQ(calibrate_night(&out, "--output-dir", "b", "--jobs", "2", "--sync",
                              "night/lights/M_31_300s_0001.fits",
                              "night/lights/M_31_300s_0002.fits", "light1.fits.fz", NULL),
              0);
    free(out);
    ASSERT_EQ(calibrate_night(&out, "--output-dir", "c", "--compress",
                              "night/lights/M_31_300s_0001.fits", NULL),
              0);
    free(out);
    double *a1 = read_image("a/M_31_300s_0001_calibrated.fits", &w, &h);
    double *b1 = read_image("b/M_31_300s_0001_calibrated.fits", &w, &h);
    double *z1 = read_image("b/light1_calibrated.fits", &w, &h);
    double *c1 = read_image("c/M_31_300s_0001_calibrated.fits.fz", &w, &h);
    double *b2 = read_image("b/M_31_300s_0002_calibrated.fits", &w, &h);
    double *a2 = read_image("a/M_31_300s_0002_calibrated.fits", &w, &h);
    double noise = read_key_double("a/M_31_300s_0001_calibrated.fits", "QNOISE");
    for (size_t i = 0; i < (size_t)W * H; i++) {
        ASSERT_NEAR(a1[i], b1[i], 0);
        ASSERT_NEAR(a2[i], b2[i], 0);
        ASSERT_NEAR(a1[i], z1[i], 0);
        /* RICE quantisation at level 16: errors well below the noise. */
        ASSERT_NEAR(a1[i], c1[i], noise / 4);
    }
    assert_fitsverify_clean("c/M_31_300s_0001_calibrated.fits.fz");
    assert_master_md5s("c/M_31_300s_0001_calibrated.fits.fz", true);
    assert_master_md5s("b/light1_calibrated.fits", true);
    free(a1);
    free(b1);
    free(z1);
    free(c1);
    free(a2);
    free(b2);
    ac_gen_free(g);
}

TEST(oneshot_dark_exposure_scaling_and_force)
{
    ac_gen_t *g = make_night("night", false, AC_GEN_MASTER_FLOAT, 1);
    ac_gen_frame_t f;
    ac_err_t e = {0};
    char *out = NULL;
    int rc, w, h;

    /* A bias-free float dark of 150 s for 300 s lights: k = 2 with the bias. */
    ac_gen_frame_default(&f, AC_GEN_DARK);
    f.master = AC_GEN_MASTER_FLOAT;
    f.exptime = 150;
    ASSERT_OK(ac_gen_write_frame(g, &f, "dark150.fits", &e));
    f.exptime = 100;
    ASSERT_OK(ac_gen_write_frame(g, &f, "dark100.fits", &e));
    rc = run_capture(argv_of(AC_ASTROCALD_BIN, "calibrate", "--bias",
                             "night/masters/master_bias.fits", "--dark", "dark150.fits",
                             "--output-dir", "out", "night/lights/M_31_L_300s_0001.fits", NULL),
                     &out);
    printf("%s", out);
    ASSERT_EQ(rc, 0);
    free(out);
    ASSERT_NEAR(read_key_double("out/M_31_L_300s_0001_calibrated.fits", "DARKSCAL"), 2.0, 1e-9);
    double *bias = read_image("night/masters/master_bias.fits", &w, &h);
    double *dark = read_image("dark150.fits", &w, &h);
    double *light = read_image("night/lights/M_31_L_300s_0001.fits", &w, &h);
    double *res = read_image("out/M_31_L_300s_0001_calibrated.fits", &w, &h);
    for (size_t i = 0; i < (size_t)W * H; i++) {
        double ref = light[i] - bias[i] - 2.0 * dark[i];
        ASSERT_NEAR(res[i], ref, 1e-6 * fabs(light[i]) + 1e-3);
    }
    /* k = 3 exceeds the default cap of 2: refused, naming both exposures. */
    rc =
        run_capture(argv_of(AC_ASTROCALD_BIN, "calibrate", "--bias",
                            "night/masters/master_bias.fits", "--dark", "dark100.fits",
                            "--output-dir", "out2", "night/lights/M_31_L_300s_0001.fits", NULL),
                    &out);
    printf("%s", out);
    ASSERT_EQ(rc, 1);
    ASSERT_CONTAINS(out, "300");
    ASSERT_CONTAINS(out, "100");
    free(out);
    /* A higher cap allows it. */
    rc = run_capture(argv_of(AC_ASTROCALD_BIN, "calibrate", "--bias",
                             "night/masters/master_bias.fits", "--dark", "dark100.fits",
                             "--dark-max-scale", "3", "--output-dir", "out3",
                             "night/lights/M_31_L_300s_0001.fits", NULL),
                     &out);
    ASSERT_EQ(rc, 0);
    free(out);
    ASSERT_NEAR(read_key_double("out3/M_31_L_300s_0001_calibrated.fits", "DARKSCAL"), 3.0,
                1e-9);
    free(bias);
    free(dark);
    free(light);
    free(res);
    ac_gen_free(g);
}

/* on_terminal runs `astrocald calibrate ARGS` under script(1), so that its stdout and
 * stderr are a pseudo-terminal, and returns what the terminal showed. */
static char *on_terminal(const char *args)
{
    char cmd[4096], *out = NULL;
    int rc;

    if (access("/usr/bin/script", X_OK) != 0)
        AC_TEST_FAIL("script(1) (bsdutils) is needed for the terminal tests");
    snprintf(cmd, sizeof cmd, "%s calibrate %s", AC_ASTROCALD_BIN, args);
    rc = run_capture(argv_of("/usr/bin/script", "-qec", cmd, "tty.log", NULL), &out);
    free(out);
    ASSERT_EQ(rc, 0);
    out = ac_harness_read_file("tty.log");
    ASSERT_NOT_NULL(out);
    return out;
}

TEST(oneshot_progress_line_only_on_a_terminal)
{
    ac_gen_t *g = make_night("night", false, AC_GEN_MASTER_ASTROFILER, 3);
    char *out;

    setenv("TERM", "xterm", 1);
    out = on_terminal("--bias night/masters/master_bias.fits --output-dir out --jobs 1 "
                      "night/lights/M_31_L_300s_0001.fits night/lights/M_31_L_300s_0002.fits "
                      "night/lights/M_31_L_300s_0003.fits");
    printf("%s", out);
    /* After each file: the count, the rate and the time left, drawn over the last line. */
    ASSERT_CONTAINS(out, "\r\x1b[K[1/3] ");
    ASSERT_CONTAINS(out, "\r\x1b[K[3/3] ");
    ASSERT_CONTAINS(out, " frames/s ETA 0:00");
    ASSERT_CONTAINS(out, "3 files: 3 calibrated, 0 failed");
    free(out);
    /* --json on a terminal: no progress line either. */
    out = on_terminal("--json --bias night/masters/master_bias.fits --output-dir out2 "
                      "night/lights/M_31_L_300s_0001.fits");
    ASSERT(strstr(out, "frames/s ETA") == NULL);
    ASSERT_CONTAINS(out, "{\"summary\":{\"files\":1,\"ok\":1");
    free(out);
    ac_gen_free(g);
}

/* --grade: every output measured and carded after calibration, judged together; without
 * the flat the generator's vignetting (the corners at vignette_min 0.6 of the centre,
 * fitsgen.h) is left in, and the flat rule rejects every light with a residual near
 * -0.4. */
TEST_TIMEOUT(oneshot_grade_cards_and_missing_flat_rejected, 120)
{
    /* Large enough for SEP's 64 px background mesh to see the corners. */
    ac_gen_t *g = make_night_sized("night", false, AC_GEN_MASTER_ASTROFILER, 3, 512, 384);
    char *out = NULL;
    int rc;

    rc = calibrate_night(
        &out, "--output-dir", "out", "--grade", "night/lights/M_31_L_300s_0001.fits",
        "night/lights/M_31_L_300s_0002.fits", "night/lights/M_31_L_300s_0003.fits", NULL);
    printf("%s", out);
    ASSERT_EQ(rc, 0);
    ASSERT_CONTAINS(out, "3 outputs graded: 0 rejected, 0 could not be measured");
    ASSERT_CONTAINS(out, "GRADE  out/M_31_L_300s_0002_calibrated.fits  FWHM ");
    ASSERT(read_key_double("out/M_31_L_300s_0001_calibrated.fits", "STARCNT") > 50);
    ASSERT_NEAR(read_key_double("out/M_31_L_300s_0001_calibrated.fits", "FLATRES"), 0, 0.01);
    assert_fitsverify_clean("out/M_31_L_300s_0003_calibrated.fits");
    free(out);
    /* No flat. */
    char *const *args =
        argv_of(AC_ASTROCALD_BIN, "calibrate", "--bias", "night/masters/master_bias.fits",
                "--dark", "night/masters/master_dark.fits", "--output-dir", "noflat", "--grade",
                "night/lights/M_31_L_300s_0001.fits", "night/lights/M_31_L_300s_0002.fits",
                "night/lights/M_31_L_300s_0003.fits", NULL);
    rc = run_capture(args, &out);
    printf("%s", out);
    ASSERT_EQ(rc, 0); /* rejecting is not failing */
    ASSERT_CONTAINS(out, "3 outputs graded: 3 rejected");
    ASSERT_CONTAINS(out, "REJECT noflat/M_31_L_300s_0001_calibrated.fits");
    ASSERT_NEAR(read_key_double("noflat/M_31_L_300s_0002_calibrated.fits", "FLATRES"), -0.4,
                0.06);
    ASSERT_CONTAINS(read_key_string("noflat/M_31_L_300s_0002_calibrated.fits", "QREJECT"),
                    "flat -0.4");
    assert_fitsverify_clean("noflat/M_31_L_300s_0002_calibrated.fits");
    free(out);
    ac_gen_free(g);
}
