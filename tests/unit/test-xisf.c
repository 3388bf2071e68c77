/*
 * test-xisf.c - reading XISF images through imgio (daemon/io/xisf.c): every sample format
 * and compression (none, zlib, lz4, lz4hc, zstd; with and without byte shuffling; both
 * byte orders) read back exactly from known pixels; FITSKeyword and property cards as the
 * rest of astrocald reads them (N.I.N.A.'s keywords, PixInsight's properties); corrupt,
 * truncated and unsupported files refused with the reason. The files come from the
 * test-only writer tests/support/xisfgen.c, written from the XISF 1.0 specification.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "imgio.h"
#include "test.h"
#include "xisfgen.h"

#define W 37
#define H 23
#define N (W * H)

static char *tmp(const char *name)
{
    static char buf[4][4096];
    static int k;
    char *p = buf[k++ % 4];

    snprintf(p, 4096, "%s/%s", ac_test_tmpdir(), name);
    return p;
}

/* Known samples of each format: extremes and a pseudo-random spread; as float, exact. */
static uint16_t u16[N];
static uint8_t u8[N];
static uint32_t u32[N];
static float f32[N];
static double f64[N];

static void fill(void)
{
    uint32_t s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        u16[i] = (uint16_t)(s >> 16);
        u8[i] = (uint8_t)(s >> 24);
        u32[i] = (s >> 8) & 0xffffffu; /* < 2^24: exact as float */
        f32[i] = (float)((int32_t)s) / 3.0e6f;
        f64[i] = (double)((int32_t)s) / 4.0e6;
    }
    u16[0] = 0, u16[1] = 65535, f32[2] = -0.0f, f32[3] = 1.0e-30f;
}

static float expect(const char *sample, int i)
{
    if (strcmp(sample, "UInt16") == 0)
        return (float)u16[i];
    if (strcmp(sample, "UInt8") == 0)
        return (float)u8[i];
    if (strcmp(sample, "UInt32") == 0)
        return (float)u32[i];
    if (strcmp(sample, "Float32") == 0)
        return f32[i];
    return (float)f64[i];
}

static ac_xisfgen_t gen(const char *sample)
{
    ac_xisfgen_t g = {.w = W, .h = H, .sample = sample};

    fill();
    if (strcmp(sample, "UInt16") == 0)
        g.px = u16, g.sbytes = 2;
    else if (strcmp(sample, "UInt8") == 0)
        g.px = u8, g.sbytes = 1;
    else if (strcmp(sample, "UInt32") == 0)
        g.px = u32, g.sbytes = 4;
    else if (strcmp(sample, "Float32") == 0)
        g.px = f32, g.sbytes = 4;
    else
        g.px = f64, g.sbytes = 8;
    return g;
}

/* check_pixels reads path whole and in strips of 5 rows and compares with the samples. */
static void check_pixels(const char *path, const char *sample, int bitpix)
{
    ac_image_t img;
    ac_imgin_t *in = NULL;
    ac_err_t e = {0};
    float strip[5 * W];

    if (ac_imgio_load_image(path, &img, &e) != 0)
        AC_TEST_FAIL("%s: %s", path, e.msg);
    ASSERT_EQ(img.w, W);
    ASSERT_EQ(img.h, H);
    ASSERT_EQ(img.meta.bitpix, bitpix);
    for (int i = 0; i < N; i++) {
        float x = expect(sample, i);
        if (memcmp(&img.px[i], &x, sizeof x) != 0)
            AC_TEST_FAIL("%s: pixel %d is %.9g, expected %.9g", path, i, img.px[i], x);
    }
    ASSERT_EQ(strlen(img.md5), 32u); /* the MD5 of the file, as for FITS */
    free(img.px);
    ASSERT_OK(ac_imgio_open(path, &in, &e));
    for (int y = H - 5; y >= 0; y -= 5) {
        ASSERT_OK(ac_imgio_read_rows(in, y, 5, strip, &e));
        for (int i = 0; i < 5 * W; i++)
            ASSERT(memcmp(&strip[i], &(float){expect(sample, y * W + i)}, 4) == 0);
    }
    ASSERT_EQ(ac_imgio_read_rows(in, H - 1, 2, strip, &e), -EINVAL);
    ac_imgio_close(in);
}

TEST(xisf_every_codec_and_shuffle_reads_exact_pixels)
{
    static const char *const samples[] = {"UInt16", "Float32", "UInt8", "UInt32", "Float64"};
    static const int bitpix[] = {16, -32, 8, 32, -64};
    static const char *const codecs[] = {NULL, "zlib", "lz4", "lz4hc", "zstd"};
    int files = 0;

    for (int s = 0; s < 5; s++) {
        for (int c = 0; c < 5; c++) {
            for (int sh = 0; sh < 2; sh++) {
                if (codecs[c] == NULL && sh)
                    continue;
                for (int big = 0; big < 2; big++) {
                    ac_xisfgen_t g = gen(samples[s]);
                    char name[96];
                    g.codec = codecs[c];
                    g.shuffle = sh;
                    g.big_endian = big;
                    snprintf(name, sizeof name, "%s-%s%s%s.xisf", samples[s],
                             g.codec ? g.codec : "none", sh ? "-sh" : "", big ? "-be" : "");
                    ASSERT_OK(ac_xisfgen_write(tmp(name), &g));
                    check_pixels(tmp(name), samples[s], bitpix[s]);
                    files++;
                }
            }
        }
    }
    ASSERT_EQ(files, 5 * 9 * 2);
}

/* N.I.N.A. writes its FITS header as FITSKeyword elements beside XISF properties. */
static const char nina[] =
    "<Property id=\"Instrument:ExposureTime\" type=\"Float32\" value=\"999\"/>\n"
    "<Property id=\"Instrument:Sensor:Temperature\" type=\"Float64\" value=\"-9.8\"/>\n"
    "<Property id=\"Instrument:Sensor:TargetTemperature\" type=\"Float64\" value=\"-10\"/>\n"
    "<Property id=\"Instrument:Camera:Gain\" type=\"Float64\" value=\"0.25\"/>\n"
    "<Property id=\"Observation:Object:Name\" type=\"String\">M 31</Property>\n"
    "<FITSKeyword name=\"IMAGETYP\" value=\"'LIGHT'\" comment=\"Type of exposure\"/>\n"
    "<FITSKeyword name=\"EXPOSURE\" value=\"120.0\" comment=\"[s] Exposure duration\"/>\n"
    "<FITSKeyword name=\"EXPTIME\" value=\"120.0\" comment=\"[s] Exposure duration\"/>\n"
    "<FITSKeyword name=\"DATE-OBS\" value=\"'2024-10-05T21:14:07.123'\" comment=\"UTC\"/>\n"
    "<FITSKeyword name=\"XBINNING\" value=\"1\" comment=\"X axis binning factor\"/>\n"
    "<FITSKeyword name=\"GAIN\" value=\"100\" comment=\"Sensor gain\"/>\n"
    "<FITSKeyword name=\"OFFSET\" value=\"50\" comment=\"Sensor gain offset\"/>\n"
    "<FITSKeyword name=\"FILTER\" value=\"'Ha'\" comment=\"Active filter name\"/>\n"
    "<FITSKeyword name=\"BITPIX\" value=\"-32\" comment=\"wrong: the image is UInt16\"/>\n"
    "<FITSKeyword name=\"HISTORY\" value=\"\" comment=\"written by N.I.N.A.\"/>\n"
    "<FITSKeyword name=\"TELESCOP\" value=\"RedCat 51\" comment=\"unquoted text\"/>\n"
    "<FITSKeyword name=\"lower\" value=\"1\" comment=\"not a FITS keyword\"/>\n";

TEST(xisf_fits_keywords_win_properties_fill_the_rest)
{
    ac_xisfgen_t g = gen("UInt16");
    ac_hdr_t hdr;
    ac_meta_t m;
    ac_err_t e = {0};
    char v[80];

    g.children = nina;
    g.codec = "zstd";
    g.shuffle = true;
    ASSERT_OK(ac_xisfgen_write(tmp("nina.xisf"), &g));
    if (ac_imgio_read_header(tmp("nina.xisf"), &hdr, &m, &e) != 0)
        AC_TEST_FAIL("%s", e.msg);
    ASSERT_EQ(m.type, AC_FRAME_LIGHT);
    ASSERT_NEAR(m.exptime, 120.0, 0); /* the keyword, not the property's 999 */
    ASSERT_NEAR(m.ccd_temp, -9.8, 1e-12);
    ASSERT_NEAR(m.set_temp, -10.0, 0);
    ASSERT_NEAR(m.gain, 100.0, 0); /* GAIN from its keyword; the e-/ADU property is EGAIN */
    ASSERT(ac_hdr_get_double(&hdr, "EGAIN", &(double){0}));
    ASSERT_STR_EQ(m.filter, "Ha");
    ASSERT_STR_EQ(m.object, "M 31");
    ASSERT_STR_EQ(m.date_obs, "2024-10-05T21:14:07.123");
    ASSERT_EQ(m.bitpix, 16); /* the samples, not the keyword */
    ASSERT_NEAR(m.bzero, 32768.0, 0);
    ASSERT_EQ(m.width, W);
    ASSERT(ac_hdr_get_value(&hdr, "IMAGETYP", v, sizeof v));
    ASSERT_STR_EQ(v, "LIGHT");
    ASSERT(ac_hdr_find(&hdr, "HISTORY") >= 0);
    ASSERT_CONTAINS(hdr.cards[ac_hdr_find(&hdr, "HISTORY")], "written by N.I.N.A.");
    ASSERT_STR_EQ(m.telescop, "RedCat 51");
    ASSERT(ac_hdr_find(&hdr, "lower") < 0);
    bool noted = false;
    for (size_t i = 0; i < hdr.n; i++)
        noted |= strstr(hdr.cards[i], "XISF keyword 'lower' not representable") != NULL;
    ASSERT(noted);
    ac_hdr_free(&hdr);
}

/* PixInsight's own files: properties and imageType only, no FITS keywords. */
TEST(xisf_properties_alone_give_the_header_facts)
{
    static const char pi[] =
        "<Property id=\"Instrument:ExposureTime\" type=\"Float32\" value=\"300\"/>\n"
        "<Property id=\"Instrument:Filter:Name\" type=\"String\" value=\"OIII\"/>\n"
        "<Property id=\"Instrument:Camera:Name\" type=\"String\" value=\"ZWO ASI2600MM\"/>\n"
        "<Property id=\"Instrument:Camera:XBinning\" type=\"Int32\" value=\"2\"/>\n"
        "<Property id=\"Instrument:Telescope:FocalLength\" type=\"Float32\" value=\"0.53\"/>\n"
        "<Property id=\"Observation:Time:Start\" type=\"TimePoint\" "
        "value=\"2024-03-01T01:30:00.25+02:00\"/>\n"
        "<Property id=\"Observation:Location:Longitude\" type=\"Float64\" value=\"7.5\"/>\n"
        "<ColorFilterArray pattern=\"RGGB\" width=\"2\" height=\"2\"/>\n";
    ac_xisfgen_t g = gen("Float32");
    ac_hdr_t hdr;
    ac_meta_t m;
    ac_err_t e = {0};
    double fl;

    g.children = pi;
    g.image_attrs = " imageType=\"MasterDark\"";
    ASSERT_OK(ac_xisfgen_write(tmp("pi.xisf"), &g));
    if (ac_imgio_read_header(tmp("pi.xisf"), &hdr, &m, &e) != 0)
        AC_TEST_FAIL("%s", e.msg);
    ASSERT_EQ(m.type, AC_FRAME_DARK);
    ASSERT(m.is_master);
    ASSERT_STR_EQ(m.imagetyp, "Master Dark");
    ASSERT_NEAR(m.exptime, 300.0, 0);
    ASSERT_STR_EQ(m.filter, "OIII");
    ASSERT_STR_EQ(m.instrume, "ZWO ASI2600MM");
    ASSERT_EQ(m.xbin, 2);
    ASSERT_STR_EQ(m.bayerpat, "RGGB");
    ASSERT_NEAR(m.sitelong, 7.5, 0);
    ASSERT_STR_EQ(m.date_obs, "2024-02-29T23:30:00.25"); /* +02:00 to UTC, a leap day */
    ASSERT(ac_hdr_get_double(&hdr, "FOCALLEN", &fl));
    ASSERT_NEAR(fl, 530.0, 1e-9); /* metres to millimetres */
    ASSERT_EQ(m.bitpix, -32);
    ac_hdr_free(&hdr);
}

/* refused expects ac_imgio_open to fail with code and a message containing needle. */
static void refused(const char *name, const ac_xisfgen_t *g, int code, const char *needle)
{
    ac_imgin_t *in = NULL;
    ac_err_t e = {0};
    int rc;

    ASSERT_OK(ac_xisfgen_write(tmp(name), g));
    rc = ac_imgio_open(tmp(name), &in, &e);
    if (rc == 0) {
        /* a corrupt compressed block is found when the pixels are read */
        float *row = malloc(N * sizeof *row);
        rc = ac_imgio_read_rows(in, 0, H, row, &e);
        free(row);
        ac_imgio_close(in);
    }
    if (rc != code)
        AC_TEST_FAIL("%s: rc %d (%s), expected %d containing '%s'", name, rc, e.msg, code,
                     needle);
    ASSERT_CONTAINS(e.msg, needle);
    ASSERT_CONTAINS(e.msg, name); /* the message names the file */
}

TEST(xisf_unsupported_and_corrupt_files_are_refused_with_reasons)
{
    static const uint16_t rgb[3 * N];
    ac_xisfgen_t g;

    g = gen("UInt16"), g.channels = 3, g.px = rgb, g.color_space = "RGB";
    refused("rgb.xisf", &g, AC_EFORMAT, "colour image (colorSpace RGB, 3 channels)");
    g = gen("UInt16"), g.channels = 3, g.px = rgb;
    refused("planes.xisf", &g, AC_EFORMAT, "3 channels");
    g = gen("UInt32"), g.sample = "Complex32";
    refused("complex.xisf", &g, AC_EFORMAT, "sampleFormat 'Complex32' is not supported");
    g = gen("UInt16"), g.location = "inline:base64";
    refused("inline.xisf", &g, AC_EFORMAT, "only attached blocks");
    g = gen("UInt16"), g.codec = "zlib", g.compression = "bzip2:1702";
    refused("bzip2.xisf", &g, AC_EFORMAT, "codec 'bzip2' is not supported");
    g = gen("UInt16"), g.codec = "zlib", g.compression = "zlib:1000";
    refused("usize.xisf", &g, AC_EFITS, "uncompresses to 1000 bytes, the image needs 1702");
    g = gen("UInt16"), g.codec = "zlib", g.compression = "zlib+sh:1702:4";
    refused("item.xisf", &g, AC_EFITS, "item size must be 2");
    g = gen("UInt16"), g.cut = 4096 + N;
    refused("cut.xisf", &g, AC_EFITS, "truncated: the XISF data block needs bytes 4096..5798");
    g = gen("UInt16"), g.cut = 200;
    refused("cuthdr.xisf", &g, AC_EFITS, "truncated: the XISF header needs");
    g = gen("UInt16"), g.image_attrs = " offset=\"100\"";
    refused("pedestal.xisf", &g, AC_EFORMAT, "offset=\"100\"");
    g = gen("UInt16"), g.children = "<FITSKeyword name=\"A\" value=\"1\">";
    refused("brokenxml.xisf", &g, AC_EFITS, "XML header does not parse");
    static const char *const codecs[] = {"zlib", "lz4", "lz4hc", "zstd"};
    for (int c = 0; c < 4; c++) {
        char name[64];
        g = gen("UInt16"), g.codec = codecs[c], g.flip_byte = 7;
        snprintf(name, sizeof name, "corrupt-%s.xisf", codecs[c]);
        refused(name, &g, AC_EFITS, c == 0 ? "zlib data is corrupt" : "");
    }
}

TEST(xisf_two_images_and_bad_signatures_are_refused)
{
    ac_imgin_t *in = NULL;
    ac_err_t e = {0};
    FILE *f;

    ac_xisfgen_t g = gen("UInt16");
    g.children = "</Image><Image geometry=\"2:2:1\" sampleFormat=\"UInt16\" "
                 "location=\"attachment:4096:8\">";
    ASSERT_OK(ac_xisfgen_write(tmp("two.xisf"), &g));
    ASSERT_EQ(ac_imgio_open(tmp("two.xisf"), &in, &e), AC_EFORMAT);
    ASSERT_CONTAINS(e.msg, "2 Image elements");
    f = fopen(tmp("xisb.xisf"), "wb");
    ASSERT_NOT_NULL(f);
    fputs("XISB0100 a distributed unit's block file", f);
    fclose(f);
    e = (ac_err_t){0};
    ASSERT_EQ(ac_imgio_open(tmp("xisb.xisf"), &in, &e), AC_EFITS);
    ASSERT_CONTAINS(e.msg, "does not start with SIMPLE = nor XISF0100");
}

/* Checksums of the stored block (PixInsight's "Block checksums"): checked, with the pixels
 * read as before when they match, refused when one byte of the block is wrong. */
TEST(xisf_block_checksums_are_verified)
{
    static const char *const algs[] = {"sha1", "sha-256", "sha512"};
    static const char *const codecs[] = {NULL, "lz4", "zlib"};
    ac_image_t img;
    ac_err_t e = {0};

    for (int a = 0; a < 3; a++) {
        for (int c = 0; c < 3; c++) {
            ac_xisfgen_t g = gen("UInt16");
            char name[64];
            g.codec = codecs[c];
            g.shuffle = c == 2;
            g.checksum = algs[a];
            snprintf(name, sizeof name, "ck-%s-%d.xisf", algs[a], c);
            ASSERT_OK(ac_xisfgen_write(tmp(name), &g));
            check_pixels(tmp(name), "UInt16", 16);
            g.flip_byte = 100;
            snprintf(name, sizeof name, "bad-%s-%d.xisf", algs[a], c);
            ASSERT_OK(ac_xisfgen_write(tmp(name), &g));
            e = (ac_err_t){0};
            if (ac_imgio_load_pixels(tmp(name), &img, &e) == 0)
                AC_TEST_FAIL("%s: read although its block is corrupt", name);
            ASSERT_CONTAINS(e.msg, "does not match its checksum"); /* checked before decoding */
        }
    }
}
