/*
 * test-imgio-load.c - reading FITS images in strips, header cards and ac_imgio_read_header,
 * whole-image loads with their MD5 (against coreutils' md5sum) for every layout, odd widths,
 * files cut after opening, refusals with a message, gzip files. The inputs are written with
 * cfitsio directly (tests/support/imgiotest.h, tiny images).
 */
#include <errno.h>
#include <fitsio.h>
#include <stdio.h>
#include <unistd.h>

#include "imgio.h"
#include "imgiotest.h"
#include "test.h"
#include "tools.h"

#define W IMGIOTEST_W
#define H IMGIOTEST_H
#define N IMGIOTEST_N

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
    ASSERT_STR_EQ(img.md5, ac_tools_hash("md5sum", "bias.fits"));
    ac_image_free(&img);
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
    snprintf(expect, sizeof expect, "%s", ac_tools_hash("md5sum", path));
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
