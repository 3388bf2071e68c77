/*
 * test-builder.c - master building (daemon/work/build*.c, daemon/serve/buildplan.c): masters built from frames written by
 * tests/support/fitsgen.h and compared with an independent double-precision sigma-clipped
 * mean computed here (subs read with cfitsio, flats calibrated and normalised here, the
 * clipping loop written here); cosmic rays and a satellite trail injected with cfitsio;
 * noise, headers, provenance read back by ac_meta_from_header, quality rejections, dropped
 * subs, cancellation, strips; and the catalogue side end to end (scan, prepare, run,
 * record). The plan alone is tested in test-catalog-build.c.
 */
#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "afdb.h"
#include "buildplan.h"
#include "calib.h"
#include "catalog.h"
#include "db.h"
#include "fitsgen.h"
#include "imgio.h"
#include "meta.h"
#include "schema.h"
#include "stack.h"
#include "test.h"
#include "util.h"

#define W 96
#define H 64
#define N 7

/* ---- Frames ---- */

static ac_gen_t *camera(double read_noise, double col_sd, double flat_level, double hot_frac)
{
    ac_gen_camera_t cam;
    ac_gen_t *g;

    ac_gen_camera_default(&cam, 42);
    cam.width = W;
    cam.height = H;
    cam.read_noise = read_noise;
    cam.bias_col_sd = col_sd;
    cam.bias_fpn_sd = col_sd > 0 ? 0.5 : 0.0;
    cam.flat_level = flat_level;
    cam.hot_fraction = hot_frac;
    cam.n_stars = 0;
    ac_strlcpy(cam.telescop, "C14", sizeof cam.telescop);
    ac_strlcpy(cam.instrume, "ZWO ASI294MM Pro", sizeof cam.instrume);
    g = ac_gen_new(&cam, NULL);
    ASSERT_NOT_NULL(g);
    return g;
}

static void frame_of(ac_gen_frame_t *f, ac_gen_type_t type, int index)
{
    ac_gen_frame_default(f, type);
    f->index = index;
    if (type == AC_GEN_FLAT)
        f->filter = "L";
}

/* Writes n raw frames of a type as <dir>/<prefix>_<i>.fits, i = 1..n. */
static void write_frames(ac_gen_t *g, ac_gen_type_t type, const char *prefix, int n,
                         char paths[][256])
{
    ac_gen_frame_t f;
    ac_err_t e = {0};

    for (int i = 0; i < n; i++) {
        frame_of(&f, type, i + 1);
        snprintf(paths[i], 256, "%s/%s_%d.fits", ac_test_tmpdir(), prefix, i + 1);
        if (ac_gen_write_frame(g, &f, paths[i], &e) != 0)
            AC_TEST_FAIL("write %s: %s", paths[i], e.msg);
    }
}

/* Sets pixel (x, y) of a 2-D image to v (cfitsio applies BZERO). */
static void set_pixel(const char *path, int x, int y, double v)
{
    fitsfile *f = NULL;
    long fp[2] = {x + 1, y + 1};
    int st = 0;

    fits_open_diskfile(&f, path, READWRITE, &st);
    fits_write_pix(f, TDOUBLE, fp, 1, &v, &st);
    fits_close_file(f, &st);
    ASSERT_EQ(st, 0);
}

/* Adds delta to every pixel of row y (a satellite trail). */
static void add_row(const char *path, int y, double delta)
{
    fitsfile *f = NULL;
    long fp[2] = {1, y + 1};
    double row[W];
    int st = 0;

    fits_open_diskfile(&f, path, READWRITE, &st);
    fits_read_pix(f, TDOUBLE, fp, W, NULL, row, NULL, &st);
    for (int x = 0; x < W; x++)
        row[x] += delta;
    fits_write_pix(f, TDOUBLE, fp, W, row, &st);
    fits_close_file(f, &st);
    ASSERT_EQ(st, 0);
}

/* Reads a whole W x H image as doubles (owned). */
static double *read_image(const char *path)
{
    fitsfile *f = NULL;
    long fp[2] = {1, 1}, nax[2] = {0, 0};
    double *px = malloc(sizeof(double) * W * H);
    int st = 0, naxis = 0;

    ASSERT_NOT_NULL(px);
    fits_open_diskfile(&f, path, READONLY, &st);
    fits_get_img_dim(f, &naxis, &st);
    fits_get_img_size(f, 2, nax, &st);
    ASSERT_EQ(st, 0);
    ASSERT_EQ(naxis, 2);
    ASSERT_EQ(nax[0], W);
    ASSERT_EQ(nax[1], H);
    fits_read_pix(f, TDOUBLE, fp, W * H, NULL, px, NULL, &st);
    fits_close_file(f, &st);
    ASSERT_EQ(st, 0);
    return px;
}

/* ---- The independent reference ---- */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(const double *v, int n)
{
    double *s = malloc(sizeof(double) * (size_t)n), m;

    ASSERT_NOT_NULL(s);
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_d);
    m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

/* Sigma clipping as builder.h and stack.h specify it: for fewer than 6 values the median;
 * else passes around the median with sigma = 1.4826 MAD (mad) or the sample standard
 * deviation, rejecting values strictly outside [c - kl s, c + kh s], until a pass rejects
 * nothing, iters passes were made or fewer than 2 values remain; the mean of the rest. */
static double clip_mean(const double *x, int n, double kl, double kh, int iters, bool mad)
{
    double v[64], d[64], sum = 0;
    int k = n;

    memcpy(v, x, sizeof(double) * (size_t)n);
    if (n < 6)
        return median_of(v, n);
    for (int pass = 0; pass < iters && k >= 2; pass++) {
        double c = median_of(v, k), s, mean = 0, ss = 0;
        int m = 0;
        if (mad) {
            for (int i = 0; i < k; i++)
                d[i] = fabs(v[i] - c);
            s = 1.4826 * median_of(d, k);
        } else {
            for (int i = 0; i < k; i++)
                mean += v[i] / k;
            for (int i = 0; i < k; i++)
                ss += (v[i] - mean) * (v[i] - mean);
            s = sqrt(ss / (k - 1));
        }
        for (int i = 0; i < k; i++)
            if (!(v[i] < c - kl * s) && !(v[i] > c + kh * s))
                d[m++] = v[i];
        if (m == k)
            break;
        ASSERT(m > 0);
        memcpy(v, d, sizeof(double) * (size_t)m);
        k = m;
    }
    for (int i = 0; i < k; i++)
        sum += v[i];
    return sum / k;
}

/* The reference master: subs (already calibrated when flats) scaled by scale[i] (NULL: 1),
 * combined pixel by pixel. */
static double *reference(double *const *subs, int n, const double *scale, bool mad)
{
    double *out = malloc(sizeof(double) * W * H), v[64];

    ASSERT_NOT_NULL(out);
    for (int p = 0; p < W * H; p++) {
        for (int i = 0; i < n; i++)
            v[i] = subs[i][p] * (scale != NULL ? scale[i] : 1.0);
        out[p] = clip_mean(v, n, 3.0, 3.0, 3, mad);
    }
    return out;
}

/* ---- Building ---- */

static char *xdup(const char *s)
{
    char *d = s != NULL ? strdup(s) : NULL;

    ASSERT(s == NULL || d != NULL);
    return d;
}

static void spec_init(ac_build_spec_t *sp, ac_cal_kind_t kind, char paths[][256], int n,
                      const char *out_name, const char *bias, const char *fd)
{
    char out[512];

    memset(sp, 0, sizeof *sp);
    ac_build_opts_default(&sp->opts);
    snprintf(sp->opts.masters_dir, sizeof sp->opts.masters_dir, "%s/Masters", ac_test_tmpdir());
    sp->opts.out.durable = false;
    snprintf(out, sizeof out, "%s/%s", sp->opts.masters_dir, out_name);
    sp->kind = kind;
    sp->key = xdup("K");
    sp->session_id = xdup("S");
    sp->output_path = xdup(out);
    sp->bias_path = xdup(bias);
    sp->flatdark_path = xdup(fd);
    sp->nsubs = n;
    sp->subs = calloc((size_t)n, sizeof *sp->subs);
    ASSERT_NOT_NULL(sp->subs);
    for (int i = 0; i < n; i++)
        sp->subs[i] = xdup(paths[i]);
}

static void run_ok(const ac_build_spec_t *sp, ac_build_result_t *res)
{
    ac_build_run(sp, res, NULL);
    if (res->status != AC_BUILT)
        AC_TEST_FAIL("build %s: status %d: %s%s", sp->output_path, res->status, res->err.msg,
                     res->reason);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Pixels of a master that differ from the reference by more than tol. */
static int count_mismatch(const double *got, const double *ref, double tol, double *maxdiff)
{
    int bad = 0;

    *maxdiff = 0;
    for (int p = 0; p < W * H; p++) {
        double d = fabs(got[p] - ref[p]);
        if (d > tol)
            bad++;
        else if (d > *maxdiff)
            *maxdiff = d;
    }
    return bad;
}

static void key_text(const char *path, const char *key, char *value)
{
    fitsfile *f = NULL;
    char comment[FLEN_COMMENT];
    int st = 0;

    fits_open_diskfile(&f, path, READONLY, &st);
    fits_read_keyword(f, key, value, comment, &st);
    fits_close_file(f, &st);
    if (st != 0)
        AC_TEST_FAIL("%s: keyword %s missing", path, key);
}

/* The value of a string keyword, unquoted and trimmed (cfitsio). */
static const char *key_str(const char *path, const char *key)
{
    static char value[FLEN_VALUE];
    fitsfile *f = NULL;
    int st = 0;

    fits_open_diskfile(&f, path, READONLY, &st);
    fits_read_key(f, TSTRING, key, value, NULL, &st);
    fits_close_file(f, &st);
    if (st != 0)
        AC_TEST_FAIL("%s: string keyword %s missing", path, key);
    return value;
}

static void fitsverify_ok(const char *path)
{
    char cmd[2048], out[8192];
    size_t n = 0;
    FILE *p;

    if (access("/usr/bin/fitsverify", X_OK) != 0) {
        fprintf(stderr, "SKIP: /usr/bin/fitsverify is not installed\n");
        return;
    }
    snprintf(cmd, sizeof cmd, "/usr/bin/fitsverify '%s' 2>&1", path);
    p = popen(cmd, "r");
    ASSERT_NOT_NULL(p);
    while (n + 1 < sizeof out) {
        size_t k = fread(out + n, 1, sizeof out - 1 - n, p);
        if (k == 0)
            break;
        n += k;
    }
    out[n] = '\0';
    pclose(p);
    ASSERT_CONTAINS(out, "Verification found 0 warning(s) and 0 error(s)");
}

/* ---- Bias ---- */

TEST(builder_bias_matches_independent_clip_rejects_cosmic_and_trail)
{
    ac_gen_t *g = camera(5.0, 0.0, 25000, 1e-4);
    char paths[N][256], v[FLEN_VALUE];
    double *subs[N], *ref, *got, maxd, ssq = 0, rn = 5.0 / sqrt(N);
    ac_build_spec_t sp;
    ac_build_result_t *res = calloc(1, sizeof *res);
    ac_gen_frame_t f;
    ac_gen_terms_t t;
    ac_meta_t m;
    ac_hdr_t hdr;
    int cnt = 0;

    ASSERT_NOT_NULL(res);
    write_frames(g, AC_GEN_BIAS, "bias", N, paths);
    set_pixel(paths[2], 40, 30, 60000.0); /* a cosmic ray in sub 3 */
    add_row(paths[4], 20, 3000.0);        /* a satellite trail in sub 5 */
    for (int i = 0; i < N; i++)
        subs[i] = read_image(paths[i]);
    ref = reference(subs, N, NULL, true); /* 7 subs: sigma = 1.4826 MAD */

    spec_init(&sp, AC_CAL_BIAS, paths, N, "Master-Bias.fits", NULL, NULL);
    run_ok(&sp, res);
    ASSERT_EQ(res->nused, N);
    ASSERT_EQ(res->method, AC_STACK_SIGMA_CLIP);
    ASSERT_EQ(res->sigma_estimator, AC_STACK_SIGMA_MAD);
    got = read_image(sp.output_path);
    ASSERT_EQ(count_mismatch(got, ref, 1e-3, &maxd), 0);
    ASSERT(maxd < 1e-3);
    /* The outliers are gone: the master is the mean of the other subs there. */
    ASSERT(fabs(got[30 * W + 40] - 1000.0) < 15.0);
    for (int x = 0; x < W; x++)
        ASSERT(fabs(got[20 * W + x] - 1000.0) < 15.0);
    ASSERT(res->rej_high > 0);
    /* Noise: read_noise / sqrt(N), within the efficiency of clipping 7 values. */
    frame_of(&f, AC_GEN_BIAS, 1);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            ASSERT_OK(ac_gen_pixel_terms(g, &f, x, y, &t, NULL));
            ssq += (got[y * W + x] - t.mean) * (got[y * W + x] - t.mean);
            cnt++;
        }
    ASSERT(sqrt(ssq / cnt) > 0.95 * rn && sqrt(ssq / cnt) < 1.3 * rn);
    ASSERT(res->noise > 0.85 * rn && res->noise < 1.35 * rn);
    /* Headers. */
    ASSERT_STR_EQ(key_str(sp.output_path, "IMAGETYP"), "Master Bias");
    key_text(sp.output_path, "NCOMBINE", v);
    ASSERT_STR_EQ(v, "7");
    key_text(sp.output_path, "XBINNING", v);
    ASSERT_STR_EQ(v, "1");
    key_text(sp.output_path, "GAIN", v);
    ASSERT_STR_EQ(v, "100"); /* a number, not a string */
    key_text(sp.output_path, "OFFSET", v);
    ASSERT_STR_EQ(v, "50");
    ASSERT_STR_EQ(key_str(sp.output_path, "COMBINE"), "sigma");
    ASSERT_STR_EQ(key_str(sp.output_path, "CLIPSIG"), "MAD");
    key_text(sp.output_path, "DATE-OBS", v);
    ASSERT_CONTAINS(v, "T");
    key_text(sp.output_path, "REJHIGH", v);
    ASSERT(atof(v) > 0);
    key_text(sp.output_path, "QNOISE", v);
    key_text(sp.output_path, "CHECKSUM", v);
    ASSERT_STR_EQ(key_str(sp.output_path, "TELESCOP"), "C14");
    fitsverify_ok(sp.output_path);
    ASSERT_OK(ac_imgio_read_header(sp.output_path, &hdr, &m, NULL));
    ASSERT_EQ(m.type, AC_FRAME_BIAS);
    ASSERT(m.is_master);
    ASSERT_EQ(m.ncombine, N);
    ASSERT_EQ(m.bitpix, -32);
    ASSERT_NEAR(m.gain, 100, 0);
    ac_hdr_free(&hdr);
    /* The result carries what the Masters row needs. */
    ASSERT_EQ(strlen(res->md5), 32);
    ASSERT(res->file_size > W * H * 4);
    ASSERT_STR_EQ(res->instrument, "ZWO ASI294MM Pro");
    ASSERT_STR_EQ(res->gain_text, "100");
    for (int i = 0; i < N; i++)
        free(subs[i]);
    free(ref);
    free(got);
    free(res);
    ac_build_spec_clear(&sp);
    ac_gen_free(g);
}

/* ---- Flats ---- */

TEST(builder_flat_calibrated_by_flatdark_matches_independent_normalised_clip)
{
    ac_gen_t *g = camera(5.0, 2.0, 25000, 1e-4);
    char fdp[N][256], fp[N][256], v[FLEN_VALUE];
    double *subs[N], *fd, *ref, *got, med[N], scale[N], lsum = 0, maxd;
    ac_build_spec_t sfd, sf;
    ac_build_result_t *res = calloc(1, sizeof *res);
    ac_meta_t m;
    ac_hdr_t hdr;

    ASSERT_NOT_NULL(res);
    write_frames(g, AC_GEN_FLATDARK, "flatdark", N, fdp);
    write_frames(g, AC_GEN_FLAT, "flat", N, fp);
    set_pixel(fp[1], 10, 10, 65000.0);
    add_row(fp[6], 50, 8000.0);
    spec_init(&sfd, AC_CAL_FLATDARK, fdp, N, "Master-FlatDark.fits", NULL, NULL);
    run_ok(&sfd, res);
    ASSERT_STR_EQ(key_str(sfd.output_path, "IMAGETYP"), "Master Flat Dark");
    key_text(sfd.output_path, "DARKBIAS", v);
    ASSERT_STR_EQ(v, "T");

    /* Reference: each flat minus the flat-dark master, scaled by L / its median. */
    fd = read_image(sfd.output_path);
    for (int i = 0; i < N; i++) {
        subs[i] = read_image(fp[i]);
        for (int p = 0; p < W * H; p++)
            subs[i][p] -= fd[p];
        med[i] = median_of(subs[i], W * H);
        lsum += med[i];
    }
    for (int i = 0; i < N; i++)
        scale[i] = lsum / N / med[i];
    ref = reference(subs, N, scale, true);

    spec_init(&sf, AC_CAL_FLAT, fp, N, "Master-Flat.fits", NULL, sfd.output_path);
    run_ok(&sf, res);
    got = read_image(sf.output_path);
    ASSERT_EQ(count_mismatch(got, ref, 0.02, &maxd), 0);
    ASSERT(maxd < 0.02);
    ASSERT_NEAR(res->flat_scale, lsum / N, 1e-3 * lsum / N);
    /* The cosmic ray and the trail are rejected: those pixels look like their neighbours
     * (within the flat's own structure). */
    ASSERT(fabs(got[10 * W + 10] - ref[10 * W + 10]) < 0.02);
    ASSERT(got[10 * W + 10] < 1.2 * lsum / N);
    for (int x = 0; x < W; x++)
        ASSERT(got[50 * W + x] < 1.2 * lsum / N);
    ASSERT(res->rej_high > 0);
    ASSERT(res->flat_level > 15000 && res->flat_level < 25000);
    ASSERT(res->flatdark_subtracted);
    ASSERT_STR_EQ(key_str(sf.output_path, "IMAGETYP"), "Master Flat");
    ASSERT_STR_EQ(key_str(sf.output_path, "FILTER"), "L");
    ASSERT_STR_EQ(key_str(sf.output_path, "FDRKMAST"), "Master-FlatDark.fits");
    key_text(sf.output_path, "FLATSCAL", v);
    ASSERT_NEAR(atof(v), lsum / N, 1e-3 * lsum / N);
    fitsverify_ok(sf.output_path);
    /* Read back: calibrated (bias and flat-dark out), not normalised. */
    ASSERT_OK(ac_imgio_read_header(sf.output_path, &hdr, &m, NULL));
    ASSERT_EQ(m.type, AC_FRAME_FLAT);
    ASSERT_EQ(m.bias_subtracted, AC_PROV_YES);
    ASSERT_EQ(m.dark_subtracted, AC_PROV_YES);
    ASSERT_EQ(m.flat_normalised, AC_PROV_NO);
    ac_hdr_free(&hdr);
    for (int i = 0; i < N; i++)
        free(subs[i]);
    free(fd);
    free(ref);
    free(got);
    free(res);
    ac_build_spec_clear(&sfd);
    ac_build_spec_clear(&sf);
    ac_gen_free(g);
}

/* A bias-free flat-dark (another tool's) needs the bias too; without one the flats keep it. */
TEST(builder_flat_with_a_bias_free_flatdark)
{
    ac_gen_t *g = camera(5.0, 2.0, 25000, 1e-4);
    char fp[3][256], bp[3][256], fdm[256];
    ac_build_spec_t sb, sf;
    ac_build_result_t *res = calloc(1, sizeof *res);
    ac_gen_frame_t f;
    ac_meta_t m;
    ac_hdr_t hdr;
    double level_raw_fd;

    ASSERT_NOT_NULL(res);
    write_frames(g, AC_GEN_FLAT, "flat", 3, fp);
    write_frames(g, AC_GEN_BIAS, "bias", 3, bp);
    ac_gen_frame_default(&f, AC_GEN_FLATDARK);
    f.master = AC_GEN_MASTER_FLOAT; /* DARKBIAS = F, BIASSUB = T */
    snprintf(fdm, sizeof fdm, "%s/fd-master.fits", ac_test_tmpdir());
    ASSERT_OK(ac_gen_write_frame(g, &f, fdm, NULL));
    spec_init(&sf, AC_CAL_FLAT, fp, 3, "Master-Flat-a.fits", NULL, fdm);
    run_ok(&sf, res);
    ASSERT(res->flatdark_subtracted);
    ASSERT(!res->bias_subtracted);
    ASSERT_CONTAINS(res->warning, "bias-free");
    level_raw_fd = res->flat_level;
    ASSERT_OK(ac_imgio_read_header(sf.output_path, &hdr, &m, NULL));
    ASSERT_EQ(m.bias_subtracted, AC_PROV_NO);
    ASSERT_EQ(m.dark_subtracted, AC_PROV_YES);
    ac_hdr_free(&hdr);
    ac_build_spec_clear(&sf);
    spec_init(&sb, AC_CAL_BIAS, bp, 3, "Master-Bias.fits", NULL, NULL);
    run_ok(&sb, res);
    spec_init(&sf, AC_CAL_FLAT, fp, 3, "Master-Flat-b.fits", sb.output_path, fdm);
    run_ok(&sf, res);
    ASSERT(res->flatdark_subtracted && res->bias_subtracted);
    ASSERT_NEAR(level_raw_fd - res->flat_level, 1000.0, 5.0); /* the bias level */
    ASSERT_OK(ac_imgio_read_header(sf.output_path, &hdr, &m, NULL));
    ASSERT_EQ(m.bias_subtracted, AC_PROV_YES);
    ac_hdr_free(&hdr);
    free(res);
    ac_build_spec_clear(&sb);
    ac_build_spec_clear(&sf);
    ac_gen_free(g);
}

/* ---- Darks: the bias kept or subtracted, read back ---- */

TEST(builder_dark_bias_provenance_read_back_by_meta_and_calib)
{
    ac_gen_t *g = camera(5.0, 2.0, 25000, 1e-4);
    char bp[N][256], dp[N][256];
    ac_build_spec_t sb, sk, ss;
    ac_build_result_t *res = calloc(1, sizeof *res);
    ac_image_t bias = {0}, kept = {0}, sub = {0};
    ac_calib_opts_t co;
    char why[160];

    ASSERT_NOT_NULL(res);
    write_frames(g, AC_GEN_BIAS, "bias", N, bp);
    write_frames(g, AC_GEN_DARK, "dark", N, dp);
    spec_init(&sb, AC_CAL_BIAS, bp, N, "Master-Bias.fits", NULL, NULL);
    run_ok(&sb, res);
    spec_init(&sk, AC_CAL_DARK, dp, N, "Master-Dark-kept.fits", NULL, NULL);
    run_ok(&sk, res);
    ASSERT(!res->bias_subtracted);
    ASSERT(res->hot_fraction < 0.01);
    spec_init(&ss, AC_CAL_DARK, dp, N, "Master-Dark-sub.fits", sb.output_path, NULL);
    ss.opts.dark_subtract_bias = true;
    run_ok(&ss, res);
    ASSERT(res->bias_subtracted);

    ASSERT_OK(ac_imgio_load_image(sb.output_path, &bias, NULL));
    ASSERT_OK(ac_imgio_load_image(sk.output_path, &kept, NULL));
    ASSERT_OK(ac_imgio_load_image(ss.output_path, &sub, NULL));
    ASSERT_OK(ac_image_analyse(&bias));
    ASSERT_OK(ac_image_analyse(&kept));
    ASSERT_OK(ac_image_analyse(&sub));
    ASSERT_EQ(kept.meta.bias_subtracted, AC_PROV_NO); /* DARKBIAS = T */
    ASSERT_EQ(sub.meta.bias_subtracted, AC_PROV_YES); /* DARKBIAS = F, BIASSUB = T */
    ASSERT_EQ(kept.meta.type, AC_FRAME_DARK);
    ASSERT_NEAR(kept.meta.exptime, 300, 0);
    /* The bias is in one and not the other (dark current 0.02 ADU/s x 300 s = 6 ADU). */
    ASSERT_NEAR(kept.median - sub.median, bias.median, 1.0);
    ASSERT(sub.median > 3 && sub.median < 9);
    /* The calibration reads the provenance, so it subtracts the bias only once. */
    ac_calib_opts_default(&co);
    ASSERT(ac_calib_dark_bias_decision(&kept, &bias, &co, why, sizeof why));
    ASSERT_CONTAINS(why, "provenance");
    ASSERT(!ac_calib_dark_bias_decision(&sub, &bias, &co, why, sizeof why));
    ASSERT_CONTAINS(why, "provenance");
    ac_image_free(&bias);
    ac_image_free(&kept);
    ac_image_free(&sub);
    free(res);
    ac_build_spec_clear(&sb);
    ac_build_spec_clear(&sk);
    ac_build_spec_clear(&ss);
    ac_gen_free(g);
}

/* ---- Quality rejections ---- */

TEST(builder_rejects_a_dim_flat_and_writes_nothing)
{
    ac_gen_t *g = camera(5.0, 2.0, 1400, 1e-4); /* raw 1400 ADU on a 1000 ADU bias */
    char bp[5][256], fp[5][256];
    ac_build_spec_t sb, sf;
    ac_build_result_t *res = calloc(1, sizeof *res);

    ASSERT_NOT_NULL(res);
    write_frames(g, AC_GEN_BIAS, "bias", 5, bp);
    write_frames(g, AC_GEN_FLAT, "flat", 5, fp);
    spec_init(&sb, AC_CAL_BIAS, bp, 5, "Master-Bias.fits", NULL, NULL);
    run_ok(&sb, res);
    ASSERT_EQ(res->method, AC_STACK_MEDIAN); /* 5 subs: the median */
    spec_init(&sf, AC_CAL_FLAT, fp, 5, "Master-Flat.fits", sb.output_path, NULL);
    ac_build_run(&sf, res, NULL);
    ASSERT_EQ(res->status, AC_BUILD_REJECT);
    ASSERT_CONTAINS(res->reason, "min_flat_level");
    ASSERT(res->flat_level > 200 && res->flat_level < 420);
    ASSERT(!exists(sf.output_path));
    /* Raw, the same flats pass the level (their offset counts): no bias given. */
    free(sf.bias_path);
    sf.bias_path = NULL;
    ac_build_run(&sf, res, NULL);
    ASSERT_EQ(res->status, AC_BUILT);
    ASSERT(!res->bias_subtracted);
    ASSERT_CONTAINS(res->warning, "raw");
    free(res);
    ac_build_spec_clear(&sb);
    ac_build_spec_clear(&sf);
    ac_gen_free(g);
}

TEST(builder_rejects_a_saturated_flat)
{
    ac_gen_t *g = camera(5.0, 2.0, 62000, 1e-4);
    char fp[3][256];
    ac_build_spec_t sf;
    ac_build_result_t *res = calloc(1, sizeof *res);

    ASSERT_NOT_NULL(res);
    write_frames(g, AC_GEN_FLAT, "flat", 3, fp);
    spec_init(&sf, AC_CAL_FLAT, fp, 3, "Master-Flat.fits", NULL, NULL);
    ac_build_run(&sf, res, NULL);
    ASSERT_EQ(res->status, AC_BUILD_REJECT);
    ASSERT_CONTAINS(res->reason, "max_flat_level");
    ASSERT(!exists(sf.output_path));
    free(res);
    ac_build_spec_clear(&sf);
    ac_gen_free(g);
}

TEST(builder_rejects_a_dark_with_too_many_hot_pixels)
{
    ac_gen_t *g = camera(5.0, 2.0, 25000, 0.05);
    char dp[N][256];
    ac_build_spec_t sd;
    ac_build_result_t *res = calloc(1, sizeof *res);

    ASSERT_NOT_NULL(res);
    write_frames(g, AC_GEN_DARK, "dark", N, dp);
    spec_init(&sd, AC_CAL_DARK, dp, N, "Master-Dark.fits", NULL, NULL);
    ac_build_run(&sd, res, NULL);
    ASSERT_EQ(res->status, AC_BUILD_REJECT);
    ASSERT_CONTAINS(res->reason, "hot pixels");
    ASSERT(res->hot_fraction > 0.03 && res->hot_fraction < 0.07);
    ASSERT(!exists(sd.output_path));
    free(res);
    ac_build_spec_clear(&sd);
    ac_gen_free(g);
}

/* ---- Dropped subs, too few, cancel ---- */

TEST(builder_drops_bad_subs_and_fails_with_too_few)
{
    ac_gen_t *g = camera(5.0, 2.0, 25000, 1e-4), *wide;
    ac_gen_camera_t cam = *ac_gen_camera(g);
    char paths[N + 3][256], v[FLEN_VALUE];
    ac_build_spec_t sp;
    ac_build_result_t *res = calloc(1, sizeof *res);
    ac_gen_frame_t f;
    FILE *txt;

    ASSERT_NOT_NULL(res);
    write_frames(g, AC_GEN_BIAS, "bias", N, paths);
    cam.width = W + 4;
    wide = ac_gen_new(&cam, NULL);
    ASSERT_NOT_NULL(wide);
    frame_of(&f, AC_GEN_BIAS, 9);
    snprintf(paths[N], 256, "%s/wide.fits", ac_test_tmpdir());
    ASSERT_OK(ac_gen_write_frame(wide, &f, paths[N], NULL));
    snprintf(paths[N + 1], 256, "%s/notfits.fits", ac_test_tmpdir());
    txt = fopen(paths[N + 1], "w");
    ASSERT_NOT_NULL(txt);
    fputs("not a FITS file\n", txt);
    fclose(txt);
    frame_of(&f, AC_GEN_DARK, 10); /* a dark filed with the biases */
    snprintf(paths[N + 2], 256, "%s/dark.fits", ac_test_tmpdir());
    ASSERT_OK(ac_gen_write_frame(g, &f, paths[N + 2], NULL));

    spec_init(&sp, AC_CAL_BIAS, paths, N + 3, "Master-Bias.fits", NULL, NULL);
    run_ok(&sp, res);
    ASSERT_EQ(res->nsubs, N + 3);
    ASSERT_EQ(res->nused, N);
    ASSERT_CONTAINS(res->dropped, "wide.fits: 100x64");
    ASSERT_CONTAINS(res->dropped, "notfits.fits: unreadable");
    ASSERT_CONTAINS(res->dropped, "dark.fits: IMAGETYP");
    key_text(sp.output_path, "NDROPPED", v);
    ASSERT_STR_EQ(v, "3");
    key_text(sp.output_path, "NCOMBINE", v);
    ASSERT_STR_EQ(v, "7");
    ac_build_spec_clear(&sp);

    /* Two usable of four with min_files 3: a failure naming the dropped ones. */
    snprintf(paths[2], 256, "%s", paths[N]);
    snprintf(paths[3], 256, "%s", paths[N + 1]);
    spec_init(&sp, AC_CAL_BIAS, paths, 4, "Master-Bias-2.fits", NULL, NULL);
    ac_build_run(&sp, res, NULL);
    ASSERT_EQ(res->status, AC_BUILD_ERROR);
    ASSERT_EQ(res->err.code, AC_EFORMAT);
    ASSERT_CONTAINS(res->err.msg, "only 2 of 4 frames usable, 3 needed");
    ASSERT_CONTAINS(res->err.msg, "wide.fits");
    ASSERT(!exists(sp.output_path));
    free(res);
    ac_build_spec_clear(&sp);
    ac_gen_free(wide);
    ac_gen_free(g);
}

TEST(builder_cancel_leaves_no_file)
{
    ac_gen_t *g = camera(5.0, 2.0, 25000, 1e-4);
    char paths[3][256];
    ac_build_spec_t sp;
    ac_build_result_t *res = calloc(1, sizeof *res);
    atomic_int cancel = 1;
    char cmd[600];

    ASSERT_NOT_NULL(res);
    write_frames(g, AC_GEN_BIAS, "bias", 3, paths);
    spec_init(&sp, AC_CAL_BIAS, paths, 3, "Master-Bias.fits", NULL, NULL);
    ac_build_run(&sp, res, &cancel);
    ASSERT_EQ(res->status, AC_BUILD_ERROR);
    ASSERT_EQ(res->err.code, AC_ECANCELED);
    ASSERT(!exists(sp.output_path));
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", sp.opts.masters_dir);
    ASSERT_EQ(system(cmd), 0); /* no temporary file either */
    free(res);
    ac_build_spec_clear(&sp);
    ac_gen_free(g);
}

/* The same master whatever the strip height: one strip, or one row per strip with the
 * pilot sampling every other row. */
TEST(builder_strips_and_sampled_pilot_give_the_same_master)
{
    ac_gen_t *g = camera(5.0, 2.0, 25000, 1e-3);
    char dp[N][256], fp[N][256];
    ac_build_spec_t a, b;
    ac_build_result_t *ra = calloc(1, sizeof *ra), *rb = calloc(1, sizeof *rb);
    double *pa, *pb, meanrel = 0;
    int nbig = 0;

    ASSERT_NOT_NULL(ra);
    ASSERT_NOT_NULL(rb);
    write_frames(g, AC_GEN_DARK, "dark", N, dp);
    write_frames(g, AC_GEN_FLAT, "flat", N, fp);
    spec_init(&a, AC_CAL_DARK, dp, N, "Master-Dark-a.fits", NULL, NULL);
    spec_init(&b, AC_CAL_DARK, dp, N, "Master-Dark-b.fits", NULL, NULL);
    b.opts.job_memory = 1;
    run_ok(&a, ra);
    run_ok(&b, rb);
    ASSERT_EQ(ra->strip_rows, H);
    ASSERT_EQ(rb->strip_rows, 1);
    pa = read_image(a.output_path);
    pb = read_image(b.output_path);
    ASSERT(memcmp(pa, pb, sizeof(double) * W * H) == 0);
    ASSERT_EQ(ra->rej_low, rb->rej_low);
    ASSERT(ra->hot_pixels > 0);
    ASSERT(fabs((double)ra->hot_pixels - (double)rb->hot_pixels) <= 0.1 * ra->hot_pixels + 2);
    free(pa);
    free(pb);
    ac_build_spec_clear(&a);
    ac_build_spec_clear(&b);
    spec_init(&a, AC_CAL_FLAT, fp, N, "Master-Flat-a.fits", NULL, NULL);
    spec_init(&b, AC_CAL_FLAT, fp, N, "Master-Flat-b.fits", NULL, NULL);
    b.opts.job_memory = 1;
    run_ok(&a, ra);
    run_ok(&b, rb);
    pa = read_image(a.output_path);
    pb = read_image(b.output_path);
    /* The scales differ by the sampling error of the medians (about 2e-4, 5 ADU at this
     * level), which flips some clipping decisions of 7 values (a few % of the pixels move by
     * a fraction of the noise). */
    for (int p = 0; p < W * H; p++) {
        double rel = fabs(pa[p] - pb[p]) / pa[p];
        meanrel += rel / (W * H);
        nbig += rel > 2e-3;
    }
    ASSERT(meanrel < 5e-4);
    ASSERT(nbig < W * H / 10);
    ASSERT_NEAR(rb->flat_level, ra->flat_level, 2e-3 * ra->flat_level);
    free(pa);
    free(pb);
    free(ra);
    free(rb);
    ac_build_spec_clear(&a);
    ac_build_spec_clear(&b);
    ac_gen_free(g);
}

TEST(builder_strip_rows_bounded_by_job_memory)
{
    ac_build_opts_t o;
    int r1, r2;

    ac_build_opts_default(&o);
    r1 = ac_build_strip_rows(&o, 20, 0, 6248);
    o.job_memory = (size_t)512 << 20;
    r2 = ac_build_strip_rows(&o, 20, 0, 6248);
    ASSERT(r1 >= 1 && r2 > 3 * r1);
    /* 20 strips of r1 rows of 6248 floats plus 16-bit scratch fit in 128 MiB. */
    ASSERT((size_t)r1 * 6248 * 20 * 6 < ((size_t)128 << 20));
    o.job_memory = 1;
    ASSERT_EQ(ac_build_strip_rows(&o, 20, 2, 6248), 1);
}

/* ---- The catalogue side, end to end ---- */

static void reg_frames(sqlite3 *h, const char *session, const char *type, const char *object,
                       const char *filter, const char *exp, char paths[][256], int n)
{
    for (int i = 0; i < n; i++) {
        char id[64];
        afdb_file_t f;
        snprintf(id, sizeof id, "%s-%d", session, i);
        f = afdb_light(id, session, paths[i], "2024-10-05T08:00:00", exp);
        f.type = type;
        f.object = object;
        f.filter = filter;
        afdb_add_file(h, &f);
    }
}

/* Claims, prepares, runs and records builds until the queue is empty; returns how many ran. */
static int drain(ac_db_t *db, const ac_build_opts_t *o)
{
    int ran = 0;

    for (;;) {
        ac_build_row_t r = {0};
        ac_build_spec_t sp;
        ac_build_result_t *res;
        char why[512];
        bool found = false;
        int what = -1, pr;

        ASSERT_OK(ac_catalog_build_claim(db, 2e9, &r, &found, NULL));
        if (!found)
            return ran;
        pr = ac_build_prepare(db, r.key, o, &sp, why, sizeof why, NULL);
        ASSERT_EQ(pr, AC_BUILD_PLAN_READY);
        res = calloc(1, sizeof *res);
        ASSERT_NOT_NULL(res);
        ac_build_run(&sp, res, NULL);
        ASSERT_OK(ac_build_record(db, &sp, res, 3, 10, &what, NULL));
        ASSERT(what == AC_BUILD_REGISTERED || what == AC_BUILD_REJECTED_ROW);
        ran++;
        free(res);
        ac_build_spec_clear(&sp);
        ac_catalog_build_row_clear(&r);
    }
}

TEST(builder_catalog_end_to_end_registers_once_and_keeps_rejects_out)
{
    ac_gen_t *g = camera(5.0, 2.0, 25000, 1e-4), *dim = camera(5.0, 2.0, 1300, 1e-4);
    char bp[N][256], fdp[N][256], fp[5][256], dp[4][256];
    sqlite3 *h = afdb_create("e2e.db", AFDB_MIGRATED);
    ac_build_opts_t o;
    ac_build_row_list_t rl = {0};
    ac_build_spec_t sp;
    ac_db_t *db;
    char why[512];
    int queued = -1;

    write_frames(g, AC_GEN_BIAS, "bias", N, bp);
    write_frames(g, AC_GEN_FLATDARK, "flatdark", N, fdp);
    write_frames(g, AC_GEN_FLAT, "flat", 5, fp);
    write_frames(dim, AC_GEN_FLAT, "dimflat", 4, dp);
    afdb_add_session(h, "SB", "Bias", "2024-10-05", "0", "-10", NULL);
    afdb_add_session(h, "SD", "Dark", "2024-10-05", "2", "-10", NULL);
    afdb_add_session(h, "SF", "Flat", "2024-10-05", "2", "-10", "L");
    afdb_add_session(h, "SG", "Flat", "2024-10-05", "2", "-10", "Ha");
    reg_frames(h, "SB", "BIAS FRAME", "Bias", NULL, "0", bp, N);
    reg_frames(h, "SD", "FLAT DARK", "Dark", NULL, "2", fdp, N);
    reg_frames(h, "SF", "FLAT FIELD", "Flat", "L", "2", fp, 5);
    reg_frames(h, "SG", "FLAT FIELD", "Flat", "Ha", "2", dp, 4);
    sqlite3_close(h);
    db = ac_db_open("e2e.db", NULL, NULL);
    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    ac_build_opts_default(&o);
    snprintf(o.masters_dir, sizeof o.masters_dir, "%s/Masters", ac_test_tmpdir());
    o.out.durable = false;

    ASSERT_OK(ac_build_scan(db, &o, &queued, NULL));
    ASSERT_EQ(queued, 4);
    /* Before the flat-dark exists, the flats wait for it. */
    ASSERT_EQ(ac_build_prepare(db, "SF", &o, &sp, why, sizeof why, NULL), AC_BUILD_PLAN_WAIT);
    ASSERT_CONTAINS(why, "SD:flatdark");
    ASSERT_EQ(drain(db, &o), 4);

    /* Three masters, one per good unit, with AstroFiler's columns. */
    ASSERT_EQ(afdb_int(ac_db_handle(db), "SELECT COUNT(*) FROM Masters", NULL, -1), 3);
    ASSERT_EQ(afdb_int(ac_db_handle(db),
                       "SELECT COUNT(*) FROM Masters WHERE master_type = 'dark' AND "
                       "exposure_time = '2.0' AND filter_name IS NULL AND source_session_id = "
                       "'SD' AND master_path LIKE '%/Master-FlatDark-C14-%' AND file_count = 7",
                       NULL, -1),
              1);
    ASSERT_EQ(
        afdb_int(ac_db_handle(db),
                 "SELECT COUNT(*) FROM Masters WHERE master_type = 'flat' AND "
                 "exposure_time IS NULL AND filter_name = 'L' AND source_session_id = 'SF' "
                 "AND file_count = 5 AND notes LIKE '%flat-dark subtracted%' AND "
                 "length(hash_value) = 32 AND is_validated = 1 AND soft_delete = 0",
                 NULL, -1),
        1);
    ASSERT_EQ(
        afdb_int(ac_db_handle(db),
                 "SELECT COUNT(*) FROM Masters WHERE master_type = 'bias' AND gain = '100' "
                 "AND telescope = 'C14' AND instrument = 'ZWO ASI294MM Pro' AND "
                 "binning_x = '1' AND quality_score > 50",
                 NULL, -1),
        1);
    /* The dim flats were rejected: not in Masters, the reason in the queue. */
    ASSERT_OK(ac_catalog_build_list(db, &rl, NULL));
    ASSERT_EQ(rl.n, 4);
    for (size_t i = 0; i < rl.n; i++) {
        if (strcmp(rl.items[i].key, "SG") == 0) {
            ASSERT_EQ(rl.items[i].state, AC_BUILD_REJECTED);
            ASSERT_CONTAINS(rl.items[i].error, "min_flat_level");
            ASSERT_CONTAINS(rl.items[i].quality_json, "\"flat_level\"");
        } else {
            ASSERT_EQ(rl.items[i].state, AC_BUILD_DONE);
            ASSERT(rl.items[i].master_rowid > 0);
        }
    }
    ac_catalog_build_rows_free(&rl);
    /* A new scan queues nothing: masters exist, the reject keeps its row. */
    ASSERT_OK(ac_build_scan(db, &o, &queued, NULL));
    ASSERT_EQ(queued, 0);
    ASSERT_EQ(drain(db, &o), 0);
    ac_db_close(db);
    ac_gen_free(g);
    ac_gen_free(dim);
}
