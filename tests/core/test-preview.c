/*
 * test-preview.c - the preview's pixels (core/preview.c): binning and the superpixel
 * debayer against hand-computed means, the midtones transfer function's defining
 * identities and PixInsight's auto-stretch rule (shadows at median - 2.8 MADN, the
 * median stretched to the target background 0.25), the 5x7 font's glyphs as drawn in
 * X11's 5x7 font, and the picture's layout.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "preview.h"
#include "test.h"

static ac_meta_t frame(int w, int h, const char *bayer)
{
    ac_meta_t m;

    memset(&m, 0, sizeof m);
    m.width = w;
    m.height = h;
    snprintf(m.bayerpat, sizeof m.bayerpat, "%s", bayer);
    return m;
}

TEST(preview_bin_mono_means_of_cells)
{
    ac_meta_t m = frame(5, 4, "");
    ac_preview_bin_t b;
    float px[20];
    float *img;

    for (int i = 0; i < 20; i++)
        px[i] = (float)i; /* value x + 5y */
    px[0] = NAN;          /* left out of its cell's mean */
    ASSERT_OK(ac_preview_bin_init(&b, &m, 2, 2));
    ASSERT_EQ(b.cell, 2);
    ASSERT_EQ(b.w, 2); /* the fifth column is not a whole cell */
    ASSERT_EQ(b.h, 2);
    ASSERT_EQ(b.ch, 1);
    ac_preview_bin_rows(&b, px, 0, 1); /* rows may come in any strips */
    ac_preview_bin_rows(&b, px + 5, 1, 3);
    img = ac_preview_bin_image(&b);
    ASSERT_NOT_NULL(img);
    ASSERT_NEAR(img[0], (1 + 5 + 6) / 3.0, 1e-6); /* 0 was NaN */
    ASSERT_NEAR(img[1], (2 + 3 + 7 + 8) / 4.0, 1e-6);
    ASSERT_NEAR(img[2], (10 + 11 + 15 + 16) / 4.0, 1e-6);
    ASSERT_NEAR(img[3], (12 + 13 + 17 + 18) / 4.0, 1e-6);
    free(img);
    ac_preview_bin_free(&b);
}

TEST(preview_bin_cfa_is_a_superpixel_debayer)
{
    ac_meta_t m = frame(8, 4, "GBRG");
    ac_preview_bin_t b;
    float px[32];
    float *img;

    /* GBRG: row 0 G B G B..., row 1 R G R G... Red 100 + x, green 200, blue 300 + y. */
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 8; x++) {
            bool even_row = (y & 1) == 0, even_col = (x & 1) == 0;
            px[y * 8 + x] = even_row == even_col ? 200.0f
                            : even_row           ? 300.0f + (float)y
                                                 : 100.0f + (float)x;
        }
    ASSERT_OK(ac_preview_bin_init(&b, &m, 4, 4));
    ASSERT_EQ(b.cell, 2); /* one superpixel per output pixel */
    ASSERT_EQ(b.w, 4);
    ASSERT_EQ(b.h, 2);
    ASSERT_EQ(b.ch, 3);
    ac_preview_bin_rows(&b, px, 0, 4);
    img = ac_preview_bin_image(&b);
    /* Output (1, 1) covers x 2..3, y 2..3: red at (2, 3), blue at (3, 2). */
    ASSERT_NEAR(img[(1 * 4 + 1) * 3 + 0], 102, 1e-6);
    ASSERT_NEAR(img[(1 * 4 + 1) * 3 + 1], 200, 1e-6);
    ASSERT_NEAR(img[(1 * 4 + 1) * 3 + 2], 302, 1e-6);
    free(img);
    ac_preview_bin_free(&b);
    /* Bigger cells stay even: 8 wide into at most 1 pixel needs cell 8. */
    ASSERT_OK(ac_preview_bin_init(&b, &m, 1, 4));
    ASSERT_EQ(b.cell % 2, 0);
    ASSERT_EQ(b.w, 1);
    ac_preview_bin_free(&b);
    m = frame(1, 1, "RGGB");
    ASSERT_EQ(ac_preview_bin_init(&b, &m, 4, 4), -EINVAL);
}

TEST(preview_mtf_identities)
{
    for (double m = 0.05; m < 1; m += 0.1) {
        ASSERT_NEAR(ac_preview_mtf(m, 0), 0, 0);
        ASSERT_NEAR(ac_preview_mtf(m, 1), 1, 0);
        ASSERT_NEAR(ac_preview_mtf(m, m), 0.5, 1e-12);
        ASSERT_NEAR(ac_preview_mtf(0.5, m), m, 1e-12); /* m = 0.5 is the identity */
    }
    /* The balance that takes x to t is MTF(t, x) (PixInsight's AutoSTF relies on it). */
    for (double x = 0.01; x < 1; x += 0.07)
        for (double t = 0.1; t < 1; t += 0.2)
            ASSERT_NEAR(ac_preview_mtf(ac_preview_mtf(t, x), x), t, 1e-9);
}

TEST(preview_stf_follows_the_auto_stretch_rule)
{
    float px[101];
    ac_stf_t s;

    /* 0..99 and one bright pixel: median 50, MAD 25 (of 0..99 plus 1000: |v - 50|). */
    for (int i = 0; i < 100; i++)
        px[i] = (float)i;
    px[100] = 1000.0f;
    ASSERT_OK(ac_preview_stf(px, 101, &s));
    ASSERT_NEAR(s.median, 50, 1e-9);
    ASSERT_NEAR(s.madn, 1.4826 * 25, 1e-6);
    ASSERT_NEAR(s.c0, 50 - 2.8 * 1.4826 * 25, 1e-6);
    ASSERT_NEAR(s.white, 1000, 0);
    ASSERT_NEAR(ac_preview_stretch(&s, s.median), 0.25, 1e-9);
    ASSERT_NEAR(ac_preview_stretch(&s, s.c0 - 10), 0, 0);
    ASSERT_NEAR(ac_preview_stretch(&s, 1000), 1, 0);
    ASSERT_NEAR(ac_preview_stretch(&s, NAN), 0, 0);
    /* A constant image does not divide by zero. */
    for (int i = 0; i < 101; i++)
        px[i] = 7.0f;
    ASSERT_OK(ac_preview_stf(px, 101, &s));
    ASSERT(isfinite(ac_preview_stretch(&s, 7.0)));
    px[0] = NAN;
    for (int i = 0; i < 101; i++)
        px[i] = NAN;
    ASSERT_EQ(ac_preview_stf(px, 101, &s), -ERANGE);
}

TEST(preview_font_and_text)
{
    /* X11 5x7 'A': .##.. #..#. #..#. ####. #..#. #..#. ..... */
    static const uint8_t A[7] = {0x0c, 0x12, 0x12, 0x1e, 0x12, 0x12, 0x00};
    static const uint8_t red[3] = {255, 0, 0};
    uint8_t rgb[12 * 7 * 3] = {0};
    ac_picture_t pic = {12, 7, rgb};

    ASSERT_EQ(memcmp(ac_font5x7['A' - 32], A, 7), 0);
    for (int r = 0; r < 7; r++)
        ASSERT_EQ(ac_font5x7[0][r], 0); /* space */
    ac_preview_text(&pic, 0, 0, 1, red, "AA");
    /* Row 3 of the first A is ####. ; the second A starts 6 px further. */
    for (int x = 0; x < 5; x++) {
        ASSERT_EQ(rgb[(3 * 12 + x) * 3], x < 4 ? 255 : 0);
        ASSERT_EQ(rgb[(3 * 12 + 6 + x) * 3 + 1], 0);
    }
    ASSERT_EQ(rgb[(0 * 12 + 1) * 3], 255);
    ASSERT_EQ(rgb[(0 * 12 + 0) * 3], 0);
    ASSERT_EQ(rgb[(0 * 12 + 7) * 3], 255); /* clipped at the edge, no overflow */
}

TEST(preview_compose_layout)
{
    float raw[30 * 4], cal[30 * 4];
    ac_picture_t pic;
    ac_stf_t sr[3], sc[3];

    for (int i = 0; i < 120; i++) {
        raw[i] = (float)(i % 30);
        cal[i] = 10.0f + (float)(i / 30);
    }
    /* 68 px wide: (68 - 2 * 4) / 6 = 10 characters a line; "three four" fits, the long
     * line wraps at its space. */
    ASSERT_OK(
        ac_preview_compose(raw, cal, 30, 4, 1, "three four\nfive sixty-seven", &pic, sr, sc));
    ASSERT_EQ(pic.w, 2 * 30 + 8);
    ASSERT_EQ(pic.h, 4 + 2 * 4 + 3 * (7 + 3)); /* three caption lines, scale 1 */
    ASSERT_NEAR(sr[0].median, 14.5, 1e-9);
    ASSERT_NEAR(sr[2].median, 14.5, 1e-9);
    ASSERT_NEAR(sc[1].median, 11.5, 1e-9);
    /* Grey: the three channels equal; the brightest raw column is white. */
    ASSERT_EQ(pic.rgb[29 * 3], 255);
    ASSERT_EQ(pic.rgb[29 * 3 + 1], pic.rgb[29 * 3 + 2]);
    /* The gap stays black. */
    ASSERT_EQ(pic.rgb[(30 + 3) * 3], 0);
    free(pic.rgb);
}

TEST(preview_compose_colour_is_stretched_per_colour)
{
    float raw[4 * 2 * 3], cal[4 * 2 * 3];
    ac_picture_t pic;
    ac_stf_t sr[3];

    /* A green cast: green twice as bright as red and blue, with the same spread. */
    for (int i = 0; i < 8; i++) {
        raw[i * 3 + 0] = raw[i * 3 + 2] = 100.0f + (float)i;
        raw[i * 3 + 1] = 200.0f + (float)i;
        cal[i * 3 + 0] = cal[i * 3 + 1] = cal[i * 3 + 2] = (float)i;
    }
    ASSERT_OK(ac_preview_compose(raw, cal, 4, 2, 3, "", &pic, sr, NULL));
    ASSERT_NEAR(sr[0].median, 103.5, 1e-9);
    ASSERT_NEAR(sr[1].median, 203.5, 1e-9);
    /* Unlinked: each colour of a pixel lands at the same level, grey. */
    for (int i = 0; i < 8; i++) {
        const uint8_t *o = pic.rgb + ((size_t)(i / 4) * (size_t)pic.w + (size_t)(i % 4)) * 3;
        ASSERT_EQ(o[0], o[1]);
        ASSERT_EQ(o[1], o[2]);
    }
    ASSERT_EQ(pic.h, 2); /* no caption */
    free(pic.rgb);
}
