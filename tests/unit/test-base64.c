/*
 * test-base64.c - common/util.c's base64 against RFC 4648's test vectors, and the PNG
 * encoder (io/pngout.c) decoded by Python's PIL: size, mode, pixels and text chunk.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "pngout.h"
#include "test.h"
#include "util.h"

TEST(base64_rfc4648_vectors_and_errors)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    unsigned char *out;
    size_t len;

    for (int i = 0; i < 7; i++) {
        char *e = ac_base64_encode((const unsigned char *)plain[i], strlen(plain[i]));
        ASSERT_STR_EQ(e, enc[i]);
        free(e);
        ASSERT_OK(ac_base64_decode(enc[i], strlen(enc[i]), &out, &len));
        ASSERT_EQ(len, strlen(plain[i]));
        ASSERT_EQ(memcmp(out, plain[i], len), 0);
        free(out);
    }
    ASSERT_EQ(ac_base64_decode("Zm9v!mFy", 8, &out, &len), -EINVAL);
    ASSERT_EQ(ac_base64_decode("Z", 1, &out, &len), -EINVAL);
    {
        unsigned char all[256];
        char *e;
        for (int i = 0; i < 256; i++)
            all[i] = (unsigned char)i;
        e = ac_base64_encode(all, 256);
        ASSERT_OK(ac_base64_decode(e, strlen(e), &out, &len));
        ASSERT_EQ(len, 256);
        ASSERT_EQ(memcmp(out, all, 256), 0);
        free(out);
        free(e);
    }
}

TEST(png_encode_decodes_with_pil)
{
    uint8_t rgb[3 * 2 * 3];
    ac_picture_t pic = {3, 2, rgb};
    const char *text[] = {"Comment", "hello preview", NULL};
    unsigned char *png = NULL;
    size_t len = 0;
    ac_err_t e = {0};
    char *out = NULL;
    FILE *f;

    for (int i = 0; i < 18; i++)
        rgb[i] = (uint8_t)(i * 10);
    ASSERT_OK(ac_png_encode(&pic, text, &png, &len, &e));
    f = fopen("t.png", "wb");
    ASSERT_NOT_NULL(f);
    ASSERT_EQ(fwrite(png, 1, len, f), len);
    fclose(f);
    free(png);
    {
        ac_harness_t h;
        ac_harness_init(&h);
        ASSERT_EQ(
            ac_harness_run(&h,
                           (const char *[]){"/usr/bin/python3", "-c",
                                            "from PIL import Image\n"
                                            "im = Image.open('t.png'); im.load()\n"
                                            "print(im.size, im.mode, list(im.getdata())[4],"
                                            " im.info.get('Comment'))\n",
                                            NULL},
                           30000, &out, NULL),
            0);
        ac_harness_free(&h);
    }
    ASSERT_CONTAINS(out, "(3, 2) RGB (120, 130, 140) hello preview");
    free(out);
}
