/*
 * test-builder.c - master building (daemon/work/build*.c): masters built from frames written
 * by tests/support/fitsgen.h and compared with an independent double-precision sigma-clipped
 * mean computed here (subs read with cfitsio, flats calibrated and normalised here, the
 * clipping loop written here); cosmic rays and a satellite trail injected with cfitsio;
 * noise, headers, provenance read back by ac_meta_from_header, strips. Rejections, dropped
 * subs, cancellation and the catalogue side are in test-builder-reject.c; the plan alone in
 * test-catalog-build.c.
 */
#include <fitsio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buildplan.h"
#include "buildtest.h"
#include "calib.h"
#include "fitsgen.h"
#include "fitsread.h"
#include "imgio.h"
#include "meta.h"
#include "stack.h"
#include "test.h"
#include "tools.h"

#define W BUILDTEST_W
#define H BUILDTEST_H
#define N BUILDTEST_N

/* ---- Frames ---- */

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
    ac_fitsread_info_t info;
    double *px = ac_fitsread_image(path, &info);

    ASSERT_EQ(info.naxis, 2);
    ASSERT_EQ(info.w, W);
    ASSERT_EQ(info.h, H);
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

/* The value of a string keyword, unquoted and trimmed (cfitsio). */
static const char *key_str(const char *path, const char *key)
{
    const char *value = ac_fitsread_string(path, key);

    if (value == NULL)
        AC_TEST_FAIL("%s: string keyword %s missing", path, key);
    return value;
}

/* ---- Bias ---- */

TEST(builder_bias_matches_independent_clip_rejects_cosmic_and_trail)
{
    ac_gen_t *g = build_camera(5.0, 0.0, 25000, 1e-4);
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
    ac_tools_fitsverify_clean(sp.output_path);
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
    ac_gen_t *g = build_camera(5.0, 2.0, 25000, 1e-4);
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
    ac_tools_fitsverify_clean(sf.output_path);
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
    ac_gen_t *g = build_camera(5.0, 2.0, 25000, 1e-4);
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
    ac_gen_t *g = build_camera(5.0, 2.0, 25000, 1e-4);
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

/* ---- Strips ---- */

/* The same master whatever the strip height: one strip, or one row per strip with the
 * pilot sampling every other row. */
TEST(builder_strips_and_sampled_pilot_give_the_same_master)
{
    ac_gen_t *g = build_camera(5.0, 2.0, 25000, 1e-3);
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
