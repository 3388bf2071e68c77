/*
 * test-meta.c - frame metadata from headers: keyword aliases, frame types, saturation,
 * provenance, Bayer layout, filter comparison.
 */
#include "meta.h"
#include "test.h"

/* hdr_of builds a header from NULL-terminated raw card texts. */
static void hdr_of(ac_hdr_t *h, const char *const *cards)
{
    ac_hdr_init(h);
    for (; *cards != NULL; cards++)
        ASSERT_OK(ac_hdr_append_raw(h, *cards));
}

static void meta_of(ac_meta_t *m, const char *const *cards)
{
    ac_hdr_t h;

    hdr_of(&h, cards);
    ac_meta_from_header(m, &h);
    ac_hdr_free(&h);
}

TEST(meta_classify_every_variant)
{
    static const struct {
        const char *s;
        ac_frame_type_t t;
        bool master;
    } cases[] = {
        {"Light Frame", AC_FRAME_LIGHT, false},
        {"LIGHT", AC_FRAME_LIGHT, false},
        {"Object", AC_FRAME_LIGHT, false},
        {"science", AC_FRAME_LIGHT, false},
        {"Dark Frame", AC_FRAME_DARK, false},
        {"DARK", AC_FRAME_DARK, false},
        {"Flat Field", AC_FRAME_FLAT, false},
        {"FLAT", AC_FRAME_FLAT, false},
        {"Sky Flat", AC_FRAME_FLAT, false},
        {"Dome Flat", AC_FRAME_FLAT, false},
        {"Bias Frame", AC_FRAME_BIAS, false},
        {"BIAS", AC_FRAME_BIAS, false},
        {"ZERO", AC_FRAME_BIAS, false},
        {"Offset", AC_FRAME_BIAS, false},
        {"DARKFLAT", AC_FRAME_FLATDARK, false},
        {"Flat Dark", AC_FRAME_FLATDARK, false},
        {"FlatDark", AC_FRAME_FLATDARK, false},
        {"Dark Flat", AC_FRAME_FLATDARK, false},
        {"Master Bias", AC_FRAME_BIAS, true},
        {"Master Dark", AC_FRAME_DARK, true},
        {"Master Flat", AC_FRAME_FLAT, true},
        {"MASTER DARK", AC_FRAME_DARK, true},
        {"master  flat  field", AC_FRAME_FLAT, true},
        {"  light   frame ", AC_FRAME_LIGHT, false},
        {"Master Flat Dark", AC_FRAME_FLATDARK, true},
        {"MasterBias", AC_FRAME_BIAS, true},
        {"flat-dark", AC_FRAME_FLATDARK, false},
        {"Tricolour", AC_FRAME_UNKNOWN, false},
        {"", AC_FRAME_UNKNOWN, false},
        {"Master", AC_FRAME_UNKNOWN, false},
    };
    bool master;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ac_frame_type_t t = ac_meta_classify(cases[i].s, &master);
        if (t != cases[i].t || (t != AC_FRAME_UNKNOWN && master != cases[i].master))
            AC_TEST_FAIL("'%s': type %d master %d, expected %d %d", cases[i].s, t, master,
                         cases[i].t, cases[i].master);
    }
    ASSERT_EQ(ac_meta_classify(NULL, NULL), AC_FRAME_UNKNOWN);
    ASSERT_EQ(ac_meta_classify("Dark", NULL), AC_FRAME_DARK);
}

TEST(meta_type_names)
{
    ASSERT_STR_EQ(ac_meta_type_name(AC_FRAME_LIGHT), "light");
    ASSERT_STR_EQ(ac_meta_type_name(AC_FRAME_DARK), "dark");
    ASSERT_STR_EQ(ac_meta_type_name(AC_FRAME_FLAT), "flat");
    ASSERT_STR_EQ(ac_meta_type_name(AC_FRAME_BIAS), "bias");
    ASSERT_STR_EQ(ac_meta_type_name(AC_FRAME_FLATDARK), "flat-dark");
    ASSERT_STR_EQ(ac_meta_type_name(AC_FRAME_UNKNOWN), "unknown");
}

TEST(meta_primary_keywords)
{
    static const char *const c[] = {
        "SIMPLE  =                    T",
        "BITPIX  =                   16",
        "NAXIS   =                    2",
        "NAXIS1  =                 6248",
        "NAXIS2  =                 4176",
        "BZERO   =                32768",
        "BSCALE  =                    1",
        "IMAGETYP= 'Light Frame'",
        "EXPTIME =                300.0",
        "CCD-TEMP=                -10.2",
        "SET-TEMP=                -10.0",
        "XBINNING=                    1",
        "YBINNING=                    2",
        "GAIN    =                  100",
        "EGAIN   =                 0.25",
        "OFFSET  =                   50",
        "READOUTM= 'High Gain Mode'",
        "FILTER  = '  Ha  '",
        "INSTRUME= 'ZWO ASI2600MM Pro'",
        "TELESCOP= 'RedCat 51'",
        "OBJECT  = 'M 42'",
        "DATE-OBS= '2024-01-05T21:03:04.5'",
        "SITELONG=              -79.125",
        "SWCREATE= 'N.I.N.A. 3.0'",
        NULL,
    };
    ac_meta_t m;

    meta_of(&m, c);
    ASSERT_EQ(m.width, 6248);
    ASSERT_EQ(m.height, 4176);
    ASSERT_EQ(m.bitpix, 16);
    ASSERT_NEAR(m.bzero, 32768, 0);
    ASSERT_NEAR(m.bscale, 1, 0);
    ASSERT_NEAR(m.saturation, 65535, 0);
    ASSERT_EQ(m.type, AC_FRAME_LIGHT);
    ASSERT(!m.is_master);
    ASSERT_STR_EQ(m.imagetyp, "Light Frame");
    ASSERT_NEAR(m.exptime, 300, 0);
    ASSERT_NEAR(m.ccd_temp, -10.2, 1e-12);
    ASSERT_NEAR(m.set_temp, -10.0, 0);
    ASSERT_EQ(m.xbin, 1);
    ASSERT_EQ(m.ybin, 2);
    ASSERT_NEAR(m.gain, 100, 0); /* GAIN, not EGAIN */
    ASSERT_NEAR(m.offset, 50, 0);
    ASSERT_STR_EQ(m.readout, "High Gain Mode");
    ASSERT_STR_EQ(m.filter, "Ha");
    ASSERT_STR_EQ(m.instrume, "ZWO ASI2600MM Pro");
    ASSERT_STR_EQ(m.telescop, "RedCat 51");
    ASSERT_STR_EQ(m.object, "M 42");
    ASSERT_STR_EQ(m.date_obs, "2024-01-05T21:03:04.5");
    ASSERT_NEAR(m.sitelong, -79.125, 0);
    ASSERT_STR_EQ(m.creator, "N.I.N.A. 3.0");
    ASSERT_STR_EQ(m.bayerpat, "");
    ASSERT_NEAR(m.pedestal, 0, 0);
    ASSERT_EQ(m.bias_subtracted, AC_PROV_UNKNOWN);
    ASSERT_EQ(m.dark_subtracted, AC_PROV_UNKNOWN);
    ASSERT_EQ(m.flat_normalised, AC_PROV_UNKNOWN);
}

TEST(meta_aliases_and_quoted_numbers)
{
    static const char *const c[] = {
        "BITPIX  =                  -32",
        "NAXIS1  =                   16",
        "NAXIS2  =                   12",
        "FRAME   = 'Master Dark'",
        "EXPOSURE= '120.5   '",
        "CCD_TEMP= '-15.0'",
        "SET_TEMP=                  -15",
        "BINX    =                    2",
        "BINY    = '2'",
        "BLKLEVEL=                   30",
        "READMODE= 'Fast'",
        "COLORTYP= 'rggb'",
        "NCOMBINE=                   25",
        "PROGRAM = 'Siril 1.2.0'",
        "SITELONG= '-110 15 36'",
        NULL,
    };
    ac_meta_t m;

    meta_of(&m, c);
    ASSERT_EQ(m.type, AC_FRAME_DARK);
    ASSERT(m.is_master);
    ASSERT_NEAR(m.exptime, 120.5, 0);
    ASSERT_NEAR(m.ccd_temp, -15.0, 0);
    ASSERT_NEAR(m.set_temp, -15.0, 0);
    ASSERT_EQ(m.xbin, 2);
    ASSERT_EQ(m.ybin, 2);
    ASSERT_NEAR(m.offset, 30, 0);
    ASSERT_STR_EQ(m.readout, "Fast");
    ASSERT_STR_EQ(m.bayerpat, "RGGB");
    ASSERT_EQ(m.ncombine, 25);
    ASSERT_STR_EQ(m.creator, "Siril 1.2.0");
    ASSERT(isnan(m.saturation)); /* float data, no SATURATE */
    ASSERT(isnan(m.gain));
    /* -110 - 15/60 - 36/3600 */
    ASSERT_NEAR(m.sitelong, -110.26, 1e-12);
}

TEST(meta_other_temperature_aliases)
{
    static const char *const a[] = {"CCDTEMP =                 -5.5", NULL};
    static const char *const b[] = {"TEMPERAT=                 12.0", NULL};
    static const char *const f[] = {"FRAMETYP= 'DARKFLAT'", "NCOMBINE= 9", NULL};
    ac_meta_t m;

    meta_of(&m, a);
    ASSERT_NEAR(m.ccd_temp, -5.5, 0);
    meta_of(&m, b);
    ASSERT_NEAR(m.ccd_temp, 12.0, 0);
    meta_of(&m, f);
    ASSERT_EQ(m.type, AC_FRAME_FLATDARK);
    ASSERT(m.is_master); /* NCOMBINE > 1 on a calibration frame */
}

TEST(meta_missing_values)
{
    static const char *const c[] = {"SIMPLE  =                    T", NULL};
    ac_meta_t m;

    meta_of(&m, c);
    ASSERT(isnan(m.exptime));
    ASSERT(isnan(m.ccd_temp));
    ASSERT(isnan(m.set_temp));
    ASSERT(isnan(m.gain));
    ASSERT(isnan(m.offset));
    ASSERT(isnan(m.sitelong));
    ASSERT_EQ(m.xbin, 0);
    ASSERT_EQ(m.ybin, 0);
    ASSERT_EQ(m.ncombine, 0);
    ASSERT_EQ(m.type, AC_FRAME_UNKNOWN);
    ASSERT_STR_EQ(m.filter, "");
    ASSERT_STR_EQ(m.imagetyp, "");
    ASSERT_STR_EQ(m.creator, "");
    ASSERT_NEAR(m.bzero, 0, 0);
    ASSERT_NEAR(m.bscale, 1, 0);
    ASSERT(!m.is_master);
}

TEST(meta_light_with_ncombine_is_not_master)
{
    static const char *const c[] = {"IMAGETYP= 'LIGHT'", "NCOMBINE= 40", NULL};
    ac_meta_t m;

    meta_of(&m, c);
    ASSERT_EQ(m.type, AC_FRAME_LIGHT);
    ASSERT(!m.is_master);
}

/* sat returns the saturation for a header with BITPIX and optional extra cards. */
static double sat(const char *bitpix, const char *extra1, const char *extra2)
{
    const char *c[4] = {bitpix, extra1, extra2, NULL};
    ac_meta_t m;

    if (extra1 == NULL)
        c[1] = NULL;
    meta_of(&m, c);
    return m.saturation;
}

TEST(meta_saturation_from_bitpix_and_scaling)
{
    ASSERT_NEAR(sat("BITPIX  = 16", "BZERO   = 32768", NULL), 65535, 0);
    ASSERT_NEAR(sat("BITPIX  = 16", NULL, NULL), 32767, 0);
    ASSERT_NEAR(sat("BITPIX  = 8", NULL, NULL), 255, 0);
    ASSERT_NEAR(sat("BITPIX  = 8", "BZERO   = -128", NULL), 127, 0);
    ASSERT_NEAR(sat("BITPIX  = 32", "BZERO   = 2147483648", NULL), 4294967295.0, 0);
    ASSERT_NEAR(sat("BITPIX  = 32", NULL, NULL), 2147483647.0, 0);
    ASSERT_NEAR(sat("BITPIX  = 16", "BSCALE  = 2", "BZERO   = 10"), 2 * 32767.0 + 10, 0);
    /* A negative BSCALE maps the stored minimum to the largest value. */
    ASSERT_NEAR(sat("BITPIX  = 16", "BSCALE  = -1", NULL), 32768, 0);
    ASSERT_NEAR(sat("BITPIX  = 16", "BZERO   = 32768", "SATURATE= 60000"), 60000, 0);
    ASSERT_NEAR(sat("BITPIX  = -32", "SATURATE= '1.5'", NULL), 1.5, 0);
    ASSERT(isnan(sat("BITPIX  = -32", NULL, NULL)));
    ASSERT(isnan(sat("BITPIX  = -64", "BZERO   = 32768", NULL)));
}

TEST(meta_compressed_table_header_uses_z_keywords)
{
    static const char *const c[] = {
        "XTENSION= 'BINTABLE'",
        "BITPIX  =                    8",
        "NAXIS   =  2",
        "NAXIS1  =                    8",
        "NAXIS2  =                   12",
        "ZIMAGE  =                    T",
        "ZBITPIX =                   16",
        "ZNAXIS1 =                   16",
        "ZNAXIS2 =                   12",
        "BZERO   =                32768",
        NULL,
    };
    ac_meta_t m;

    meta_of(&m, c);
    ASSERT_EQ(m.bitpix, 16);
    ASSERT_EQ(m.width, 16);
    ASSERT_EQ(m.height, 12);
    ASSERT_NEAR(m.saturation, 65535, 0);
}

/* prov runs the header and returns the three provenance fields packed as digits of
 * (value + 1): unknown 0, no 1, yes 2; e.g. 210 = bias yes, dark no, flat unknown. */
static int prov(const char *const *cards)
{
    ac_meta_t m;

    meta_of(&m, cards);
    return (m.bias_subtracted + 1) * 100 + (m.dark_subtracted + 1) * 10 +
           (m.flat_normalised + 1);
}

TEST(meta_provenance_keywords)
{
    static const char *const biassub[] = {"BIASSUB =                    T",
                                          "DARKSUB =                    F",
                                          "FLATSUB =                    T", NULL};
    static const char *const biasdash[] = {"BIAS-SUB= 'YES'", NULL};
    static const char *const darkbias_t[] = {"IMAGETYP= 'Master Dark'",
                                             "DARKBIAS=                    T", NULL};
    static const char *const darkbias_f[] = {"IMAGETYP= 'Master Dark'",
                                             "DARKBIAS=                    F", NULL};
    static const char *const calibrat[] = {"IMAGETYP= 'Master Flat'",
                                           "CALIBRAT=                    T", NULL};
    static const char *const calibrat_f[] = {"CALIBRAT=                    F", NULL};
    static const char *const explicit_wins[] = {"CALIBRAT=                    T",
                                                "BIASSUB =                    F", NULL};
    static const char *const ccdproc_keys[] = {"SUBBIAS = 'ccd=<CCDData>, master=<CCDData>'",
                                               "SUBDARK = 'ccd=<CCDData>, master=<CCDData>'",
                                               "FLATCOR = 'ccd=<CCDData>, master=<CCDData>'",
                                               NULL};
    static const char *const flatnorm[] = {"FLATNORM=                    T", NULL};

    ASSERT_EQ(prov(biassub), 212);
    ASSERT_EQ(prov(biasdash), 200);
    ASSERT_EQ(prov(darkbias_t), 100);
    ASSERT_EQ(prov(darkbias_f), 200);
    ASSERT_EQ(prov(calibrat), 200);
    ASSERT_EQ(prov(calibrat_f), 100);
    ASSERT_EQ(prov(explicit_wins), 100);
    ASSERT_EQ(prov(ccdproc_keys), 222);
    ASSERT_EQ(prov(flatnorm), 2);
}

TEST(meta_provenance_history_lines)
{
    static const char *const siril[] = {
        "HISTORY Calibrated with a master bias", "HISTORY Calibrated with a master dark",
        "HISTORY Calibrated with a master flat, normalization of 0.412", NULL};
    static const char *const siril_synth[] = {
        "HISTORY Calibrated with a synthetic bias of 1024", NULL};
    static const char *const siril_opt[] = {
        "HISTORY Calibrated with an optimized master dark (factor: 0.981)", NULL};
    static const char *const ccdproc[] = {"HISTORY subtract_bias(ccd, master)",
                                          "HISTORY SUBTRACT_DARK applied", NULL};
    static const char *const pix_on[] = {
        "HISTORY ImageCalibration.masterBias.enabled: true",
        "HISTORY ImageCalibration.masterBias.fileName: /data/masterBias.xisf",
        "HISTORY ImageCalibration.masterDark.enabled: false",
        "HISTORY ImageCalibration.masterFlat.fileName: /data/flat_Ha.xisf", NULL};
    static const char *const pix_off[] = {"HISTORY ImageCalibration.masterBias.enabled: false",
                                          "HISTORY ImageCalibration.masterDark.enabled: false",
                                          NULL};
    static const char *const pix_text[] = {"HISTORY Calibration with master bias", NULL};
    static const char *const generic[] = {"HISTORY Bias subtracted: masterbias.fits",
                                          "HISTORY dark-subtracted", NULL};
    static const char *const ours[] = {"HISTORY Bias subtracted: Master-Bias-x.fits",
                                       "HISTORY Dark subtracted: Master-Dark-x.fits",
                                       "HISTORY Flat divided: Master-Flat-x.fits", NULL};
    /* Text outside HISTORY cards is not provenance. */
    static const char *const comment_only[] = {"COMMENT bias subtracted",
                                               "OBJECT  = 'subtract_bias'", NULL};
    /* An explicit keyword overrides HISTORY text. */
    static const char *const keyword_wins[] = {"HISTORY Calibrated with a master bias",
                                               "BIASSUB =                    F", NULL};

    ASSERT_EQ(prov(siril), 222);
    ASSERT_EQ(prov(siril_synth), 200);
    ASSERT_EQ(prov(siril_opt), 20);
    ASSERT_EQ(prov(ccdproc), 220);
    ASSERT_EQ(prov(pix_on), 202);
    ASSERT_EQ(prov(pix_off), 0);
    ASSERT_EQ(prov(pix_text), 200);
    ASSERT_EQ(prov(generic), 220);
    ASSERT_EQ(prov(ours), 222);
    ASSERT_EQ(prov(comment_only), 0);
    ASSERT_EQ(prov(keyword_wins), 100);
}

TEST(meta_pedestal_and_creator_aliases)
{
    static const char *const c[] = {"PEDESTAL=                  100",
                                    "CALSOFT = 'astrocald 0.1'", NULL};
    static const char *const d[] = {"CREATOR = 'PixInsight 1.8.9'", "PROGRAM = 'other'", NULL};
    ac_meta_t m;

    meta_of(&m, c);
    ASSERT_NEAR(m.pedestal, 100, 0);
    ASSERT_STR_EQ(m.creator, "astrocald 0.1");
    meta_of(&m, d);
    ASSERT_STR_EQ(m.creator, "PixInsight 1.8.9");
}

TEST(meta_cfa_colors_with_offsets)
{
    static const char *const rggb[] = {"BAYERPAT= 'RGGB'", NULL};
    static const char *const xoff[] = {"BAYERPAT= 'RGGB'", "XBAYROFF= 1", NULL};
    static const char *const yoff[] = {"BAYERPAT= 'RGGB'", "YBAYROFF= 1", NULL};
    static const char *const bggr[] = {"BAYERPAT= 'BGGR'", "XBAYROFF= 1", "YBAYROFF= 1", NULL};
    static const char *const odd[] = {"BAYERPAT= 'CYMK'", NULL};
    ac_meta_t m;

    meta_of(&m, rggb);
    ASSERT_EQ(m.xbayroff, 0);
    ASSERT_EQ(m.ybayroff, 0);
    ASSERT(!m.has_roworder);
    ASSERT(m.roworder_bottom_up);
    ASSERT_EQ(ac_meta_cfa_color(&m, 0, 0), 0);
    ASSERT_EQ(ac_meta_cfa_color(&m, 1, 0), 1);
    ASSERT_EQ(ac_meta_cfa_color(&m, 0, 1), 1);
    ASSERT_EQ(ac_meta_cfa_color(&m, 1, 1), 2);
    ASSERT_EQ(ac_meta_cfa_color(&m, 101, 77), 2);
    meta_of(&m, xoff);
    ASSERT_EQ(ac_meta_cfa_color(&m, 0, 0), 1);
    ASSERT_EQ(ac_meta_cfa_color(&m, 1, 0), 0);
    ASSERT_EQ(ac_meta_cfa_color(&m, 0, 1), 2);
    meta_of(&m, yoff);
    ASSERT_EQ(ac_meta_cfa_color(&m, 0, 0), 1);
    ASSERT_EQ(ac_meta_cfa_color(&m, 1, 0), 2);
    ASSERT_EQ(ac_meta_cfa_color(&m, 0, 1), 0);
    meta_of(&m, bggr);
    ASSERT_EQ(ac_meta_cfa_color(&m, 0, 0), 0); /* BGGR shifted by (1,1) is RGGB */
    ASSERT_EQ(ac_meta_cfa_color(&m, 1, 1), 2);
    meta_of(&m, odd);
    ASSERT_EQ(ac_meta_cfa_color(&m, 0, 0), -1);
    m.bayerpat[0] = '\0';
    ASSERT_EQ(ac_meta_cfa_color(&m, 0, 0), -1);
}

TEST(meta_cfa_equal_layouts)
{
    static const char *const rggb[] = {"BAYERPAT= 'RGGB'", NULL};
    static const char *const rggb_bu[] = {"BAYERPAT= 'RGGB'", "ROWORDER= 'BOTTOM-UP'", NULL};
    static const char *const rggb_td[] = {"BAYERPAT= 'RGGB'", "ROWORDER= 'TOP-DOWN'", NULL};
    static const char *const grbg_x1[] = {"BAYERPAT= 'GRBG'", "XBAYROFF= 1", NULL};
    static const char *const gbrg[] = {"BAYERPAT= 'GBRG'", NULL};
    static const char *const mono[] = {"INSTRUME= 'mono cam'", NULL};
    static const char *const mono2[] = {"COLORTYP= 'MONO'", NULL};
    ac_meta_t a, b;

    meta_of(&a, rggb);
    meta_of(&b, rggb_bu);
    ASSERT(b.has_roworder && b.roworder_bottom_up);
    ASSERT(ac_meta_cfa_equal(&a, &b));
    meta_of(&b, rggb_td);
    ASSERT(b.has_roworder && !b.roworder_bottom_up);
    ASSERT(!ac_meta_cfa_equal(&a, &b));
    meta_of(&b, grbg_x1);
    ASSERT(ac_meta_cfa_equal(&a, &b));
    meta_of(&b, gbrg);
    ASSERT(!ac_meta_cfa_equal(&a, &b));
    meta_of(&b, mono);
    ASSERT(!ac_meta_cfa_equal(&a, &b));
    meta_of(&a, mono2);
    ASSERT_STR_EQ(a.bayerpat, "");
    ASSERT(ac_meta_cfa_equal(&a, &b));
}

TEST(meta_filter_equal_trims_and_folds)
{
    ASSERT(ac_meta_filter_equal(" Ha ", "ha"));
    ASSERT(ac_meta_filter_equal("OIII", "oiii  "));
    ASSERT(ac_meta_filter_equal("", "  "));
    ASSERT(ac_meta_filter_equal(NULL, ""));
    ASSERT(!ac_meta_filter_equal("L", "Lum"));
    ASSERT(!ac_meta_filter_equal("Ha", "H a"));
    ASSERT(!ac_meta_filter_equal("R", ""));
}
