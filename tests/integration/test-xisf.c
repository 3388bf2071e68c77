/*
 * test-xisf.c - an XISF light calibrated by `astrocald calibrate` equals the same light
 * calibrated as FITS: the XISF files are made from the FITS lights of a generated night
 * (tests/support/xisfgen.h: the same pixels and every header card as FITSKeyword
 * elements, as N.I.N.A. saves them) with zstd + byte shuffling, lz4 and no compression;
 * the calibrated pixels must be identical bit for bit (read with cfitsio, not astrocald's
 * reader), the outputs FITS (fitsverify clean) named after the light's stem, and the
 * header facts the same.
 */
#include <glob.h>
#include <string.h>

#include "fitsgen.h"
#include "support.h"
#include "xisfgen.h"

#define W 96
#define H 64

static int calibrate(const char *outdir, const char *light, char **out)
{
    char *const argv[] = {(char *)AC_ASTROCALD_BIN,
                          "calibrate",
                          "--bias",
                          "night/masters/master_bias.fits",
                          "--dark",
                          "night/masters/master_dark.fits",
                          "--flat",
                          "night/masters/master_flat.fits",
                          "--output-dir",
                          (char *)outdir,
                          "--sync",
                          (char *)light,
                          NULL};
    return run_capture(argv, out);
}

/* night writes a generated night (w x h, n lights, AstroFiler-style masters) under night/
 * and lists its lights in *gl; the generator is freed. */
static void night(uint64_t seed, int w, int h, int n, glob_t *gl)
{
    ac_gen_camera_t cam;
    ac_gen_night_t nt;
    ac_err_t e = {0};
    ac_gen_t *g;

    ac_gen_camera_sized(&cam, seed, w, h);
    ASSERT_NOT_NULL(g = ac_gen_new(&cam, &e));
    ac_gen_night_default(&nt, &cam);
    nt.n_lights = n;
    nt.masters = AC_GEN_MASTER_ASTROFILER;
    if (ac_gen_write_night(g, &nt, "night", &e) != 0)
        AC_TEST_FAIL("night: %s", e.msg);
    ac_gen_free(g);
    ASSERT_OK(glob("night/lights/*.fits", 0, NULL, gl));
    ASSERT_EQ(gl->gl_pathc, (size_t)n);
}

TEST(xisf_light_calibrates_as_its_fits_twin)
{
    static const char *const codecs[] = {"zstd", "lz4", NULL};
    glob_t gl;
    char *out = NULL;

    night(77, W, H, 3, &gl);
    ASSERT_OK(mkdir("x", 0755));
    for (size_t i = 0; i < 3; i++) {
        const char *fits = gl.gl_pathv[i], *base = strrchr(fits, '/') + 1;
        char xisf[512], of[512], ox[512];
        int w, h, w2, h2;

        snprintf(xisf, sizeof xisf, "x/%.*s.xisf", (int)(strlen(base) - 5), base);
        ASSERT_OK(ac_xisfgen_from_fits(fits, xisf, codecs[i], codecs[i] != NULL && i == 0));
        if (calibrate("outf", fits, &out) != 0)
            AC_TEST_FAIL("%s: %s", fits, out);
        free(out);
        if (calibrate("outx", xisf, &out) != 0)
            AC_TEST_FAIL("%s: %s", xisf, out);
        ASSERT_CONTAINS(out, "1 file: 1 calibrated, 0 failed");
        free(out);
        snprintf(of, sizeof of, "outf/%.*s_calibrated.fits", (int)(strlen(base) - 5), base);
        snprintf(ox, sizeof ox, "outx/%.*s_calibrated.fits", (int)(strlen(base) - 5), base);
        double *a = read_image(of, &w, &h), *b = read_image(ox, &w2, &h2);
        ASSERT_EQ(w, W);
        ASSERT_EQ(w2, W);
        ASSERT_EQ(h2, H);
        if (memcmp(a, b, (size_t)W * H * sizeof *a) != 0)
            AC_TEST_FAIL("%s: calibrated pixels differ from its FITS twin's", xisf);
        free(a);
        free(b);
        assert_fitsverify_clean(ox);
        ASSERT(read_key_double(ox, "EXPTIME") == read_key_double(of, "EXPTIME"));
        ASSERT_STR_EQ(read_key_string(ox, "DATE-OBS"), read_key_string(of, "DATE-OBS"));
        ASSERT_STR_EQ(read_key_string(ox, "IMAGETYP"), read_key_string(of, "IMAGETYP"));
    }
    globfree(&gl);
}

/* A compressed XISF block is decompressed whole: the job's memory must hold it (the engine
 * refuses the light with the reason otherwise, and counts it against the strips). */
TEST(xisf_compressed_block_counts_against_job_memory)
{
    glob_t gl;
    char *out = NULL;
    int rc;

    night(78, 1600, 1400, 1, &gl); /* 4.27 MiB of UInt16 */
    ASSERT_OK(ac_xisfgen_from_fits(gl.gl_pathv[0], "big.xisf", "zstd", true));
    globfree(&gl);
    char *const argv[] = {(char *)AC_ASTROCALD_BIN,
                          "calibrate",
                          "--bias",
                          "night/masters/master_bias.fits",
                          "--output-dir",
                          "out",
                          "--job-memory",
                          "4",
                          "big.xisf",
                          NULL};
    rc = run_capture(argv, &out);
    ASSERT_NE(rc, 0);
    /* the 4.27 MiB image and, while it is decompressed, the compressed block */
    ASSERT_CONTAINS(out, "big.xisf: a compressed XISF image is decompressed whole: it needs ");
    ASSERT_CONTAINS(out, " MiB, more than the job's memory (4 MiB; job_memory_mib, or "
                         "--job-memory)");
    free(out);
    ((char **)argv)[7] = "8";
    if (run_capture(argv, &out) != 0)
        AC_TEST_FAIL("%s", out);
    ASSERT_CONTAINS(out, "1 file: 1 calibrated, 0 failed");
    free(out);
}
