/*
 * test-imgio.c - opening and reading FITS images: every BITPIX with its scaling, cubes,
 * extensions, tile compression, truncated, foreign and missing files, names with brackets.
 * The inputs are written with cfitsio directly (tests/support/imgiotest.h, tiny images).
 * Strips, headers and whole-image loads are in test-imgio-load.c.
 */
#include <errno.h>
#include <fitsio.h>
#include <stdio.h>
#include <unistd.h>

#include "imgio.h"
#include "imgiotest.h"
#include "test.h"

#define W IMGIOTEST_W
#define H IMGIOTEST_H
#define N IMGIOTEST_N

/* refused opens path expecting code and a message containing needle. */
static void refused(const char *path, int code, const char *needle)
{
    ac_imgin_t *in = NULL;
    ac_err_t e = {0};

    ASSERT_EQ(ac_imgio_open(path, &in, &e), code);
    ASSERT_NULL(in);
    ASSERT_CONTAINS(e.msg, needle);
    ASSERT_CONTAINS(e.msg, path);
}

TEST(imgio_bitpix8_plain_and_signed)
{
    static const char *const sbyte[] = {"BZERO   =                 -128", NULL};
    unsigned char v[N];
    float *px;

    for (int i = 0; i < N; i++)
        v[i] = (unsigned char)(i + 60);
    mkfits("b8.fits", BYTE_IMG, 2, 1, NULL, TBYTE, v);
    px = readall("b8.fits", NULL);
    ASSERT_NEAR(px[0], 60, 0);
    ASSERT_NEAR(px[N - 1], 251, 0);
    for (int i = 0; i < N; i++)
        ASSERT_NEAR(px[i], v[i], 0);
    free(px);
    mkfits("s8.fits", BYTE_IMG, 2, 1, sbyte, TBYTE, v);
    px = readall("s8.fits", NULL);
    ASSERT_NEAR(px[0], 60 - 128, 0);
    for (int i = 0; i < N; i++)
        ASSERT_NEAR(px[i], v[i] - 128.0, 0);
    free(px);
}

TEST(imgio_bitpix16_bzero32768)
{
    static const char *const u16[] = {"BZERO   =                32768",
                                      "BSCALE  =                    1", NULL};
    short v[N];
    ac_imgin_t *in = NULL;
    float *px;

    for (int i = 0; i < N; i++)
        v[i] = (short)(i * 331 - 32768);
    v[1] = 0;     /* -> 32768 */
    v[2] = 32767; /* -> 65535 */
    mkfits("u16.fits", SHORT_IMG, 2, 1, u16, TSHORT, v);
    px = readall("u16.fits", &in);
    ASSERT_NEAR(px[0], 0.0, 0);
    ASSERT_NEAR(px[1], 32768.0, 0);
    ASSERT_NEAR(px[2], 65535.0, 0);
    for (int i = 3; i < N; i++)
        ASSERT_NEAR(px[i], i * 331.0, 0);
    ASSERT_EQ(ac_imgio_meta(in)->bitpix, 16);
    ASSERT_NEAR(ac_imgio_meta(in)->saturation, 65535, 0);
    ac_imgio_close(in);
    free(px);
}

TEST(imgio_bitpix16_signed_and_scaled)
{
    static const char *const scaled[] = {"BSCALE  =                  2.0",
                                         "BZERO   =                   10", NULL};
    short v[N];
    float *px;

    for (int i = 0; i < N; i++)
        v[i] = (short)(i * 97 - 9000);
    mkfits("s16.fits", SHORT_IMG, 2, 1, NULL, TSHORT, v);
    px = readall("s16.fits", NULL);
    ASSERT_NEAR(px[0], -9000, 0);
    for (int i = 0; i < N; i++)
        ASSERT_NEAR(px[i], i * 97 - 9000, 0);
    free(px);
    mkfits("sc16.fits", SHORT_IMG, 2, 1, scaled, TSHORT, v);
    px = readall("sc16.fits", NULL);
    ASSERT_NEAR(px[0], 2 * -9000 + 10, 0);
    for (int i = 0; i < N; i++)
        ASSERT_NEAR(px[i], 2.0 * (i * 97 - 9000) + 10, 0);
    free(px);
}

TEST(imgio_bitpix16_blank_is_nan)
{
    static const char *const c[] = {"BZERO   =                32768",
                                    "BLANK   =               -32768", NULL};
    short v[N];
    float *px;

    for (int i = 0; i < N; i++)
        v[i] = (short)i;
    v[5] = -32768;
    mkfits("blank.fits", SHORT_IMG, 2, 1, c, TSHORT, v);
    px = readall("blank.fits", NULL);
    ASSERT(isnan(px[5]));
    ASSERT_NEAR(px[4], 32772, 0);
    ASSERT_NEAR(px[6], 32774, 0);
    free(px);
}

TEST(imgio_compressed_blank_is_nan)
{
    static const char *const c[] = {"BZERO   =                32768",
                                    "BLANK   =               -32768", NULL};
    short v[N];
    float *px;

    for (int i = 0; i < N; i++)
        v[i] = (short)(i * 50);
    v[9] = -32768;
    mkfits("cblank.fits.fz[compress R]", SHORT_IMG, 2, 1, c, TSHORT, v);
    px = readall("cblank.fits.fz", NULL);
    ASSERT(isnan(px[9]));
    ASSERT_NEAR(px[8], 32768 + 400, 0);
    ASSERT_NEAR(px[10], 32768 + 500, 0);
    free(px);
}

TEST(imgio_bitpix32_unsigned_and_scaled)
{
    static const char *const u32[] = {"BZERO   =           2147483648", NULL};
    static const char *const sc[] = {"BSCALE  =                  0.5",
                                     "BZERO   =                   -3", NULL};
    int v[N];
    float *px;

    for (int i = 0; i < N; i++)
        v[i] = (int)(-2147483647 - 1 + i * 1000);
    v[1] = 0; /* -> 2^31 exactly */
    mkfits("u32.fits", LONG_IMG, 2, 1, u32, TINT, v);
    px = readall("u32.fits", NULL);
    ASSERT_NEAR(px[0], 0, 0);
    ASSERT_NEAR(px[1], 2147483648.0, 0);
    for (int i = 2; i < N; i++)
        ASSERT_NEAR(px[i], i * 1000.0, 0);
    free(px);
    for (int i = 0; i < N; i++)
        v[i] = i * 1001 - 70000;
    mkfits("sc32.fits", LONG_IMG, 2, 1, sc, TINT, v);
    px = readall("sc32.fits", NULL);
    for (int i = 0; i < N; i++)
        ASSERT_NEAR(px[i], 0.5 * (i * 1001 - 70000) - 3, 0);
    free(px);
}

TEST(imgio_float_and_double)
{
    static const char *const sc[] = {"BSCALE  =                    2",
                                     "BZERO   =                  100", NULL};
    float fv[N];
    double dv[N];
    ac_imgin_t *in = NULL;
    float *px;

    for (int i = 0; i < N; i++) {
        fv[i] = (float)i * 0.25f - 3.0f;
        dv[i] = i * 1.5 - 40.0;
    }
    fv[7] = NAN;
    mkfits("f32.fits", FLOAT_IMG, 2, 1, NULL, TFLOAT, fv);
    px = readall("f32.fits", &in);
    ASSERT(isnan(px[7]));
    ASSERT(isnan(ac_imgio_meta(in)->saturation));
    ac_imgio_close(in);
    for (int i = 0; i < N; i++)
        if (i != 7)
            ASSERT_NEAR(px[i], i * 0.25 - 3.0, 0);
    free(px);
    mkfits("f32s.fits", FLOAT_IMG, 2, 1, sc, TFLOAT, fv);
    px = readall("f32s.fits", NULL);
    ASSERT(isnan(px[7]));
    ASSERT_NEAR(px[8], 2 * (8 * 0.25 - 3.0) + 100, 0);
    free(px);
    mkfits("f64.fits", DOUBLE_IMG, 2, 1, NULL, TDOUBLE, dv);
    px = readall("f64.fits", NULL);
    for (int i = 0; i < N; i++)
        ASSERT_NEAR(px[i], i * 1.5 - 40.0, 0);
    free(px);
}

TEST(imgio_cube_with_one_plane_accepted)
{
    short v[N];
    float *px;

    for (int i = 0; i < N; i++)
        v[i] = (short)(3 * i);
    mkfits("cube1.fits", SHORT_IMG, 3, 1, NULL, TSHORT, v);
    px = readall("cube1.fits", NULL);
    ASSERT_NEAR(px[N - 1], 3 * (N - 1), 0);
    free(px);
}

TEST(imgio_rgb_cube_refused)
{
    static short v[3 * N];

    mkfits("rgb.fits", SHORT_IMG, 3, 3, NULL, TSHORT, v);
    refused("rgb.fits", AC_EFORMAT, "NAXIS3 = 3");
    mkfits("cube4.fits", SHORT_IMG, 3, 4, NULL, TSHORT, NULL);
    refused("cube4.fits", AC_EFORMAT, "NAXIS3 = 4");
}

TEST(imgio_bitpix64_refused)
{
    long long v[N] = {0};

    mkfits("i64.fits", LONGLONG_IMG, 2, 1, NULL, TLONGLONG, v);
    refused("i64.fits", AC_EFORMAT, "BITPIX = 64: 64-bit integer images are not supported");
}

TEST(imgio_table_only_refused)
{
    fitsfile *f = NULL;
    char *ttype[] = {"A"}, *tform[] = {"1J"};
    int st = 0, a[2] = {1, 2};

    fits_create_file(&f, "!table.fits", &st);
    fits_create_tbl(f, BINARY_TBL, 2, 1, ttype, tform, NULL, "T", &st);
    fits_write_col(f, TINT, 1, 1, 1, 2, a, &st);
    fits_close_file(f, &st);
    ASSERT_OK(st);
    refused("table.fits", AC_EFORMAT, "no image data");
}

TEST(imgio_empty_primary_image_in_extension)
{
    fitsfile *f = NULL;
    long naxes[2] = {W, H};
    short v[N];
    int st = 0;
    ac_imgin_t *in = NULL;
    char val[72];
    float *px;

    for (int i = 0; i < N; i++)
        v[i] = (short)(i - 50);
    fits_create_file(&f, "!ext.fits", &st);
    fits_create_img(f, SHORT_IMG, 0, NULL, &st);
    fits_write_record(f, "OBJECT  = 'primary'", &st);
    fits_create_img(f, SHORT_IMG, 2, naxes, &st);
    fits_write_record(f, "EXPTIME =                 60.0", &st);
    fits_write_img(f, TSHORT, 1, N, v, &st);
    fits_close_file(f, &st);
    ASSERT_OK(st);
    px = readall("ext.fits", &in);
    for (int i = 0; i < N; i++)
        ASSERT_NEAR(px[i], i - 50, 0);
    ASSERT_NEAR(ac_imgio_meta(in)->exptime, 60.0, 0);
    ASSERT(ac_hdr_get_value(ac_imgio_header(in), "XTENSION", val, sizeof val));
    ASSERT_STR_EQ(val, "IMAGE");
    ac_imgio_close(in);
    free(px);
}

TEST(imgio_primary_without_data_refused)
{
    mkfits("nodata.fits", SHORT_IMG, 0, 1, NULL, TSHORT, NULL);
    refused("nodata.fits", AC_EFORMAT, "no image data");
}

/* Each compressed file must read back exactly what was written. */
TEST(imgio_tile_compressed_lossless)
{
    static const char *const u16[] = {"BZERO   =                32768",
                                      "EXPTIME =                 30.0",
                                      "IMAGETYP= 'Light Frame'", NULL};
    static const char *const u32[] = {"BZERO   =           2147483648", NULL};
    static const char *const s16[] = {"BSCALE  =                    2",
                                      "BZERO   =                   10", NULL};
    short s[N];
    int iv[N];
    unsigned char b[N];
    ac_imgin_t *in = NULL;
    char val[72];
    float *px;

    for (int i = 0; i < N; i++) {
        s[i] = (short)(i * 331 - 32768);
        iv[i] = -2147483647 - 1 + i * 1000;
        b[i] = (unsigned char)(255 - i);
    }
    mkfits("c16.fits.fz[compress R]", SHORT_IMG, 2, 1, u16, TSHORT, s);
    px = readall("c16.fits.fz", &in);
    for (int i = 0; i < N; i++)
        ASSERT_NEAR(px[i], i * 331.0, 0);
    /* The header is the uncompressed image's. */
    ASSERT_EQ(ac_imgio_meta(in)->bitpix, 16);
    ASSERT_NEAR(ac_imgio_meta(in)->bzero, 32768, 0);
    ASSERT_NEAR(ac_imgio_meta(in)->saturation, 65535, 0);
    ASSERT_NEAR(ac_imgio_meta(in)->exptime, 30.0, 0);
    ASSERT_EQ(ac_imgio_meta(in)->type, AC_FRAME_LIGHT);
    ASSERT(ac_hdr_get_value(ac_imgio_header(in), "BITPIX", val, sizeof val));
    ASSERT_STR_EQ(val, "16");
    ASSERT(ac_hdr_get_value(ac_imgio_header(in), "NAXIS1", val, sizeof val));
    ASSERT_STR_EQ(val, "16");
    ASSERT_EQ(ac_hdr_find(ac_imgio_header(in), "ZIMAGE"), -1);
    ASSERT_EQ(ac_hdr_find(ac_imgio_header(in), "TFORM1"), -1);
    ac_imgio_close(in);
    free(px);

    mkfits("c32.fits.fz[compress R]", LONG_IMG, 2, 1, u32, TINT, iv);
    px = readall("c32.fits.fz", NULL);
    for (int i = 0; i < N; i++)
        ASSERT_NEAR(px[i], i * 1000.0, 0);
    free(px);

    mkfits("cs16.fits.fz[compress G]", SHORT_IMG, 2, 1, s16, TSHORT, s);
    px = readall("cs16.fits.fz", NULL);
    for (int i = 0; i < N; i++)
        ASSERT_NEAR(px[i], 2.0 * (i * 331 - 32768) + 10, 0);
    free(px);

    mkfits("c8.fits.fz[compress H]", BYTE_IMG, 2, 1, NULL, TBYTE, b);
    px = readall("c8.fits.fz", NULL);
    for (int i = 0; i < N; i++)
        ASSERT_NEAR(px[i], 255 - i, 0);
    free(px);
}

TEST(imgio_tile_compressed_float_lossless)
{
    fitsfile *f = NULL;
    long naxes[2] = {W, H};
    float v[N];
    int st = 0;
    float *px;

    for (int i = 0; i < N; i++)
        v[i] = (float)i / 7.0f - 11.0f;
    v[3] = NAN;
    fits_create_file(&f, "!cf.fits.fz", &st);
    fits_set_compression_type(f, GZIP_1, &st);
    fits_set_quantize_level(f, 0.0, &st); /* no quantisation: lossless */
    fits_create_img(f, FLOAT_IMG, 2, naxes, &st);
    fits_write_img(f, TFLOAT, 1, N, v, &st);
    fits_close_file(f, &st);
    ASSERT_OK(st);
    px = readall("cf.fits.fz", NULL);
    ASSERT(isnan(px[3]));
    for (int i = 0; i < N; i++)
        if (i != 3)
            ASSERT_NEAR(px[i], (float)i / 7.0f - 11.0f, 0);
    free(px);
}

TEST(imgio_truncated_refused)
{
    short v[N] = {0};

    mkfits("t.fits", SHORT_IMG, 2, 1, NULL, TSHORT, v);
    /* 2880 header bytes + 16*12*2 = 384 data bytes padded to one 2880-byte block. */
    ASSERT_OK(truncate("t.fits", 2880 + 100));
    refused("t.fits", AC_EFITS, "truncated: data needs 5760 bytes, file has 2980");
    /* Header only. */
    ASSERT_OK(truncate("t.fits", 2880));
    refused("t.fits", AC_EFITS, "truncated: data needs 5760 bytes, file has 2880");
    /* Only the padding missing: cfitsio cannot read the last block, so refused too. */
    ASSERT_OK(truncate("t.fits", 3264));
    refused("t.fits", AC_EFITS, "file has 3264");
    /* Complete again (zero padding restored): accepted. */
    ASSERT_OK(truncate("t.fits", 5760));
    free(readall("t.fits", NULL));
}

TEST(imgio_truncated_compressed_refused)
{
    short s[N];
    FILE *fp;
    long size;

    for (int i = 0; i < N; i++)
        s[i] = (short)(i * 4099);
    mkfits("tc.fits.fz[compress R]", SHORT_IMG, 2, 1, NULL, TSHORT, s);
    fp = fopen("tc.fits.fz", "rb");
    ASSERT_NOT_NULL(fp);
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    fclose(fp);
    ASSERT_EQ(size, 3 * 2880); /* primary, table header, table data + heap */
    ASSERT_OK(truncate("tc.fits.fz", 2 * 2880 + 50));
    refused("tc.fits.fz", AC_EFITS, "truncated: data needs 8640 bytes, file has 5810");
}

TEST(imgio_not_fits_refused)
{
    FILE *f = fopen("notes.fits", "w");

    ASSERT_NOT_NULL(f);
    fputs("hello, this is not a FITS file at all\n", f);
    fclose(f);
    refused("notes.fits", AC_EFITS, "not a FITS file");
    f = fopen("empty.fits", "w");
    fclose(f);
    refused("empty.fits", AC_EFITS, "not a FITS file");
    /* A FITS start without a whole header block. */
    f = fopen("short.fits", "w");
    fputs("SIMPLE  =                    T / and nothing else", f);
    fclose(f);
    refused("short.fits", AC_EFITS,
            "truncated: a header needs at least 2880 bytes, file has 49");
    refused(".", AC_EFITS, "not a FITS file");
}

TEST(imgio_missing_file)
{
    ac_imgin_t *in = NULL;
    ac_err_t e = {0};

    ASSERT_EQ(ac_imgio_open("absent.fits", &in, &e), -ENOENT);
    ASSERT_CONTAINS(e.msg, "absent.fits");
}

TEST(imgio_path_with_brackets_is_a_plain_name)
{
    short v[N] = {0};
    float *px;

    v[0] = 42;
    mkfits("odd[1].fits", SHORT_IMG, 2, 1, NULL, TSHORT, v);
    ASSERT_OK(access("odd[1].fits", R_OK));
    px = readall("odd[1].fits", NULL);
    ASSERT_NEAR(px[0], 42, 0);
    free(px);
}
