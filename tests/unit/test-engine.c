/*
 * test-engine.c - the engine's hash_output mode (engine.h): the two passes, or the
 * read-back fallback for compressed files, give the same pixels and header figures as the
 * single pass, a valid file, and the SHA-256 of that file. Synthetic 200 x 150 frames from
 * tests/support/fitsgen.h, mono and RGGB, cosmetic correction on and off, automatic
 * pedestal. The masters' MD5s handed over late (the one-shot's late_md5s).
 */
#include <errno.h>
#include <fitsio.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "engine.h"
#include "fitsgen.h"
#include "imgio.h"
#include "test.h"

#define W 200
#define H 150

/* make_frames writes masters (AstroFiler style: 16-bit, dark with bias, raw flat) and one
 * light (light.fits, or light.fits.fz with fz) for a mono or an RGGB camera. */
static void make_frames(bool color, bool fz)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f;
    ac_err_t e = {0};
    ac_gen_t *g;

    ac_gen_camera_sized(&cam, 11, W, H);
    cam.hot_fraction = 2e-3; /* about 60 hot pixels for the cosmetic correction */
    cam.sky_level = 3;       /* a dark sky: noise below 0, so the automatic pedestal is > 0 */
    if (color)
        ac_gen_camera_color(&cam, "RGGB");
    g = ac_gen_new(&cam, &e);
    ASSERT_NOT_NULL(g);
    ASSERT_OK(ac_gen_write_masters(g, AC_GEN_MASTER_ASTROFILER, ".", &e));
    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    f.index = 1;
    f.fz = fz;
    if (color)
        f.filter = NULL;
    ASSERT_OK(ac_gen_write_frame(g, &f, fz ? "light.fits.fz" : "light.fits", &e));
    ac_gen_free(g);
}

static void prepare(ac_calset_t *cs, bool cosmetic)
{
    ac_image_t b, d, f;
    ac_calib_opts_t o;
    ac_err_t e = {0};

    memset(cs, 0, sizeof *cs);
    ASSERT_OK(ac_imgio_load_image("bias.fits", &b, &e));
    ASSERT_OK(ac_imgio_load_image("dark.fits", &d, &e));
    ASSERT_OK(ac_imgio_load_image("flat.fits", &f, &e));
    ac_calib_opts_default(&o);
    o.cosmetic = cosmetic;
    if (ac_calib_prepare_take(cs, &b, &d, &f, NULL, 1.0, &o, &e) != 0)
        AC_TEST_FAIL("prepare: %s", e.msg);
    if (cosmetic)
        ASSERT(cs->n_hot > 0);
}

/* run calibrates light into outdir; strips of 37 rows (the last one of 2), a small writer
 * buffer. Checks the progress reported: both passes when two_pass is expected. */
static void run(const ac_calset_t *cs, const char *light, const char *outdir, bool hash,
                bool cosmetic, bool compress, bool two_pass, ac_light_result_t *res)
{
    ac_engine_opts_t o;
    ac_engine_ctl_t ctl;
    ac_workbuf_t wb = {0};

    ac_engine_opts_default(&o);
    ASSERT(!o.hash_output); /* the one-shot mode keeps the single pass */
    o.calib.cosmetic = cosmetic;
    o.calib.pedestal_mode = AC_PEDESTAL_AUTO;
    o.out.buf_bytes = 64u << 10;
    o.out.compress = compress;
    o.job_memory = ac_imgout_buffer_bytes(&o.out) + 2 * AC_QUALITY_MAX_SAMPLES * sizeof(float) +
                   41u * W * (4 + 8);
    ASSERT_EQ(ac_engine_strip_rows(&o, W, 8), 37);
    o.hash_output = hash;
    snprintf(o.output_dir, sizeof o.output_dir, "%s", outdir);
    mkdir(outdir, 0755);
    memset(&ctl, 0, sizeof ctl);
    if (ac_engine_calibrate_light(cs, light, &o, &wb, &ctl, res) != 0)
        AC_TEST_FAIL("calibrate %s: %s", light, res->err.msg);
    ASSERT_EQ(atomic_load(&ctl.rows_total), two_pass ? 2 * H : H);
    ASSERT_EQ(atomic_load(&ctl.rows_done), two_pass ? 2 * H : H);
    ASSERT_EQ(atomic_load(&ctl.step), AC_STEP_DONE);
    ac_workbuf_free(&wb);
}

/* read_output reads the calibrated pixels (HDU hdu) bit for bit and verifies the file's
 * checksums with cfitsio; *datasum receives the DATASUM keyword of that HDU. */
static float *read_output(const char *path, int hdu, char datasum[FLEN_VALUE])
{
    fitsfile *f = NULL;
    long fp[2] = {1, 1};
    int st = 0, dataok = 0, hduok = 0;
    float *px = malloc((size_t)W * H * sizeof *px);

    ASSERT_NOT_NULL(px);
    fits_open_diskfile(&f, path, READONLY, &st);
    fits_movabs_hdu(f, hdu, NULL, &st);
    fits_read_pix(f, TFLOAT, fp, (LONGLONG)W * H, NULL, px, NULL, &st);
    fits_verify_chksum(f, &dataok, &hduok, &st);
    fits_read_keyword(f, "DATASUM", datasum, NULL, &st);
    fits_close_file(f, &st);
    ASSERT_EQ(st, 0);
    ASSERT_EQ(dataok, 1);
    ASSERT_EQ(hduok, 1);
    return px;
}

/* same_header compares the headers of two outputs card by card, except the cards that
 * carry the time (CALDATE, the "Calibrated by ... on" HISTORY, DATASUM and CHECKSUM). */
static void same_header(const char *a, const char *b)
{
    ac_hdr_t ha, hb;
    ac_meta_t ma, mb;
    ac_err_t e = {0};

    ac_hdr_init(&ha);
    ac_hdr_init(&hb);
    ASSERT_OK(ac_imgio_read_header(a, &ha, &ma, &e));
    ASSERT_OK(ac_imgio_read_header(b, &hb, &mb, &e));
    ASSERT_EQ(ha.n, hb.n);
    for (size_t i = 0; i < ha.n; i++) {
        if (strncmp(ha.cards[i], "CALDATE ", 8) == 0 ||
            strncmp(ha.cards[i], "DATASUM ", 8) == 0 ||
            strncmp(ha.cards[i], "CHECKSUM", 8) == 0 ||
            strncmp(ha.cards[i], "HISTORY Calibrated by", 21) == 0)
            continue;
        ASSERT_STR_EQ(ha.cards[i], hb.cards[i]);
    }
    ac_hdr_free(&ha);
    ac_hdr_free(&hb);
}

/* check_same runs the light without and with hash_output and compares the results. */
static void check_same(bool color, bool cosmetic, bool fz)
{
    const char *light = fz ? "light.fits.fz" : "light.fits";
    ac_light_result_t *one = calloc(1, sizeof *one), *two = calloc(1, sizeof *two);
    ac_calset_t cs;
    ac_err_t e = {0};
    char ds1[FLEN_VALUE], ds2[FLEN_VALUE], sha[65];
    float *p1, *p2;
    struct stat sb1, sb2;

    ASSERT(one != NULL && two != NULL);
    make_frames(color, fz);
    prepare(&cs, cosmetic);
    run(&cs, light, "one", false, cosmetic, false, false, one);
    run(&cs, light, "two", true, cosmetic, false, !fz, two);
    ASSERT_STR_EQ(one->sha256, "");
    ASSERT_STR_EQ(two->out_path, "two/light_calibrated.fits");
    ASSERT_OK(ac_digest_file(two->out_path, AC_DIGEST_SHA256, sha, sizeof sha, &e));
    ASSERT_STR_EQ(two->sha256, sha);
    /* The same figures, pixels (bit for bit) and cards. */
    ASSERT(one->pedestal > 0);
    ASSERT_EQ(memcmp(&one->pedestal, &two->pedestal, sizeof one->pedestal), 0);
    ASSERT_EQ(memcmp(&one->quality, &two->quality, sizeof one->quality), 0);
    ASSERT_EQ(one->hot_fixed, two->hot_fixed);
    ASSERT(cosmetic ? one->hot_fixed > 0 : one->hot_fixed == 0);
    ASSERT_EQ(one->out_bytes, two->out_bytes);
    ASSERT_OK(stat(one->out_path, &sb1));
    ASSERT_OK(stat(two->out_path, &sb2));
    ASSERT_EQ(sb1.st_size, sb2.st_size);
    ASSERT_EQ((uint64_t)sb2.st_size, two->out_bytes);
    p1 = read_output(one->out_path, 1, ds1);
    p2 = read_output(two->out_path, 1, ds2);
    ASSERT_EQ(memcmp(p1, p2, (size_t)W * H * sizeof *p1), 0);
    ASSERT_STR_EQ(ds1, ds2);
    same_header(one->out_path, two->out_path);
    free(p1);
    free(p2);
    free(one);
    free(two);
    ac_calset_free(&cs);
}

TEST(engine_hash_output_mono_cosmetic)
{
    check_same(false, true, false);
}

TEST(engine_hash_output_mono_plain)
{
    check_same(false, false, false);
}

TEST(engine_hash_output_rggb_cosmetic)
{
    check_same(true, true, false);
}

TEST(engine_hash_output_rggb_plain)
{
    check_same(true, false, false);
}

TEST(engine_hash_output_fz_input_reads_back)
{
    /* A tile-compressed light is calibrated once (rows_total = H, checked in run) and the
     * output read back for the hash. */
    check_same(false, true, true);
}

TEST(engine_hash_output_compressed_output_reads_back)
{
    ac_light_result_t *res = calloc(1, sizeof *res);
    ac_calset_t cs;
    ac_err_t e = {0};
    char sha[65], ds[FLEN_VALUE];

    ASSERT_NOT_NULL(res);
    make_frames(false, false);
    prepare(&cs, false);
    run(&cs, "light.fits", "z", true, false, true, false, res);
    ASSERT_STR_EQ(res->out_path, "z/light_calibrated.fits.fz");
    ASSERT_OK(ac_digest_file(res->out_path, AC_DIGEST_SHA256, sha, sizeof sha, &e));
    ASSERT_STR_EQ(res->sha256, sha);
    free(read_output(res->out_path, 2, ds));
    free(res);
    ac_calset_free(&cs);
}

TEST(engine_hash_output_cancel_leaves_nothing)
{
    ac_light_result_t *res = calloc(1, sizeof *res);
    ac_engine_opts_t o;
    ac_engine_ctl_t ctl;
    ac_workbuf_t wb = {0};
    ac_calset_t cs;
    struct stat sb;

    ASSERT_NOT_NULL(res);
    make_frames(false, false);
    prepare(&cs, false);
    ac_engine_opts_default(&o);
    o.hash_output = true;
    snprintf(o.output_dir, sizeof o.output_dir, "out");
    ASSERT_OK(mkdir("out", 0755));
    memset(&ctl, 0, sizeof ctl);
    atomic_store(&ctl.cancel, 1);
    ASSERT_EQ(ac_engine_calibrate_light(&cs, "light.fits", &o, &wb, &ctl, res), AC_ECANCELED);
    ASSERT_EQ(res->status, AC_ECANCELED);
    ASSERT_STR_EQ(res->sha256, "");
    ASSERT(stat("out/light_calibrated.fits", &sb) != 0 && errno == ENOENT);
    ASSERT_EQ(rmdir("out"), 0); /* empty: no temporary file either */
    ac_workbuf_free(&wb);
    free(res);
    ac_calset_free(&cs);
}

/* The masters' MD5s as the one-shot hands them over late (engine.h, late_md5s). */
struct late {
    int calls, rc;
};

static int late_md5s(void *ud, char md5[4][33], ac_err_t *e)
{
    static const char *const v[4] = {"0123456789abcdef0123456789abcdef",
                                     "fedcba9876543210fedcba9876543210",
                                     "00112233445566778899aabbccddeeff", ""};
    struct late *l = ud;

    l->calls++;
    if (l->rc != 0)
        return ac_err_set(e, l->rc, "master dark: dark.fits: read failed while hashing");
    for (int i = 0; i < 4; i++)
        snprintf(md5[i], 33, "%s", v[i]);
    return 0;
}

/* run_late calibrates light.fits into outdir with the MD5s from late_md5s. */
static int run_late(const ac_calset_t *cs, const char *outdir, bool hash, bool compress,
                    struct late *l, ac_light_result_t *res)
{
    ac_engine_opts_t o;
    ac_workbuf_t wb = {0};
    int rc;

    ac_engine_opts_default(&o);
    o.calib.cosmetic = true; /* as run() */
    o.calib.pedestal_mode = AC_PEDESTAL_AUTO;
    o.hash_output = hash;
    o.out.compress = compress;
    o.late_md5s = late_md5s;
    o.late_md5s_ud = l;
    snprintf(o.output_dir, sizeof o.output_dir, "%s", outdir);
    mkdir(outdir, 0755);
    rc = ac_engine_calibrate_light(cs, "light.fits", &o, &wb, NULL, res);
    ac_workbuf_free(&wb);
    return rc;
}

/* check_late: an output whose MD5s came late is the output of a set that knew them from
 * the start (same cards, same place, valid checksums; the SHA-256 of the file). */
static void check_late(bool hash, bool compress)
{
    ac_light_result_t *known = calloc(1, sizeof *known), *late = calloc(1, sizeof *late);
    struct late l = {0, 0};
    ac_calset_t cs;
    ac_err_t e = {0};
    char ds[FLEN_VALUE], sha[65];
    int hdu = compress ? 2 : 1;

    ASSERT(known != NULL && late != NULL);
    make_frames(false, false);
    prepare(&cs, true);
    snprintf(cs.bias_md5, sizeof cs.bias_md5, "0123456789abcdef0123456789abcdef");
    snprintf(cs.dark_md5, sizeof cs.dark_md5, "fedcba9876543210fedcba9876543210");
    snprintf(cs.flat_md5, sizeof cs.flat_md5, "00112233445566778899aabbccddeeff");
    run(&cs, "light.fits", "known", hash, true, compress, hash && !compress, known);
    cs.bias_md5[0] = cs.dark_md5[0] = cs.flat_md5[0] = '\0';
    if (run_late(&cs, "late", hash, compress, &l, late) != 0)
        AC_TEST_FAIL("late: %s", late->err.msg);
    ASSERT_EQ(l.calls, 1);
    if (!compress) {
        same_header(known->out_path, late->out_path);
    } else { /* cfitsio's own cards: compare the MD5s only */
        ac_hdr_t h;
        ac_meta_t m;
        char v[80];
        ac_hdr_init(&h);
        ASSERT_OK(ac_imgio_read_header(late->out_path, &h, &m, &e));
        ASSERT(ac_hdr_get_value(&h, "DARKMD5", v, sizeof v));
        ASSERT_STR_EQ(v, "fedcba9876543210fedcba9876543210");
        ac_hdr_free(&h);
    }
    free(read_output(late->out_path, hdu, ds)); /* checksums verified */
    if (hash) {
        ASSERT_OK(ac_digest_file(late->out_path, AC_DIGEST_SHA256, sha, sizeof sha, &e));
        ASSERT_STR_EQ(late->sha256, sha);
    }
    free(known);
    free(late);
    ac_calset_free(&cs);
}

TEST(engine_late_md5s_single_pass)
{
    check_late(false, false);
}

TEST(engine_late_md5s_two_passes)
{
    check_late(true, false);
}

TEST(engine_late_md5s_compressed_output)
{
    check_late(false, true);
}

TEST(engine_late_md5s_failure_commits_nothing)
{
    ac_light_result_t *res = calloc(1, sizeof *res);
    struct late l = {0, AC_EMASTER};
    ac_calset_t cs;
    struct stat sb;

    ASSERT_NOT_NULL(res);
    make_frames(false, false);
    prepare(&cs, false);
    for (int hash = 0; hash < 2; hash++) {
        ASSERT_EQ(run_late(&cs, "out", hash, false, &l, res), AC_EMASTER);
        ASSERT_EQ(res->status, AC_EMASTER);
        ASSERT_STR_EQ(res->err.msg,
                      "light.fits: master dark: dark.fits: read failed while hashing");
        ASSERT(stat("out/light_calibrated.fits", &sb) != 0 && errno == ENOENT);
        ASSERT_EQ(rmdir("out"), 0); /* empty: no temporary file either */
    }
    ASSERT_EQ(l.calls, 2);
    free(res);
    ac_calset_free(&cs);
}
