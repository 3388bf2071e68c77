/*
 * test-grading.c - the grading stage's work on calibrated outputs (work/grading.h,
 * io/hdrupdate.h) and the session judgement (core/grade.h) on synthetic frames with a
 * known PSF (tests/support/starfield.h, Moffat beta 3, FWHM 3.5 px), written the way the
 * engine writes an output (ac_imgout, AC_GRADE_CARDS blank slots reserved). Known answers:
 * the PSF's FWHM; the frame dimmed by cloud (half its stars 30 x fainter) must be rejected
 * by the star-count rule, the trailed one (10 px drift) by the eccentricity rule, the one
 * whose sky keeps 15 % vignetting (no flat) by the flat rule, the others accepted; the
 * header gets the cards without moving the data (the file keeps its size), CHECKSUM and
 * DATASUM verify (cfitsio), and the returned SHA-256 is the file's.
 */
#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "digest.h"
#include "grade.h"
#include "grading.h"
#include "hdrupdate.h"
#include "imgout.h"
#include "starfield.h"
#include "test.h"

enum { CLEAR0, CLEAR1, CLEAR2, CLEAR3, CLOUD, TRAILED, VIGNETTED, NFRAMES };

/* write_output renders spec and writes it as an engine output would be written. */
static void write_output(const char *path, const ac_starfield_spec_t *sp, double vignette)
{
    ac_starfield_t f;
    ac_imgout_opts_t o;
    ac_imgout_t *w = NULL;
    ac_hdr_t h;
    ac_err_t e = {0};

    ASSERT_OK(ac_starfield_make(sp, &f));
    for (int y = 0; y < f.height && vignette != 0; y++)
        for (int x = 0; x < f.width; x++) {
            double u = 2.0 * x / (f.width - 1) - 1, v = 2.0 * y / (f.height - 1) - 1;
            f.px[(size_t)y * f.width + x] *= (float)(1 - vignette * (u * u + v * v) / 2);
        }
    ac_imgout_opts_default(&o);
    o.durable = false;
    o.reserve_cards = AC_GRADE_CARDS;
    ac_hdr_init(&h);
    ASSERT_OK(ac_hdr_add_str(&h, "IMAGETYP", "Light Frame", NULL));
    ASSERT_OK(ac_hdr_add_double(&h, "FOCALLEN", 530, NULL));
    ASSERT_OK(ac_hdr_add_double(&h, "XPIXSZ", 3.76, NULL));
    if (ac_imgout_open(path, f.width, f.height, &h, 0, &o, &w, &e) != 0 ||
        ac_imgout_write_rows(w, f.px, f.height, &e) != 0 || ac_imgout_commit(w, NULL, NULL, &e))
        AC_TEST_FAIL("writing %s: %s", path, e.msg);
    ac_hdr_free(&h);
    ac_starfield_free(&f);
}

static void spec_for(int i, ac_starfield_spec_t *sp)
{
    ac_starfield_spec_default(sp, 7000 + (uint64_t)i);
    sp->shape = (ac_star_shape_t){.moffat = true, .fwhm = 3.5, .beta = 3.0};
    if (i == CLOUD)
        sp->cloud = 1.0 / 30;
    if (i == TRAILED) {
        sp->drift = 10;
        sp->drift_angle = 0.5;
    }
}

/* verify_file checks the FITS checksums and returns the value of key (NAN if absent). */
static double verify_file(const char *path, const char *key, char *text, size_t size)
{
    fitsfile *f = NULL;
    int st = 0, dataok = 0, hduok = 0;
    double v = NAN;
    char val[FLEN_VALUE] = "";

    fits_open_diskfile(&f, path, READONLY, &st);
    ASSERT_EQ(st, 0);
    fits_verify_chksum(f, &dataok, &hduok, &st);
    ASSERT_EQ(st, 0);
    ASSERT_EQ(dataok, 1);
    ASSERT_EQ(hduok, 1);
    if (text != NULL) {
        text[0] = '\0';
        fits_read_key(f, TSTRING, key, val, NULL, &st);
        if (st == 0)
            snprintf(text, size, "%s", val);
    } else {
        fits_read_key(f, TDOUBLE, key, &v, NULL, &st);
        if (st != 0)
            v = NAN;
    }
    st = 0;
    fits_close_file(f, &st);
    return v;
}

static long long file_size(const char *path)
{
    struct stat sb;

    ASSERT_EQ(stat(path, &sb), 0);
    return (long long)sb.st_size;
}

TEST_TIMEOUT(grading_session_cloud_trailed_and_no_flat_rejected_by_their_rule, 600)
{
    ac_grade_fig_t figs[NFRAMES];
    ac_grade_verdict_t v[NFRAMES];
    ac_grade_rules_t rules;
    char path[64], sha[65];
    ac_err_t e = {0};

    for (int i = 0; i < NFRAMES; i++) {
        ac_starfield_spec_t sp;
        ac_grading_res_t r;
        long long before;

        snprintf(path, sizeof path, "f%d.fits", i);
        spec_for(i, &sp);
        write_output(path, &sp, i == VIGNETTED ? 0.15 : 0);
        before = file_size(path);
        if (ac_grading_measure(path, NULL, true, &r, &e) != 0)
            AC_TEST_FAIL("%s: %s", path, e.msg);
        figs[i] = r.fig;
        fprintf(stderr,
                "frame %d: fwhm %.3f hfr %.3f ecc %.3f stars %d snr %.0f flat %+.4f "
                "scale %.4f (%.2f s)\n",
                i, r.fig.fwhm, r.fig.hfr, r.fig.ecc, r.fig.stars, r.fig.snr,
                r.fig.flat_residual, r.fig.scale, r.t_total);
        /* The cards are in the header, the data did not move, the checksums hold. */
        ASSERT_EQ(file_size(path), before);
        ASSERT_NEAR(verify_file(path, "FWHM", NULL, 0), r.fig.fwhm, 1e-6 * r.fig.fwhm);
        ASSERT_NEAR(verify_file(path, "STARCNT", NULL, 0), r.fig.stars, 0);
        ASSERT_NEAR(verify_file(path, "PIXSCALE", NULL, 0), 206.264806 * 3.76 / 530, 1e-6);
        ASSERT_OK(ac_digest_file(path, AC_DIGEST_SHA256, sha, sizeof sha, &e));
        ASSERT_STR_EQ(r.sha256, sha);
        if (i != TRAILED) /* the PSF's FWHM (trailed: the drift widens it) */
            ASSERT_NEAR(r.fig.fwhm / 3.5, 1.0, 0.05);
        ASSERT_NEAR(r.fig.nonfinite, 0, 0);
    }
    ASSERT_NEAR(figs[VIGNETTED].flat_residual, -0.15, 0.01);
    for (int i = CLEAR0; i <= CLEAR3; i++)
        ASSERT(fabs(figs[i].flat_residual) < 0.01);
    ac_grade_rules_default(&rules);
    ASSERT_OK(ac_grade_judge(figs, NFRAMES, &rules, v));
    for (int i = 0; i < NFRAMES; i++)
        fprintf(stderr, "frame %d: %s %s (score %.0f)\n", i,
                v[i].rejected ? "rejected" : "accepted", v[i].reasons, v[i].score);
    for (int i = CLEAR0; i <= CLEAR3; i++)
        ASSERT(!v[i].rejected);
    ASSERT(v[CLOUD].rejected);
    ASSERT(strncmp(v[CLOUD].reasons, "stars ", 6) == 0);
    ASSERT(v[TRAILED].rejected);
    ASSERT(strncmp(v[TRAILED].reasons, "eccentricity ", 13) == 0);
    ASSERT(v[VIGNETTED].rejected);
    ASSERT(strncmp(v[VIGNETTED].reasons, "flat ", 5) == 0);
}

TEST(grading_qreject_written_and_removed_in_place)
{
    ac_starfield_spec_t sp;
    char sha[65], now[65], text[80];
    long long size;
    ac_err_t e = {0};

    ac_starfield_spec_default(&sp, 77);
    sp.width = 400;
    sp.height = 300;
    sp.nstars = 60;
    write_output("q.fits", &sp, 0);
    size = file_size("q.fits");
    ASSERT_OK(ac_digest_file("q.fits", AC_DIGEST_SHA256, now, sizeof now, &e));
    ASSERT_OK(ac_grading_mark("q.fits", "stars 195 < 0.75 x 304", now, sha, sizeof sha, &e));
    verify_file("q.fits", "QREJECT", text, sizeof text);
    ASSERT_STR_EQ(text, "stars 195 < 0.75 x 304");
    ASSERT_EQ(file_size("q.fits"), size);
    /* A file changed since (the expected hash is the old one) is left alone. */
    ASSERT_EQ(ac_grading_mark("q.fits", NULL, now, sha, sizeof sha, &e), -ESTALE);
    ASSERT(strstr(e.msg, "changed since it was calibrated") != NULL);
    verify_file("q.fits", "QREJECT", text, sizeof text);
    ASSERT_STR_EQ(text, "stars 195 < 0.75 x 304");
    ASSERT_OK(ac_digest_file("q.fits", AC_DIGEST_SHA256, now, sizeof now, &e));
    ASSERT_STR_EQ(now, sha);
    e = (ac_err_t){0};
    ASSERT_OK(ac_grading_mark("q.fits", NULL, now, sha, sizeof sha, &e));
    verify_file("q.fits", "QREJECT", text, sizeof text);
    ASSERT_STR_EQ(text, "");
    ASSERT_EQ(file_size("q.fits"), size);
}
