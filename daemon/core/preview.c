/*
 * preview.c - binning, debayering, the automatic stretch and the picture of a preview
 * (see preview.h).
 */
#include "preview.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

#define STF_SHADOWS (-2.8)
#define STF_TARGET 0.25
#define GAP 8
#define MARGIN 4

int ac_preview_bin_init(ac_preview_bin_t *b, const ac_meta_t *m, int max_w, int max_h)
{
    bool cfa = ac_meta_cfa_color(m, 0, 0) >= 0;
    int cell = cfa ? 2 : 1;
    size_t n;

    memset(b, 0, sizeof *b);
    if (m->width < cell || m->height < cell || max_w < 1 || max_h < 1)
        return -EINVAL;
    while (m->width / cell > max_w || m->height / cell > max_h)
        cell += cfa ? 2 : 1;
    b->meta = *m;
    b->cell = cell;
    b->w = m->width / cell;
    b->h = m->height / cell;
    b->ch = cfa ? 3 : 1;
    n = (size_t)b->w * (size_t)b->h * (size_t)b->ch;
    b->sum = calloc(n, sizeof *b->sum);
    b->cnt = calloc(n, sizeof *b->cnt);
    if (b->sum == NULL || b->cnt == NULL) {
        ac_preview_bin_free(b);
        return -ENOMEM;
    }
    return 0;
}

void ac_preview_bin_rows(ac_preview_bin_t *b, const float *rows, int y0, int n)
{
    int lw = b->meta.width;

    for (int r = 0; r < n; r++) {
        int y = y0 + r, oy = y / b->cell;
        const float *row = rows + (size_t)r * (size_t)lw;
        /* Colours alternate with the column's parity: look them up once per row. */
        int col[2] = {0, 0};

        if (oy >= b->h)
            break;
        if (b->ch == 3) {
            col[0] = ac_meta_cfa_color(&b->meta, 0, y);
            col[1] = ac_meta_cfa_color(&b->meta, 1, y);
        }
        for (int x = 0; x < b->w * b->cell; x++) {
            float v = row[x];
            size_t i;

            if (!isfinite(v))
                continue;
            i = ((size_t)oy * (size_t)b->w + (size_t)(x / b->cell)) * (size_t)b->ch +
                (size_t)col[x & 1];
            b->sum[i] += v;
            b->cnt[i]++;
        }
    }
}

float *ac_preview_bin_image(const ac_preview_bin_t *b)
{
    size_t n = (size_t)b->w * (size_t)b->h * (size_t)b->ch;
    float *img = malloc(n * sizeof *img);

    if (img == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        img[i] = b->cnt[i] > 0 ? (float)(b->sum[i] / b->cnt[i]) : NAN;
    return img;
}

void ac_preview_bin_free(ac_preview_bin_t *b)
{
    free(b->sum);
    free(b->cnt);
    b->sum = NULL;
    b->cnt = NULL;
}

double ac_preview_mtf(double m, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    if (x == m)
        return 0.5;
    return (m - 1) * x / ((2 * m - 1) * x - m);
}

int ac_preview_stf(const float *px, size_t n, ac_stf_t *s)
{
    double med, mad, mx = -INFINITY, xm;
    int rc = ac_stats_median_mad(px, n, 0, &med, &mad);

    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (isfinite(px[i]) && px[i] > mx)
            mx = px[i];
    s->median = med;
    s->madn = 1.4826 * mad;
    s->white = mx;
    s->c0 = med + STF_SHADOWS * s->madn;
    if (s->madn == 0 || s->c0 >= med)
        s->c0 = med; /* a flat image: the median is black */
    if (s->white <= s->c0) {
        s->m = 0.5;
        s->white = s->c0 + 1;
        return 0;
    }
    xm = (med - s->c0) / (s->white - s->c0);
    s->m = xm > 0 ? ac_preview_mtf(STF_TARGET, xm) : 0.5;
    return 0;
}

double ac_preview_stretch(const ac_stf_t *s, double v)
{
    if (!isfinite(v))
        return 0;
    return ac_preview_mtf(s->m, (v - s->c0) / (s->white - s->c0));
}

/* half_stf computes the stretch of each channel of an image (mono: one, copied to all
 * three). */
static int half_stf(const float *img, int w, int h, int ch, ac_stf_t st[3])
{
    size_t n = (size_t)w * (size_t)h;
    float *tmp;
    int rc = 0;

    if (ch == 1) {
        rc = ac_preview_stf(img, n, &st[0]);
        st[1] = st[2] = st[0];
        return rc;
    }
    tmp = malloc(n * sizeof *tmp);
    if (tmp == NULL)
        return -ENOMEM;
    for (int c = 0; c < 3 && rc == 0; c++) {
        for (size_t i = 0; i < n; i++)
            tmp[i] = img[i * 3 + (size_t)c];
        rc = ac_preview_stf(tmp, n, &st[c]);
    }
    free(tmp);
    return rc;
}

/* paint writes an image, stretched channel by channel, into pic at column x0, row y0. */
static void paint(ac_picture_t *pic, const float *img, int w, int h, int ch,
                  const ac_stf_t st[3], int x0, int y0)
{
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *o = pic->rgb + ((size_t)(y0 + y) * (size_t)pic->w + (size_t)(x0 + x)) * 3;
            const float *p = img + ((size_t)y * (size_t)w + (size_t)x) * (size_t)ch;
            for (int c = 0; c < 3; c++) {
                double v = ac_preview_stretch(&st[c], p[ch == 3 ? c : 0]);
                o[c] = (uint8_t)lrint(v * 255.0);
            }
        }
    }
}

void ac_preview_text(ac_picture_t *pic, int x, int y, int scale, const uint8_t rgb[3],
                     const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0' && *p != '\n'; p++) {
        int g = *p >= 32 && *p <= 126 ? *p - 32 : '?' - 32;
        for (int r = 0; r < AC_FONT_H * scale; r++) {
            for (int c = 0; c < AC_FONT_W * scale; c++) {
                int px = x + c, py = y + r;
                if (!(ac_font5x7[g][r / scale] & (0x10 >> (c / scale))))
                    continue;
                if (px < 0 || py < 0 || px >= pic->w || py >= pic->h)
                    continue;
                memcpy(pic->rgb + ((size_t)py * (size_t)pic->w + (size_t)px) * 3, rgb, 3);
            }
        }
        x += (AC_FONT_W + 1) * scale;
    }
}

/* wrap_lines splits text into lines of at most cols characters (at '\n', else at the last
 * space that fits, else anywhere) into lines[] (each NUL-terminated in buf); returns the
 * count (at most max). */
static int wrap_lines(const char *text, int cols, char *buf, size_t size, char **lines, int max)
{
    int n = 0;
    size_t o = 0;

    while (*text != '\0' && n < max && o + 1 < size) {
        size_t len = strcspn(text, "\n"), take = len;
        if ((int)len > cols) {
            take = (size_t)cols;
            for (size_t i = (size_t)cols; i > (size_t)cols / 2; i--)
                if (text[i] == ' ') {
                    take = i;
                    break;
                }
        }
        if (o + take + 1 > size)
            take = size - o - 1;
        lines[n++] = buf + o;
        memcpy(buf + o, text, take);
        buf[o + take] = '\0';
        o += take + 1;
        text += take;
        while (*text == ' ')
            text++;
        if (*text == '\n')
            text++;
    }
    return n;
}

int ac_preview_compose(const float *raw, const float *cal, int w, int h, int ch,
                       const char *caption, ac_picture_t *pic, ac_stf_t st_raw[3],
                       ac_stf_t st_cal[3])
{
    static const uint8_t white[3] = {230, 230, 230};
    ac_stf_t sr[3], sc[3];
    char buf[4096], *lines[32];
    int rc, scale, cols, nlines, line_h;

    memset(pic, 0, sizeof *pic);
    if ((rc = half_stf(raw, w, h, ch, sr)) != 0 || (rc = half_stf(cal, w, h, ch, sc)) != 0)
        return rc;
    pic->w = 2 * w + GAP;
    scale = pic->w >= 800 ? 2 : 1;
    cols = (pic->w - 2 * MARGIN) / ((AC_FONT_W + 1) * scale);
    if (cols < 1)
        cols = 1;
    nlines = wrap_lines(caption != NULL ? caption : "", cols, buf, sizeof buf, lines, 32);
    line_h = (AC_FONT_H + 3) * scale;
    pic->h = h + (nlines > 0 ? 2 * MARGIN + nlines * line_h : 0);
    pic->rgb = calloc((size_t)pic->w * (size_t)pic->h * 3, 1);
    if (pic->rgb == NULL)
        return -ENOMEM;
    paint(pic, raw, w, h, ch, sr, 0, 0);
    paint(pic, cal, w, h, ch, sc, w + GAP, 0);
    for (int i = 0; i < nlines; i++)
        ac_preview_text(pic, MARGIN, h + MARGIN + i * line_h, scale, white, lines[i]);
    if (st_raw != NULL)
        memcpy(st_raw, sr, sizeof sr);
    if (st_cal != NULL)
        memcpy(st_cal, sc, sizeof sc);
    return 0;
}
