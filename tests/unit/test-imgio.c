/*
 * test-imgio.c - reading FITS images: every BITPIX with its scaling, cubes, extensions,
 * tile compression, truncated and foreign files, strips, headers and whole-image loads.
 * The inputs are written here with cfitsio directly (tiny images).
 */
#include <errno.h>
#include <fitsio.h>
#include <stdio.h>
#include <unistd.h>

#include "imgio.h"
#include "test.h"

#define W 16
#define H 12
#define N (W * H)

/* mkfits writes a one-image FITS file: name may carry cfitsio's "[compress X]" suffix.
 * cards are raw header records written before the data (e.g. BZERO); the data are the
 * stored values as given (cfitsio's own scaling is turned off while writing). */
static void mkfits(const char *name, int bitpix, int naxis, long n3, const char *const *cards,
                   int dtype, const void *data)
{
    fitsfile *f = NULL;
    long naxes[3] = {W, H, n3};
    char full[512];
    int st = 0;

    if (strchr(name, '[') != NULL && strstr(name, "[compress") != NULL) {
        snprintf(full, sizeof full, "!%s", name);
        fits_create_file(&f, full, &st);
    } else {
        /* A plain name (brackets are part of it): no extended syntax. */
        unlink(name);
        fits_create_diskfile(&f, name, &st);
    }
    fits_create_img(f, bitpix, naxis, naxes, &st);
    for (; cards != NULL && *cards != NULL; cards++)
        fits_write_record(f, *cards, &st);
    fits_set_hdustruc(f, &st);
    if (naxis > 0) /* cfitsio 4.2 crashes in fits_set_bscale on a NAXIS = 0 HDU */
        fits_set_bscale(f, 1.0, 0.0, &st);
    if (data != NULL)
        fits_write_img(f, dtype, 1, (LONGLONG)N * (naxis == 3 ? n3 : 1), (void *)data, &st);
    fits_close_file(f, &st);
    if (st != 0) {
        char t[FLEN_STATUS];
        fits_get_errstatus(st, t);
        AC_TEST_FAIL("cfitsio writing %s: %d %s", name, st, t);
    }
}

/* readall opens path and reads the whole image into a new float array. */
static float *readall(const char *path, ac_imgin_t **inp)
{
    ac_imgin_t *in = NULL;
    ac_err_t e = {0};
    float *px = malloc(N * sizeof *px);

    ASSERT_NOT_NULL(px);
    if (ac_imgio_open(path, &in, &e) != 0)
        AC_TEST_FAIL("open %s: %s", path, e.msg);
    ASSERT_EQ(ac_imgio_meta(in)->width, W);
    ASSERT_EQ(ac_imgio_meta(in)->height, H);
    if (ac_imgio_read_rows(in, 0, H, px, &e) != 0)
        AC_TEST_FAIL("read %s: %s", path, e.msg);
    if (inp != NULL)
        *inp = in;
    else
        ac_imgio_close(in);
    return px;
}

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

/* strips_match reads path whole, then in strips of every size from every start row, and
 * requires the same values. */
static void strips_match(const char *path)
{
    ac_imgin_t *in = NULL;
    ac_err_t e = {0};
    float *full = readall(path, &in), *part = malloc(N * sizeof *part);

    ASSERT_NOT_NULL(part);
    for (int nrows = 1; nrows <= H; nrows++) {
        for (int y0 = 0; y0 + nrows <= H; y0 += (y0 % 2) + 1) {
            memset(part, 0xff, N * sizeof *part);
            if (ac_imgio_read_rows(in, y0, nrows, part, &e) != 0)
                AC_TEST_FAIL("%s rows %d+%d: %s", path, y0, nrows, e.msg);
            if (memcmp(part, full + y0 * W, (size_t)nrows * W * sizeof *part) != 0)
                AC_TEST_FAIL("%s: strip %d+%d differs", path, y0, nrows);
        }
    }
    /* Reading backwards after a large strip reuses the scratch buffer. */
    ASSERT_OK(ac_imgio_read_rows(in, H - 1, 1, part, &e));
    ASSERT(memcmp(part, full + (H - 1) * W, W * sizeof *part) == 0);
    ASSERT_OK(ac_imgio_read_rows(in, 0, 0, part, &e));
    ASSERT_EQ(ac_imgio_read_rows(in, H - 2, 3, part, &e), -EINVAL);
    ASSERT_EQ(ac_imgio_read_rows(in, -1, 1, part, &e), -EINVAL);
    ac_imgio_close(in);
    free(full);
    free(part);
}

TEST(imgio_strips_equal_full_read)
{
    static const char *const u16[] = {"BZERO   =                32768", NULL};
    static const char *const sc[] = {"BSCALE  =                  1.5",
                                     "BZERO   =                  -20", NULL};
    short s[N];
    float fv[N];

    for (int i = 0; i < N; i++) {
        s[i] = (short)(i * 173 - 16000);
        fv[i] = (float)i * 0.5f;
    }
    mkfits("a.fits", SHORT_IMG, 2, 1, u16, TSHORT, s);
    strips_match("a.fits");
    mkfits("b.fits", SHORT_IMG, 2, 1, sc, TSHORT, s);
    strips_match("b.fits");
    mkfits("c.fits", FLOAT_IMG, 2, 1, NULL, TFLOAT, fv);
    strips_match("c.fits");
    mkfits("d.fits.fz[compress R]", SHORT_IMG, 2, 1, sc, TSHORT, s);
    strips_match("d.fits.fz");
}

TEST(imgio_header_cards_and_read_header)
{
    static const char *const c[] = {
        "BZERO   =                32768",
        "IMAGETYP= 'Master Dark'",
        "EXPOSURE= '300.0'",
        "CCD_TEMP=                -10.0",
        "BINX    =                    2",
        "BINY    =                    2",
        "BLKLEVEL=                   21",
        "COLORTYP= 'RGGB'",
        "DARKBIAS=                    T",
        "HISTORY Calibrated with a master bias",
        NULL,
    };
    short v[N] = {0};
    ac_hdr_t h;
    ac_meta_t m;
    ac_err_t e = {0};
    char key[9];

    mkfits("hdr.fits", SHORT_IMG, 2, 1, c, TSHORT, v);
    ASSERT_OK(ac_imgio_read_header("hdr.fits", &h, &m, &e));
    ac_hdr_card_key(&h, 0, key);
    ASSERT_STR_EQ(key, "SIMPLE");
    ac_hdr_card_key(&h, h.n - 1, key);
    ASSERT_STR_EQ(key, "HISTORY"); /* END is not copied */
    ASSERT_EQ(ac_hdr_find(&h, "END"), -1);
    ASSERT_EQ(m.width, W);
    ASSERT_EQ(m.height, H);
    ASSERT_EQ(m.type, AC_FRAME_DARK);
    ASSERT(m.is_master);
    ASSERT_NEAR(m.exptime, 300.0, 0);
    ASSERT_NEAR(m.ccd_temp, -10.0, 0);
    ASSERT_EQ(m.xbin, 2);
    ASSERT_EQ(m.ybin, 2);
    ASSERT_NEAR(m.offset, 21, 0);
    ASSERT_STR_EQ(m.bayerpat, "RGGB");
    /* DARKBIAS = T (the dark contains the bias) is stronger than the HISTORY line. */
    ASSERT_EQ(m.bias_subtracted, AC_PROV_NO);
    ac_hdr_free(&h);
    ASSERT_OK(ac_imgio_read_header("hdr.fits", NULL, &m, &e));
    ASSERT_EQ(ac_imgio_read_header("nothere.fits", &h, &m, &e), -ENOENT);
    ASSERT_EQ(h.n, 0);
}

TEST(imgio_load_image_whole)
{
    static const char *const c[] = {"BZERO   =                32768", "IMAGETYP= 'BIAS'", NULL};
    short v[N];
    ac_image_t img;
    ac_err_t e = {0};
    char cmd[256], expect[64] = {0};
    FILE *p;

    /* Stored values 0..N-1 shifted by BZERO: 32768..32959, median 32863.5 (N even). */
    for (int i = 0; i < N; i++)
        v[i] = (short)i;
    mkfits("bias.fits", SHORT_IMG, 2, 1, c, TSHORT, v);
    if (ac_imgio_load_image("bias.fits", &img, &e) != 0)
        AC_TEST_FAIL("load: %s", e.msg);
    ASSERT_EQ(img.w, W);
    ASSERT_EQ(img.h, H);
    ASSERT_STR_EQ(img.path, "bias.fits");
    ASSERT_EQ(img.meta.type, AC_FRAME_BIAS);
    for (int i = 0; i < N; i++)
        ASSERT_NEAR(img.px[i], 32768 + i, 0);
    /* Loading does not analyse (ac_calib_prepare_take does); analysing gives the median. */
    ASSERT_NEAR(img.median, 0, 0);
    ASSERT_OK(ac_image_analyse(&img));
    ASSERT_NEAR(img.median, 32863.5, 0);
    ASSERT_EQ(img.n_nonfinite, 0);
    /* The MD5 agrees with coreutils' md5sum. */
    snprintf(cmd, sizeof cmd, "md5sum bias.fits");
    p = popen(cmd, "r");
    ASSERT_NOT_NULL(p);
    ASSERT_EQ(fscanf(p, "%32s", expect), 1);
    pclose(p);
    ASSERT_STR_EQ(img.md5, expect);
    ac_image_free(&img);
}

/* md5sum_of runs coreutils' md5sum on path (an independent MD5 of the whole file). */
static void md5sum_of(const char *path, char out[33])
{
    char cmd[256];
    FILE *p;

    snprintf(cmd, sizeof cmd, "md5sum '%s'", path);
    p = popen(cmd, "r");
    ASSERT_NOT_NULL(p);
    ASSERT_EQ(fscanf(p, "%32s", out), 1);
    pclose(p);
}

/* load_md5_matches loads path and requires md5sum's MD5 and the expected first and last
 * pixels. */
static void load_md5_matches(const char *path, double first, double last)
{
    ac_image_t img;
    ac_err_t e = {0};
    char expect[33] = {0};

    if (ac_imgio_load_image(path, &img, &e) != 0)
        AC_TEST_FAIL("load %s: %s", path, e.msg);
    md5sum_of(path, expect);
    if (strcmp(img.md5, expect) != 0)
        AC_TEST_FAIL("%s: MD5 %s, md5sum %s", path, img.md5, expect);
    ASSERT_NEAR(img.px[0], first, 0);
    ASSERT_NEAR(img.px[(size_t)img.w * (size_t)img.h - 1], last, 0);
    ac_image_free(&img);
}

/* The MD5 is computed from the bytes as they are read: it must cover the header, every
 * data type's bytes, the padding and HDUs after the image, and fall back to hashing the
 * file for compressed and gzip files. */
TEST(imgio_load_image_md5_every_layout)
{
    static const char *const u16[] = {"BZERO   =                32768", NULL};
    fitsfile *f = NULL;
    long naxes[2] = {W, H};
    char *ttype[] = {"A"}, *tform[] = {"1J"};
    float fv[N];
    double dv[N];
    unsigned char bv[N];
    short sv[N];
    int st = 0;

    for (int i = 0; i < N; i++) {
        fv[i] = (float)i * 0.5f - 7.0f;
        dv[i] = i * 2.0 + 0.25;
        bv[i] = (unsigned char)(i + 3);
        sv[i] = (short)(i * 100 - 32768);
    }
    mkfits("f32.fits", FLOAT_IMG, 2, 1, NULL, TFLOAT, fv);
    load_md5_matches("f32.fits", -7.0, (N - 1) * 0.5 - 7.0);
    mkfits("f64.fits", DOUBLE_IMG, 2, 1, NULL, TDOUBLE, dv);
    load_md5_matches("f64.fits", 0.25, (N - 1) * 2.0 + 0.25);
    mkfits("b8.fits", BYTE_IMG, 2, 1, NULL, TBYTE, bv);
    load_md5_matches("b8.fits", 3, N + 2);
    mkfits("u16.fits", SHORT_IMG, 2, 1, u16, TSHORT, sv);
    load_md5_matches("u16.fits", 0, (N - 1) * 100.0);
    /* Empty primary, the image in an extension, then a table after it. */
    fits_create_file(&f, "!ext2.fits", &st);
    fits_create_img(f, SHORT_IMG, 0, NULL, &st);
    fits_create_img(f, FLOAT_IMG, 2, naxes, &st);
    fits_write_img(f, TFLOAT, 1, N, fv, &st);
    fits_create_tbl(f, BINARY_TBL, 3, 1, ttype, tform, NULL, "T", &st);
    fits_close_file(f, &st);
    ASSERT_OK(st);
    load_md5_matches("ext2.fits", -7.0, (N - 1) * 0.5 - 7.0);
    /* cfitsio reads these; the MD5 comes from hashing the file. */
    mkfits("c.fits.fz[compress R]", SHORT_IMG, 2, 1, u16, TSHORT, sv);
    load_md5_matches("c.fits.fz", 0, (N - 1) * 100.0);
    fits_create_file(&f, "!g.fits.gz", &st);
    fits_create_img(f, FLOAT_IMG, 2, naxes, &st);
    fits_write_img(f, TFLOAT, 1, N, fv, &st);
    fits_close_file(f, &st);
    ASSERT_OK(st);
    load_md5_matches("g.fits.gz", -7.0, (N - 1) * 0.5 - 7.0);
}

/* Widths that are not a multiple of the conversion loops' blocks: the tails convert too. */
TEST(imgio_odd_width_every_pixel)
{
    enum { OW = 13, OH = 5, ON = OW * OH };
    static const long naxes[2] = {OW, OH};
    fitsfile *f = NULL;
    unsigned short u[ON];
    float fv[ON], px[ON];
    ac_imgin_t *in = NULL;
    ac_err_t e = {0};
    int st = 0;

    for (int i = 0; i < ON; i++) {
        u[i] = (unsigned short)(65535 - i * 1000);
        fv[i] = (float)i * -1.25f;
    }
    fv[ON - 1] = NAN;
    fits_create_file(&f, "!u.fits", &st);
    fits_create_img(f, USHORT_IMG, 2, (long *)naxes, &st);
    fits_write_img(f, TUSHORT, 1, ON, u, &st);
    fits_close_file(f, &st);
    fits_create_file(&f, "!f.fits", &st);
    fits_create_img(f, FLOAT_IMG, 2, (long *)naxes, &st);
    fits_write_img(f, TFLOAT, 1, ON, fv, &st);
    fits_close_file(f, &st);
    ASSERT_OK(st);
    ASSERT_OK(ac_imgio_open("u.fits", &in, &e));
    ASSERT_OK(ac_imgio_read_rows(in, 0, 3, px, &e));
    ASSERT_OK(ac_imgio_read_rows(in, 3, 2, px + 3 * OW, &e));
    ac_imgio_close(in);
    for (int i = 0; i < ON; i++)
        ASSERT_NEAR(px[i], 65535 - i * 1000, 0);
    ASSERT_OK(ac_imgio_open("f.fits", &in, &e));
    ASSERT_OK(ac_imgio_read_rows(in, 0, OH, px, &e));
    ac_imgio_close(in);
    for (int i = 0; i < ON - 1; i++)
        ASSERT_NEAR(px[i], i * -1.25, 0);
    ASSERT(isnan(px[ON - 1]));
}

/* A file cut short after it was opened (checked at open) fails the read with the byte. */
TEST(imgio_file_cut_after_open)
{
    static const char *const u16[] = {"BZERO   =                32768", NULL};
    short v[N] = {0};
    float px[N];
    ac_imgin_t *in = NULL;
    ac_err_t e = {0};

    mkfits("cut.fits", SHORT_IMG, 2, 1, u16, TSHORT, v);
    ASSERT_OK(ac_imgio_open("cut.fits", &in, &e));
    ASSERT_OK(truncate("cut.fits", 2880 + 100));
    ASSERT_EQ(ac_imgio_read_rows(in, 0, H, px, &e), AC_EFITS);
    ASSERT_CONTAINS(e.msg, "cut.fits: truncated: the file ended at byte 2980");
    ac_imgio_close(in);
}

TEST(imgio_load_image_refuses_with_message)
{
    ac_image_t img;
    ac_err_t e = {0};

    mkfits("rgb.fits", FLOAT_IMG, 3, 3, NULL, TFLOAT, NULL);
    ASSERT_EQ(ac_imgio_load_image("rgb.fits", &img, &e), AC_EFORMAT);
    ASSERT_CONTAINS(e.msg, "colour cubes are not supported");
    ASSERT_NULL(img.px);
}

TEST(imgio_gzip_file_read)
{
    fitsfile *f = NULL;
    long naxes[2] = {W, H};
    unsigned short v[N];
    unsigned char magic[2] = {0};
    FILE *fp;
    int st = 0;
    float *px;

    for (int i = 0; i < N; i++)
        v[i] = (unsigned short)(40000 + i * 5);
    /* cfitsio writes a gzip-compressed file when the name ends in .gz. */
    fits_create_file(&f, "!g.fits.gz", &st);
    fits_create_img(f, USHORT_IMG, 2, naxes, &st);
    fits_write_img(f, TUSHORT, 1, N, v, &st);
    fits_close_file(f, &st);
    ASSERT_OK(st);
    fp = fopen("g.fits.gz", "rb");
    ASSERT_NOT_NULL(fp);
    ASSERT_EQ(fread(magic, 1, 2, fp), 2);
    fclose(fp);
    ASSERT(magic[0] == 0x1f && magic[1] == 0x8b);
    px = readall("g.fits.gz", NULL);
    for (int i = 0; i < N; i++)
        ASSERT_NEAR(px[i], 40000 + 5 * i, 0);
    free(px);
}
