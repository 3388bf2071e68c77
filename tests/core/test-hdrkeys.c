/*
 * test-hdrkeys.c - the one keyword table (issue 9) on the real capture-software headers of
 * tests/data/headers (their sources are in the README there): every fact read from each
 * header against the value written in it, which keyword gave it, the legacy date forms,
 * BINNING = '2*2', and the frame type from a path. Known answers come from the header
 * texts, read here by eye, never from astrocald.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "meta.h"
#include "test.h"

/* load parses tests/data/headers/<name>.hdr (one card per line) into h. */
static void load(ac_hdr_t *h, const char *name)
{
    char path[1024], line[256];
    FILE *f;

    snprintf(path, sizeof path, "%s/tests/data/headers/%s.hdr", ac_test_srcdir(), name);
    ASSERT_NOT_NULL(f = fopen(path, "r"));
    ac_hdr_init(h);
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] != '\0')
            ASSERT_OK(ac_hdr_append_raw(h, line));
    }
    fclose(f);
}

static void meta_of(ac_meta_t *m, const char *name, const char *drop)
{
    ac_hdr_t h;

    load(&h, name);
    if (drop != NULL) { /* blank out a card: its keyword is then absent */
        int i = ac_hdr_find(&h, drop);
        ASSERT(i >= 0);
        memset(h.cards[i], ' ', AC_CARD_LEN);
    }
    ac_meta_from_header(m, &h);
    ac_hdr_free(&h);
}

TEST(hdrkeys_nina_sgp_apt)
{
    ac_meta_t m;

    meta_of(&m, "nina-1.10", NULL);
    ASSERT_EQ(m.type, AC_FRAME_LIGHT);
    ASSERT_STR_EQ(m.type_key, "IMAGETYP");
    ASSERT_NEAR(m.exptime, 30.0, 0);
    ASSERT_STR_EQ(m.exp_key, "EXPTIME");
    ASSERT_NEAR(m.ccd_temp, -10.0, 0);
    ASSERT_NEAR(m.set_temp, -10.0, 0);
    ASSERT_NEAR(m.gain, 120, 0);
    ASSERT_NEAR(m.egain, 1.00224268436432, 1e-12);
    ASSERT_NEAR(m.offset, 30, 0);
    ASSERT_STR_EQ(m.bayerpat, "RGGB");
    ASSERT(m.has_roworder && !m.roworder_bottom_up);
    ASSERT_STR_EQ(m.date_obs, "2021-03-02T20:19:00.455");
    ASSERT_STR_EQ(m.creator, "N.I.N.A. 1.10.2.90");

    meta_of(&m, "sgp-3.1", NULL);
    ASSERT_NEAR(m.exptime, 30, 0);
    ASSERT_STR_EQ(m.exp_key, "EXPOSURE"); /* SGP writes no EXPTIME */
    ASSERT_NEAR(m.ccd_temp, -17.5, 0);
    ASSERT_NEAR(m.set_temp, -18, 0);
    ASSERT_STR_EQ(m.filter, "HaOIII"); /* 'HaOIII  ' trimmed */
    ASSERT_NEAR(m.egain, 3.99000000953674, 1e-12);
    ASSERT_NEAR(m.gain, 120, 0); /* GAIN, never EGAIN */
    ASSERT_NEAR(m.sitelong, 3 + 43 / 60.0, 1e-9);
    ASSERT_STR_EQ(m.date_obs, "2020-05-30T00:22:49.0968820"); /* 7 fraction digits */

    meta_of(&m, "apt-3.54", NULL);
    ASSERT_EQ(m.type, AC_FRAME_LIGHT); /* 'Light Frame' */
    ASSERT_NEAR(m.exptime, 240, 0);
    ASSERT(isnan(m.ccd_temp));
    ASSERT_NEAR(m.set_temp, -15, 0);
    ASSERT_STR_EQ(m.set_key, "SET-TEMP");
    ASSERT(isnan(m.offset));
}

TEST(hdrkeys_maximdl_legacy_date_and_calibrated)
{
    ac_meta_t m;

    meta_of(&m, "maximdl-5.24", NULL);
    ASSERT_EQ(m.type, AC_FRAME_LIGHT);
    ASSERT_STR_EQ(m.date_obs, "2018-07-04T14:03:03");
    ASSERT_STR_EQ(m.date_key, "DATE-OBS");
    ASSERT_NEAR(m.bzero, 32768, 0);
    ASSERT_NEAR(m.pedestal, -100, 0);
    ASSERT_STR_EQ(m.readout, "Monochrome");
    ASSERT_NEAR(m.sitelong, 149.064444444, 1e-6); /* LONG-OBS: SITELONG is sexagesimal */
    /* CALSTAT = 'BDF': MaxIm DL already removed bias, dark and flat. */
    ASSERT_EQ(m.bias_subtracted, AC_PROV_YES);
    ASSERT_EQ(m.dark_subtracted, AC_PROV_YES);
    ASSERT_EQ(m.flat_normalised, AC_PROV_YES);
    /* Without DATE-OBS, the legacy DATE = '04/07/18' (2018) with TIME-OBS. */
    meta_of(&m, "maximdl-5.24", "DATE-OBS");
    ASSERT_STR_EQ(m.date_obs, "2018-07-04T14:03:03");
    ASSERT_STR_EQ(m.date_key, "DATE+TIME-OBS");
}

TEST(hdrkeys_dwarf_sharpcap_sbig_observatory)
{
    ac_meta_t m;

    meta_of(&m, "dwarf2", NULL);
    ASSERT_EQ(m.type, AC_FRAME_UNKNOWN);
    ASSERT_STR_EQ(m.type_key, "");
    ASSERT_NEAR(m.exptime, 15, 0); /* EXP = 15. */
    ASSERT_STR_EQ(m.exp_key, "EXP");
    ASSERT_EQ(m.xbin, 2); /* BINNING = '2*2     ' */
    ASSERT_EQ(m.ybin, 2);
    ASSERT_STR_EQ(m.bin_key, "BINNING");
    ASSERT_STR_EQ(m.bayerpat, "GBRG");
    ASSERT_STR_EQ(m.object, "");
    ASSERT_STR_EQ(m.date_obs, "2023-06-10T21:38:19.442"); /* never DATE, the write time */

    meta_of(&m, "sharpcap-2019", NULL);
    ASSERT_EQ(m.type, AC_FRAME_UNKNOWN);
    ASSERT_NEAR(m.bzero, 32768, 0); /* BZERO = 32768.0 */
    ASSERT_NEAR(m.bscale, 1, 0);
    ASSERT_NEAR(m.saturation, 65535, 0);
    ASSERT_NEAR(m.ccd_temp, 12.7, 1e-12);

    meta_of(&m, "sbig-snap", NULL);
    ASSERT_STR_EQ(m.filter, "Astrodon Tru-balance E-series NIR blocked L");
    ASSERT_NEAR(m.egain, 2.78, 0);

    meta_of(&m, "observatory-1993", NULL);
    ASSERT_STR_EQ(m.date_obs, "1993-03-28T07:18:51"); /* '28/03/93' + UT */
    ASSERT_STR_EQ(m.date_key, "DATE-OBS+UT");
    ASSERT_NEAR(m.ccd_temp, -51, 0); /* CAMTEMP = '-51' */
    ASSERT_STR_EQ(m.temp_key, "CAMTEMP");
}

TEST(hdrkeys_theskyx_indi_seestar)
{
    ac_meta_t m;

    meta_of(&m, "theskyx-10.5", NULL);
    ASSERT_EQ(m.type, AC_FRAME_DARK);
    ASSERT_EQ(m.xbin, 2);
    ASSERT_STR_EQ(m.bin_key, "XBINNING");
    ASSERT_NEAR(m.ccd_temp, -20.02, 1e-12);

    meta_of(&m, "indi-ekos", NULL);
    ASSERT_EQ(m.type, AC_FRAME_LIGHT); /* FRAME = 'Light' */
    ASSERT_STR_EQ(m.type_key, "FRAME");
    ASSERT_NEAR(m.exptime, 900, 0);
    ASSERT_NEAR(m.egain, 0.251, 0); /* EPERADU */
    ASSERT_STR_EQ(m.date_obs, "2018-10-13T21:12:41.560Z");

    meta_of(&m, "seestar-s50", NULL);
    ASSERT_EQ(m.naxis, 3);
    ASSERT_EQ(m.naxis3, 3);
    ASSERT_EQ(m.type, AC_FRAME_LIGHT); /* 'Light   ' */
    ASSERT_STR_EQ(m.bayerpat, "GRBG");
}

TEST(hdrkeys_table_and_value_forms)
{
    char buf[96];
    int x, y;

    ASSERT_STR_EQ(ac_meta_keys_text(AC_FACT_EXPTIME, buf, sizeof buf),
                  "EXPTIME, EXPOSURE or EXP");
    ASSERT_STR_EQ(ac_meta_keys(AC_FACT_CCD_TEMP)[4], "CAMTEMP");
    ASSERT_NULL(ac_meta_keys(AC_FACT_N));
    ASSERT(ac_meta_parse_binning("2*2", &x, &y) && x == 2 && y == 2);
    ASSERT(ac_meta_parse_binning(" 3 x 1 ", &x, &y) && x == 3 && y == 1);
    ASSERT(ac_meta_parse_binning("4", &x, &y) && x == 4 && y == 4);
    ASSERT(!ac_meta_parse_binning("2*", &x, &y));
    ASSERT(!ac_meta_parse_binning("0x0", &x, &y));
    ASSERT_OK(ac_meta_legacy_date("04/07/18", "14:03:03", buf, sizeof buf));
    ASSERT_STR_EQ(buf, "2018-07-04T14:03:03");
    ASSERT_OK(ac_meta_legacy_date("31/12/99", "23:59:59.5", buf, sizeof buf));
    ASSERT_STR_EQ(buf, "1999-12-31T23:59:59.5");
    ASSERT_OK(ac_meta_legacy_date("01/01/70", NULL, buf, sizeof buf));
    ASSERT_STR_EQ(buf, "1970-01-01T00:00:00");
    ASSERT_EQ(ac_meta_legacy_date("30/02/20", "00:00:00", buf, sizeof buf), -EINVAL);
    ASSERT_EQ(ac_meta_legacy_date("2018-07-04", "00:00:00", buf, sizeof buf), -EINVAL);
    ASSERT_EQ(ac_meta_legacy_date("04/07/18", "25:00:00", buf, sizeof buf), -EINVAL);
}

TEST(hdrkeys_dates_quoted_or_not_and_type_spellings)
{
    static const char *const unquoted[] = {"DATE-OBS= 2024-03-14T22:39:40.1234567", NULL};
    static const char *const dateonly[] = {"DATE-OBS= '2003-01-05'", "TIME-OBS= '21:00:05.5'",
                                           NULL};
    static const struct {
        const char *s;
        ac_frame_type_t t;
        bool master;
    } types[] = {
        {"Light", AC_FRAME_LIGHT, false},       {"Flat Field", AC_FRAME_FLAT, false},
        {"DARKFLAT", AC_FRAME_FLATDARK, false}, {"Flat Dark", AC_FRAME_FLATDARK, false},
        {"Bias Frame", AC_FRAME_BIAS, false},   {"Offset", AC_FRAME_BIAS, false},
        {"MASTER DARK", AC_FRAME_DARK, true},   {"Master Flat Dark", AC_FRAME_FLATDARK, true},
    };
    ac_hdr_t h;
    ac_meta_t m;

    ac_hdr_init(&h);
    ASSERT_OK(ac_hdr_append_raw(&h, unquoted[0]));
    ac_meta_from_header(&m, &h);
    ac_hdr_free(&h);
    ASSERT_STR_EQ(m.date_obs, "2024-03-14T22:39:40.1234567");
    ac_hdr_init(&h);
    for (int i = 0; dateonly[i] != NULL; i++)
        ASSERT_OK(ac_hdr_append_raw(&h, dateonly[i]));
    ac_meta_from_header(&m, &h);
    ac_hdr_free(&h);
    ASSERT_STR_EQ(m.date_obs, "2003-01-05T21:00:05.5");
    ASSERT_STR_EQ(m.date_key, "DATE-OBS+TIME-OBS");
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        bool master;
        ASSERT_EQ(ac_meta_classify(types[i].s, &master), types[i].t);
        ASSERT_EQ(master, types[i].master);
    }
}

TEST(hdrkeys_type_from_path)
{
    static const struct {
        const char *path, *root;
        ac_frame_type_t t;
        const char *why;
    } cases[] = {
        {"/d/Autorun/Light/M42/"
         "Light_M42_30.0s_Bin1_533MC_gain100_20240321-013000_-10.0C_0001.fit",
         "/d", AC_FRAME_LIGHT, "file name"},
        {"/d/Autorun/Dark/Dark_60s_Bin1_20240320-235959_0018.fit", "/d", AC_FRAME_DARK, "file"},
        {"/d/Autorun/Flat/Flat_1.0ms_Bin1_S_gain100_20240320-233122_-10.5C_0001.fit", "/d",
         AC_FRAME_FLAT, "file"},
        {"/d/MyWorks/M42_sub/Light_M42_10.0s_IRCUT_20240101-203000.fit", NULL, AC_FRAME_LIGHT,
         "file"},
        {"/d/night/DARKS/0001.fits", NULL, AC_FRAME_DARK, "folder 'DARKS'"},
        {"/d/night/biases/0001.fits", NULL, AC_FRAME_BIAS, "folder"},
        {"/d/night/Offset/0001.fits", NULL, AC_FRAME_BIAS, "folder"},
        {"/d/night/FlatDark/0001.fits", NULL, AC_FRAME_FLATDARK, "folder"},
        {"/d/night/DarkFlats/0001.fits", NULL, AC_FRAME_FLATDARK, "folder"},
        {"/d/night/dark_flat/0001.fits", NULL, AC_FRAME_FLATDARK, "folder"},
        {"/d/night/Flat Darks/0001.fits", NULL, AC_FRAME_FLATDARK, "folder"},
        {"/d/night/flats/2024/a/0001.fits", NULL, AC_FRAME_FLAT, "folder 'flats'"},
        /* Four levels up is too far; the root stops the search too. */
        {"/d/night/flats/2024/a/b/0001.fits", NULL, AC_FRAME_UNKNOWN, "nearest folders"},
        {"/Lights/x/0001.fits", "/Lights", AC_FRAME_UNKNOWN, "nearest folders"},
        /* Words, not substrings: "Darkside", "Flatiron", "Lighthouse" name nothing. */
        {"/d/Darkside/Flatiron/Lighthouse_0001.fits", NULL, AC_FRAME_UNKNOWN, "nearest"},
        {"/d/Light_DarkNebula/0001.fits", NULL, AC_FRAME_UNKNOWN, "more than one frame type"},
        {"/d/Lights/capture_0001.fits", NULL, AC_FRAME_LIGHT, "folder 'Lights'"},
        {"/d/DWARF3_RAW_M42_EXP_30_GAIN_80_2026-08-01/0001.fits", NULL, AC_FRAME_LIGHT,
         "folder 'DWARF3_RAW_M42"},
        {"/d/DWARF_DARK/dark_0001.fits", NULL, AC_FRAME_DARK, "file name"},
    };
    char why[512];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ac_frame_type_t t =
            ac_meta_type_from_path(cases[i].path, cases[i].root, 3, why, sizeof why);
        if (t != cases[i].t)
            AC_TEST_FAIL("%s: %s, expected %s (%s)", cases[i].path, ac_meta_type_name(t),
                         ac_meta_type_name(cases[i].t), why);
        ASSERT_CONTAINS(why, cases[i].why);
    }
}

TEST(hdrkeys_dwarf_object_from_folder)
{
    char o[64];

    ASSERT(ac_meta_object_from_path("/s/DWARF_RAW_TELE_M42_EXP_15_GAIN_80_2024-01-01/1.fits", o,
                                    sizeof o));
    ASSERT_STR_EQ(o, "M42");
    ASSERT(ac_meta_object_from_path("/s/DWARF3_RAW_NGC 7000_EXP_30_GAIN_80_x/a.fits", o,
                                    sizeof o));
    ASSERT_STR_EQ(o, "NGC 7000");
    ASSERT(!ac_meta_object_from_path("/s/DWARF_DARK/a.fits", o, sizeof o));
    ASSERT(!ac_meta_object_from_path("/s/Lights/a.fits", o, sizeof o));
    ASSERT(!ac_meta_object_from_path("/DWARF_RAW_M42_EXP_1/x/a.fits", o, sizeof o));
}

TEST(hdrkeys_temperature_rule)
{
    ac_temp_cmp_t tc;

    /* The night: dark at -12 C, lights at -10 C, tolerance 5 (set points only). */
    ac_temp_compare(NAN, -10, NAN, -12, 5, "light", "dark", &tc);
    ASSERT_EQ(tc.verdict, AC_TEMP_OK);
    ASSERT_NEAR(tc.diff, 2, 1e-12);
    ASSERT_STR_EQ(tc.basis, "SET-TEMP");
    ac_temp_compare(NAN, -10, NAN, -17, 5, "light", "dark", &tc);
    ASSERT_EQ(tc.verdict, AC_TEMP_DIFFERS);
    ASSERT_STR_EQ(tc.text,
                  "light SET-TEMP -10.0 C vs dark SET-TEMP -17.0 C: 7.0 C apart (> 5.0)");
    /* Sensor temperatures first; exactly the tolerance is within. */
    ac_temp_compare(-15, -10, -10, -10, 5, "light", "dark", &tc);
    ASSERT_EQ(tc.verdict, AC_TEMP_OK);
    ASSERT_STR_EQ(tc.basis, "CCD-TEMP");
    ac_temp_compare(-15.5, -10, -10, -10, 5, "light", "dark", &tc);
    ASSERT_EQ(tc.verdict, AC_TEMP_DIFFERS);
    /* Mixed: a sensor temperature on one side, a set point on the other. */
    ac_temp_compare(-9.6, NAN, NAN, -10, 5, "light", "dark", &tc);
    ASSERT_EQ(tc.verdict, AC_TEMP_OK);
    ASSERT_STR_EQ(tc.basis, "CCD-TEMP/SET-TEMP");
    /* Nothing on either side: accepted; on one side only: refused. */
    ac_temp_compare(NAN, NAN, NAN, NAN, 5, "light", "dark", &tc);
    ASSERT_EQ(tc.verdict, AC_TEMP_NONE);
    ASSERT(!ac_temp_refused(tc.verdict));
    ac_temp_compare(NAN, NAN, -10, NAN, 5, "light", "dark", &tc);
    ASSERT_EQ(tc.verdict, AC_TEMP_UNKNOWN);
    ASSERT(ac_temp_refused(tc.verdict));
    ASSERT_CONTAINS(tc.text, "the dark has CCD-TEMP -10.0 C but the light has no temperature");
}
