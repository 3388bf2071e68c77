/*
 * test-headers-calib.c - calibration of frames carrying real capture-software headers
 * (issue 9): `astrocald calibrate` reads the DWARF II's `EXP = 15.` and scales a 30 s dark
 * by k = 0.5 (known answer computed here), and refuses the same light without EXP naming
 * the keywords tried; the daemon applies one temperature rule in the planner and the
 * engine: a dark 2 C from the lights is used, one 7 C away leaves the session waiting with
 * the reason in `astrocalctl sessions` and `astrocalctl plan`; a Seestar colour cube is
 * refused with the reason.
 */
#include <math.h>

#include "hdrcorpus.h"
#include "nightfix.h"
#include "support.h"

#define W 64
#define H 48
#define HX 10 /* the hot pixel */
#define HY 11

/* write_master writes a float32 master: value everywhere, hot at (HX, HY), plus cards. */
static void write_master(const char *path, float value, float hot, const char *const *cards)
{
    static float px[W * H];
    long naxes[2] = {W, H};
    fitsfile *f = NULL;
    char bang[1100];
    int st = 0;

    for (int i = 0; i < W * H; i++)
        px[i] = value;
    px[HY * W + HX] = hot;
    snprintf(bang, sizeof bang, "!%s", path);
    fits_create_file(&f, bang, &st);
    fits_create_img(f, FLOAT_IMG, 2, naxes, &st);
    for (; *cards != NULL && st == 0; cards++)
        fits_write_record(f, *cards, &st);
    fits_write_img(f, TFLOAT, 1, W * H, px, &st);
    fits_close_file(f, &st);
    ASSERT_EQ(st, 0);
}

/* dwarf_night writes a master bias (100 ADU), a bias-free 30 s master dark (10 ADU, hot
 * pixel 3600 ADU) and DWARF II lights (EXP = 15.): 100 + 5 dark + 200 sky, hot 2100. */
static void dwarf_night(void)
{
    static const char *const bias[] = {
        "IMAGETYP= 'Master Bias'", "EXPTIME =                   0.", "BAYERPAT= 'GBRG'", NULL};
    static const char *const dark[] = {
        "IMAGETYP= 'Master Dark'", "EXPTIME =                  30.",
        "BIASSUB =                    T", "BAYERPAT= 'GBRG'", NULL};
    static const char *const noexp[] = {"-EXP", NULL};
    static float light[W * H];

    for (int i = 0; i < W * H; i++)
        light[i] = 305;
    light[HY * W + HX] = 2100;
    write_master("bias.fits", 100, 100, bias);
    write_master("dark.fits", 10, 3600, dark);
    hc_write("dwarf.fits", "dwarf2", W, H, light, NULL);
    hc_write("dwarf-noexp.fits", "dwarf2", W, H, light, noexp);
}

TEST_TIMEOUT(headers_dwarf_exp_read_and_dark_scaled, 120)
{
    char *const ok[] = {AC_ASTROCALD_BIN, "calibrate",    "--bias", "bias.fits",  "--dark",
                        "dark.fits",      "--output-dir", "out",    "dwarf.fits", NULL};
    char *const bad[] = {AC_ASTROCALD_BIN,   "calibrate", "--bias",       "bias.fits",
                         "--dark",           "dark.fits", "--output-dir", "out",
                         "dwarf-noexp.fits", NULL};
    char *out = NULL;
    double *px;
    int w, h, rc;

    dwarf_night();
    mkdir("out", 0755);
    rc = run_capture(ok, &out);
    if (rc != 0)
        AC_TEST_FAIL("calibrate exited %d: %s", rc, out);
    free(out);
    px = read_image("out/dwarf_calibrated.fits", &w, &h);
    ASSERT_EQ(w, W);
    /* k = 15 / 30: (305 - 100 - 0.5 * 10) = 200; the hot pixel (2100 - 100 - 1800) = 200
     * too (k = 1 would give 195 and -1600). */
    ASSERT_NEAR(px[0], 200, 1e-3);
    ASSERT_NEAR(px[HY * W + HX], 200, 1e-3);
    ASSERT_NEAR(read_key_double("out/dwarf_calibrated.fits", "DARKSCAL"), 0.5, 1e-9);
    free(px);
    /* The output records where the exposure came from and the temperatures compared. */
    {
        char hdr[2880 * 4 + 1] = "";
        FILE *f = fopen("out/dwarf_calibrated.fits", "rb");
        ASSERT_NOT_NULL(f);
        hdr[fread(hdr, 1, sizeof hdr - 1, f)] = '\0';
        fclose(f);
        ASSERT_CONTAINS(hdr, "HISTORY Light exposure 15 s from EXP");
        ASSERT_CONTAINS(hdr, "HISTORY Dark temperature: no temperature on the light nor on");
    }
    /* Without EXP: refused, naming the keywords tried; no output, exit status non-zero. */
    rc = run_capture(bad, &out);
    ASSERT(rc != 0);
    ASSERT_CONTAINS(out, "EXPTIME, EXPOSURE or EXP");
    ASSERT(!file_exists("out/dwarf-noexp_calibrated.fits"));
    free(out);
}

TEST_TIMEOUT(headers_seestar_colour_cube_refused_with_reason, 60)
{
    char *const argv[] = {AC_ASTROCALD_BIN, "calibrate", "--bias",       "bias.fits",
                          "--output-dir",   "out",       "seestar.fits", NULL};
    static const char *const bias[] = {"IMAGETYP= 'Master Bias'", "BAYERPAT= 'GRBG'", NULL};
    char *out = NULL;

    write_master("bias.fits", 100, 100, bias);
    hc_write("seestar.fits", "seestar-s50", W, H, NULL, NULL); /* NAXIS3 = 3 */
    mkdir("out", 0755);
    ASSERT(run_capture(argv, &out) != 0);
    ASSERT_CONTAINS(out, "NAXIS3 = 3: colour cubes are not supported");
    ASSERT(!file_exists("out/seestar_calibrated.fits"));
    free(out);
}

/* set_temps removes CCD-TEMP from path and writes SET-TEMP = t (checksums updated). */
static void set_temps(const char *path, double t)
{
    fitsfile *f = NULL;
    int st = 0, st2 = 0;

    fits_open_file(&f, path, READWRITE, &st);
    fits_delete_key(f, "CCD-TEMP", &st2);
    fits_update_key_dbl(f, "SET-TEMP", t, 2, "set point", &st);
    fits_write_chksum(f, &st);
    fits_close_file(f, &st);
    ASSERT_EQ(st, 0);
}

/* temperature_night: 3 lights at SET-TEMP -10 C (no CCD-TEMP), their dark at dark_t. */
static void temperature_night(ac_harness_t *h, struct night *nt, double dark_t)
{
    ac_harness_init(h);
    make_night(nt, 3, 96, 64);
    for (int i = 0; i < nt->n; i++)
        set_temps(nt->light[i], -10);
    set_temps(nt->dark, dark_t);
    make_catalogue(h, nt, "bdf");
}

TEST_TIMEOUT(headers_dark_2C_apart_is_used_by_planner_and_engine, 180)
{
    ac_harness_t h;
    struct night nt;

    temperature_night(&h, &nt, -12);
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    ASSERT_OK(ac_harness_start(&h, (const char *[]){"--drain", NULL}));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT_EQ(wait_exit(&h, 90000), 0);
    sqlite3 *db = open_db(&h);
    ASSERT_EQ(count_calibrated_rows(db), 3);
    ASSERT_EQ(files_in_state(db, "failed"), 0);
    sqlite3_close(db);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(headers_dark_7C_apart_leaves_the_session_waiting, 180)
{
    ac_harness_t h;
    struct night nt;
    char *out = NULL;
    json_t *r, *s0;
    const char *reason = NULL;

    temperature_night(&h, &nt, -17);
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    r = ac_harness_result(ac_harness_request(&h, "sessions", NULL, 5000));
    s0 = json_array_get(json_object_get(r, "sessions"), 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(s0, "state")), "waiting");
    reason = json_string_value(json_object_get(s0, "reason"));
    ASSERT_CONTAINS(reason, "waiting for dark 300 s");
    ASSERT_CONTAINS(reason, "light SET-TEMP -10.0 C vs master SET-TEMP -17.0 C: 7.0 C apart "
                            "(> 5.0)");
    json_decref(r);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "sessions", NULL), 0);
    ASSERT_CONTAINS(out, "7.0 C apart");
    free(out);
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "plan", NULL), 0);
    ASSERT_CONTAINS(out, "7.0 C apart (> 5.0)");
    /* The plan says where the light's facts came from. */
    ASSERT_CONTAINS(out, "set point -10.0 C (SET-TEMP)");
    ASSERT_CONTAINS(out, "(EXPTIME)");
    free(out);
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    sqlite3 *db = open_db(&h);
    ASSERT_EQ(count_calibrated_rows(db), 0);
    sqlite3_close(db);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}
