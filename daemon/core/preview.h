/*
 * preview.h - the pixels of a calibration preview (pure: no I/O): a light binned down
 * (and debayered) while it streams, an automatic stretch, and the side-by-side picture
 * with its caption (`astrocalctl preview`, docs/user-guide.md "Preview").
 *
 * Binning: each output pixel is the mean of a cell of cell x cell light pixels (non-finite
 * ones left out). For a colour (CFA) frame the cell is an even number of pixels, so that it
 * holds whole 2x2 Bayer quads, and each colour is averaged apart (ac_meta_cfa_color): the
 * superpixel debayer (one RGB pixel per quad, the two greens averaged) followed by binning.
 * No interpolation, so no colour fringes and no invented detail, at half the resolution of
 * a bilinear debayer, which a preview scaled down anyway never shows.
 *
 * Stretch (PixInsight's ScreenTransferFunction "auto stretch", as Siril's autostretch):
 * with the median and the normalised MAD (1.4826 MAD) of the image (of each colour apart:
 * an unlinked stretch, which shows a one-shot-colour sky grey rather than with the
 * camera's green cast, as PixInsight does with its channels unlinked), the shadows clip at
 * c0 = median - 2.8 MADN, the white point is the maximum, and a midtones transfer function
 *     MTF(m, x) = (m - 1) x / ((2m - 1) x - m)
 * maps the normalised median to the target background 0.25 (m = MTF(0.25, x_median)).
 * Every pixel becomes MTF(m, clamp((v - c0) / (white - c0))) in [0, 1], then 8 bits.
 *
 * Ownership: ac_preview_bin_t owns its sums (ac_preview_bin_free); images returned are
 * owned by the caller (free). Thread: pure functions, any thread.
 */
#ifndef AC_PREVIEW_H
#define AC_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"

/* The caption's font: printable ASCII, 5 x 7 pixels (font5x7.c). */
extern const uint8_t ac_font5x7[95][7];
#define AC_FONT_W 5
#define AC_FONT_H 7

typedef struct ac_preview_bin {
    ac_meta_t meta; /* the light's (size, CFA layout) */
    int cell;       /* light pixels per output pixel side (even for CFA) */
    int w, h, ch;   /* output size; ch 1 (mono) or 3 (colour) */
    double *sum;    /* w * h * ch */
    uint32_t *cnt;  /* w * h * ch */
} ac_preview_bin_t;

/* ac_preview_bin_init prepares b for a light described by m so that the output is at most
 * max_w pixels wide and max_h high (the smallest cell that fits; at least 1 output pixel
 * each way). 0, -EINVAL (no size, or a CFA frame smaller than 2 x 2), or -ENOMEM. */
int ac_preview_bin_init(ac_preview_bin_t *b, const ac_meta_t *m, int max_w, int max_h);

/* ac_preview_bin_rows adds rows [y0, y0 + n) of the light (width m->width, float). Rows
 * beyond the last whole cell are ignored. */
void ac_preview_bin_rows(ac_preview_bin_t *b, const float *rows, int y0, int n);

/* ac_preview_bin_image returns the binned image (w * h * ch floats, interleaved; NAN where
 * a cell had no finite pixel), owned by the caller; NULL when out of memory. */
float *ac_preview_bin_image(const ac_preview_bin_t *b);

void ac_preview_bin_free(ac_preview_bin_t *b);

/* The automatic stretch of one image. */
typedef struct ac_stf {
    double median, madn; /* of the finite values */
    double c0, white;    /* shadows clip and white point, in the image's units */
    double m;            /* midtones balance */
} ac_stf_t;

/* ac_preview_mtf is the midtones transfer function (MTF(m, 0) = 0, MTF(m, m) = 0.5,
 * MTF(m, 1) = 1). */
double ac_preview_mtf(double m, double x);

/* ac_preview_stf computes the stretch of px[0..n) (see the file comment). 0, -ERANGE (no
 * finite value) or -ENOMEM. */
int ac_preview_stf(const float *px, size_t n, ac_stf_t *s);

/* ac_preview_stretch maps v through s to [0, 1] (NAN to 0). */
double ac_preview_stretch(const ac_stf_t *s, double v);

/* A picture: RGB, 8 bits per channel, rows top to bottom. */
typedef struct ac_picture {
    int w, h;
    uint8_t *rgb; /* w * h * 3, owned (free) */
} ac_picture_t;

/* ac_preview_compose builds the preview: raw (left) and calibrated (right) images of the
 * same size (w x h x ch, as from ac_preview_bin_image), each stretched by its own
 * automatic stretch (each colour apart), a gap of 8 px between them, and the caption below:
 * its text
 * ('\n' separates lines; lines too long for the width wrap; characters outside printable
 * ASCII print as '?') in the 5 x 7 font at scale 1, or 2 when the picture is at least 800
 * px wide. The rows of a light are stored bottom-up in FITS terms; the picture shows the
 * first stored row at the top, as the light's pixel order is (ROWORDER aside). Fills
 * st_raw[3] and st_cal[3] (may be NULL) with the stretches used, red, green, blue (mono:
 * three copies). 0, -ERANGE (an image or colour without a finite pixel) or -ENOMEM. */
int ac_preview_compose(const float *raw, const float *cal, int w, int h, int ch,
                       const char *caption, ac_picture_t *pic, ac_stf_t st_raw[3],
                       ac_stf_t st_cal[3]);

/* ac_preview_text draws text (one line, clipped at the picture's edge) at (x, y) (top
 * left of the first glyph) in colour rgb at the given scale. */
void ac_preview_text(ac_picture_t *pic, int x, int y, int scale, const uint8_t rgb[3],
                     const char *text);

#endif
