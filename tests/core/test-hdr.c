/*
 * test-hdr.c - FITS header cards: formatting, lookup, output filtering.
 */
#include <errno.h>
#include <string.h>

#include "hdr.h"
#include "test.h"

TEST(hdr_format_string_card)
{
    ac_hdr_t h;
    char v[80];

    ac_hdr_init(&h);
    ASSERT_OK(ac_hdr_add_str(&h, "FILTER", "Ha", "filter name"));
    ASSERT_EQ(h.n, 1);
    ASSERT_STR_EQ(
        h.cards[0],
        "FILTER  = 'Ha      '           / filter name                                    ");
    ASSERT(ac_hdr_get_value(&h, "FILTER", v, sizeof v));
    ASSERT_STR_EQ(v, "Ha");
    ac_hdr_free(&h);
}

TEST(hdr_format_numbers_right_justified)
{
    ac_hdr_t h;
    double d;

    ac_hdr_init(&h);
    ASSERT_OK(ac_hdr_add_double(&h, "EXPTIME", 300, NULL));
    ASSERT_OK(ac_hdr_add_int(&h, "NCOMBINE", 20, NULL));
    ASSERT_OK(ac_hdr_add_bool(&h, "CALIBRAT", true, NULL));
    ASSERT_STR_EQ(
        h.cards[0],
        "EXPTIME =                300.0                                                  ");
    ASSERT_EQ(h.cards[1][29], '0');
    ASSERT_EQ(h.cards[2][29], 'T');
    ASSERT(ac_hdr_get_double(&h, "EXPTIME", &d));
    ASSERT_NEAR(d, 300.0, 0);
    ASSERT(ac_hdr_add_double(&h, "BAD", NAN, NULL) != 0);
    ac_hdr_free(&h);
}

TEST(hdr_quoted_numbers_and_quotes)
{
    ac_hdr_t h;
    double d;
    char v[80];

    ac_hdr_init(&h);
    ASSERT_OK(ac_hdr_append_raw(&h, "EXPTIME = '300.0   '"));
    ASSERT_OK(ac_hdr_add_str(&h, "OBJECT", "Barnard's Loop", NULL));
    ASSERT(ac_hdr_get_double(&h, "EXPTIME", &d));
    ASSERT_NEAR(d, 300.0, 0);
    ASSERT(ac_hdr_get_value(&h, "OBJECT", v, sizeof v));
    ASSERT_STR_EQ(v, "Barnard's Loop");
    ac_hdr_free(&h);
}

TEST(hdr_output_filter)
{
    ASSERT(ac_hdr_is_output_excluded("BZERO"));
    ASSERT(ac_hdr_is_output_excluded("NAXIS2"));
    ASSERT(ac_hdr_is_output_excluded("ZCMPTYPE"));
    ASSERT(ac_hdr_is_output_excluded("CHECKSUM"));
    ASSERT(ac_hdr_is_output_excluded("DATAMAX"));
    ASSERT(ac_hdr_is_output_excluded("TFORM1"));
    ASSERT(!ac_hdr_is_output_excluded("EXPTIME"));
    ASSERT(!ac_hdr_is_output_excluded("DATE-OBS"));
    ASSERT(!ac_hdr_is_output_excluded("TELESCOP"));
    ASSERT(!ac_hdr_is_output_excluded("HISTORY"));
}

TEST(hdr_history_wraps)
{
    ac_hdr_t h;
    char text[200];

    memset(text, 'a', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    text[70] = ' ';
    ac_hdr_init(&h);
    ASSERT_OK(ac_hdr_add_history(&h, text));
    ASSERT_EQ(h.n, 3);
    ASSERT(strncmp(h.cards[0], "HISTORY ", 8) == 0);
    ac_hdr_free(&h);
}

TEST(hdr_output_filter_keeps_observing_z_keywords)
{
    ASSERT(!ac_hdr_is_output_excluded("ZENITH"));
    ASSERT(!ac_hdr_is_output_excluded("ZD"));
    ASSERT(ac_hdr_is_output_excluded("ZTILE1"));
    ASSERT(ac_hdr_is_output_excluded("ZNAME2"));
    ASSERT(ac_hdr_is_output_excluded("ZQUANTIZ"));
    ASSERT(ac_hdr_is_output_excluded("ZNAXIS"));
}

TEST(hdr_replace_in_place_or_not_at_all)
{
    ac_hdr_t h, from;
    char v[80];

    ac_hdr_init(&h);
    ac_hdr_init(&from);
    ASSERT_OK(ac_hdr_add_str(&h, "BIASMD5", "", NULL));
    ASSERT_OK(ac_hdr_add_str(&h, "DARKMD5", "", NULL));
    ASSERT_OK(ac_hdr_add_history(&h, "after"));
    ASSERT_OK(ac_hdr_add_str(&from, "DARKMD5", "feedface", "dark"));
    ASSERT_OK(ac_hdr_replace(&h, &from));
    ASSERT_EQ(h.n, 3);
    ASSERT_STR_EQ(h.cards[1], from.cards[0]);
    ASSERT(ac_hdr_get_value(&h, "BIASMD5", v, sizeof v));
    ASSERT_STR_EQ(v, "");
    ASSERT(strncmp(h.cards[2], "HISTORY after", 13) == 0);
    /* A keyword h lacks: nothing is replaced. */
    ASSERT_OK(ac_hdr_add_str(&from, "FLATMD5", "x", NULL));
    ASSERT_OK(ac_hdr_set_str(&from, "DARKMD5", "beef", NULL));
    ASSERT_EQ(ac_hdr_replace(&h, &from), -ENOENT);
    ASSERT(strstr(h.cards[1], "feedface") != NULL);
    ac_hdr_free(&h);
    ac_hdr_free(&from);
}
