/*
 * pngout.c - PNG encoding into memory (see pngout.h).
 */
#include "pngout.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

struct membuf {
    unsigned char *p;
    size_t len, cap;
    bool oom;
};

static void write_cb(png_structp png, png_bytep data, png_size_t n)
{
    struct membuf *m = png_get_io_ptr(png);

    if (m->oom)
        return;
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 65536;
        unsigned char *p;
        while (cap < m->len + n)
            cap *= 2;
        p = realloc(m->p, cap);
        if (p == NULL) {
            m->oom = true;
            png_error(png, "out of memory");
        }
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->len, data, n);
    m->len += n;
}

static void flush_cb(png_structp png)
{
    (void)png;
}

static void error_cb(png_structp png, png_const_charp msg)
{
    ac_err_t *e = png_get_error_ptr(png);

    ac_err_set(e, AC_EFORMAT, "PNG: %s", msg);
    png_longjmp(png, 1);
}

static void warning_cb(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg;
}

int ac_png_encode(const ac_picture_t *pic, const char *const *text, unsigned char **out,
                  size_t *len, ac_err_t *e)
{
    png_structp png = NULL;
    png_infop info = NULL;
    struct membuf m = {0};
    png_text txt[16];
    int ntext = 0;
    png_bytep *volatile rows = NULL;

    *out = NULL;
    *len = 0;
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, e, error_cb, warning_cb);
    if (png == NULL)
        return ac_err_set(e, -ENOMEM, "PNG: out of memory");
    info = png_create_info_struct(png);
    rows = malloc((size_t)pic->h * sizeof *rows);
    if (info == NULL || rows == NULL) {
        png_destroy_write_struct(&png, info != NULL ? &info : NULL);
        free(rows);
        return ac_err_set(e, -ENOMEM, "PNG: out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        free(m.p);
        return m.oom ? ac_err_set(e, -ENOMEM, "PNG: out of memory") : e->code;
    }
    png_set_write_fn(png, &m, write_cb, flush_cb);
    png_set_IHDR(png, info, (png_uint_32)pic->w, (png_uint_32)pic->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    for (int i = 0; text != NULL && text[2 * i] != NULL && ntext < 16; i++) {
        memset(&txt[ntext], 0, sizeof txt[ntext]);
        txt[ntext].compression = PNG_TEXT_COMPRESSION_NONE;
        txt[ntext].key = (png_charp)text[2 * i];
        txt[ntext].text = (png_charp)text[2 * i + 1];
        ntext++;
    }
    if (ntext > 0)
        png_set_text(png, info, txt, ntext);
    for (int y = 0; y < pic->h; y++)
        rows[y] = pic->rgb + (size_t)y * (size_t)pic->w * 3;
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    *out = m.p;
    *len = m.len;
    return 0;
}
