/*
 * fitsgen_write.c - writing synthetic frames and masters with cfitsio (headers, strips,
 * tile compression) and the deliberately broken files (see fitsgen.h).
 *
 * Data go out in strips of about a million pixels with one fits_write_pix each; the
 * file is created with fits_create_diskfile (no extended-filename parsing of the path).
 *
 * Ownership: nothing outlives a call. Thread: one thread per ac_gen_t.
 */
#include "fitsgen_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define DEFAULT_DATE "2024-03-15T21:30:00.000"

enum fill { FILL_MODEL = 0, FILL_NAN, FILL_ZERO };

static int fits_fail(ac_err_t *e, int status, const char *path, const char *what)
{
    char msg[FLEN_STATUS];
    fits_get_errstatus(status, msg);
    return ac_err_set(e, AC_EFITS, "fitsgen: %s: %s: cfitsio error %d (%s)", path, what, status,
                      msg);
}

static const char *type_name(const struct acg_fctx *c, int names)
{
    static const char *lng[] = {"Light Frame", "Dark Frame", "Flat Field", "Bias Frame",
                                "Flat Dark"};
    static const char *shrt[] = {"LIGHT", "DARK", "FLAT", "BIAS", "DARKFLAT"};
    static const char *mast[] = {"Master Light", "Master Dark", "Master Flat", "Master Bias",
                                 "Master Flat Dark"};
    if (c->f.imagetyp)
        return c->f.imagetyp;
    if (c->f.master != AC_GEN_RAW)
        return mast[c->f.type];
    return names == AC_GEN_NAMES_SHORT ? shrt[c->f.type] : lng[c->f.type];
}

/* key_num writes an integral value as an integer card, others with `dec` decimals. */
static void key_num(fitsfile *ff, const char *key, double v, int dec, const char *cmt, int *st)
{
    if (v == floor(v) && fabs(v) < 1e15)
        fits_write_key_lng(ff, key, (LONGLONG)v, cmt, st);
    else
        fits_write_key_fixdbl(ff, key, v, dec, cmt, st);
}

static void key_str(fitsfile *ff, const char *key, const char *v, const char *cmt, int *st)
{
    fits_write_key_str(ff, key, v, cmt, st);
}

static void key_bool(fitsfile *ff, const char *key, int v, const char *cmt, int *st)
{
    fits_write_key_log(ff, key, v, cmt, st);
}

static void write_header(const ac_gen_t *g, fitsfile *ff, const struct acg_fctx *c, int *st)
{
    const ac_gen_camera_t *cam = &g->cam;
    const ac_gen_frame_t *f = &c->f;
    const bool alt = cam->keys == AC_GEN_KEYS_ALT;
    const bool filt =
        f->filter && f->filter[0] && (f->type == AC_GEN_LIGHT || f->type == AC_GEN_FLAT);

    key_str(ff, alt ? "FRAME" : "IMAGETYP", type_name(c, cam->typenames), "Type of frame", st);
    if (f->exptime_string) {
        char s[32];
        snprintf(s, sizeof s, "%.1f", f->exptime);
        key_str(ff, alt ? "EXPOSURE" : "EXPTIME", s, "[s] Exposure time", st);
    } else {
        fits_write_key_fixdbl(ff, alt ? "EXPOSURE" : "EXPTIME", f->exptime, 3,
                              "[s] Exposure time", st);
    }
    key_str(ff, "DATE-OBS", f->date_obs ? f->date_obs : DEFAULT_DATE,
            "UTC start of the exposure", st);
    if (!f->no_temperature) {
        fits_write_key_fixdbl(ff, alt ? "CCD_TEMP" : "CCD-TEMP", c->temp, 1,
                              "[C] Sensor temperature", st);
        fits_write_key_fixdbl(ff, alt ? "SET_TEMP" : "SET-TEMP", cam->set_temp, 1,
                              "[C] Cooler set point", st);
    }
    fits_write_key_lng(ff, alt ? "BINX" : "XBINNING", cam->xbin, "Binning factor in X", st);
    fits_write_key_lng(ff, alt ? "BINY" : "YBINNING", cam->ybin, "Binning factor in Y", st);
    key_num(ff, "GAIN", cam->gain, 2, "Sensor gain setting", st);
    key_num(ff, alt ? "BLKLEVEL" : "OFFSET", cam->offset, 2, "Sensor offset setting", st);
    fits_write_key_fixdbl(ff, "EGAIN", cam->egain, 3, "[e-/ADU] Electrons per ADU", st);
    fits_write_key_fixdbl(ff, "XPIXSZ", 3.76 * cam->xbin, 2, "[um] Pixel width", st);
    fits_write_key_fixdbl(ff, "YPIXSZ", 3.76 * cam->ybin, 2, "[um] Pixel height", st);
    if (filt)
        key_str(ff, "FILTER", f->filter, "Filter", st);
    key_str(ff, "TELESCOP", cam->telescop, "Telescope", st);
    key_str(ff, "INSTRUME", cam->instrume, "Camera", st);
    if (cam->observer[0])
        key_str(ff, "OBSERVER", cam->observer, "Observer", st);
    if (f->type == AC_GEN_LIGHT && f->object && f->object[0])
        key_str(ff, "OBJECT", f->object, "Target", st);
    if (isfinite(cam->sitelat) && isfinite(cam->sitelong)) {
        fits_write_key_fixdbl(ff, "SITELAT", cam->sitelat, 4, "[deg] Site latitude", st);
        fits_write_key_fixdbl(ff, "SITELONG", cam->sitelong, 4, "[deg] Site longitude, east",
                              st);
    }
    if (cam->bayerpat[0]) {
        key_str(ff, "BAYERPAT", cam->bayerpat, "Bayer colour filter array pattern", st);
        fits_write_key_lng(ff, "XBAYROFF", cam->xbayroff, "Bayer pattern X offset", st);
        fits_write_key_lng(ff, "YBAYROFF", cam->ybayroff, "Bayer pattern Y offset", st);
        key_str(ff, "ROWORDER", "TOP-DOWN", "Order of the rows in the image", st);
    }
    key_str(ff, "SWCREATE", cam->swcreate, "Software that created the file", st);
    if (f->master == AC_GEN_RAW)
        return;
    fits_write_key_lng(ff, "NCOMBINE", f->ncombine, "Number of frames combined", st);
    if (f->master == AC_GEN_MASTER_ASTROFILER) {
        char h[72];
        snprintf(h, sizeof h, "Median of %d frames; bias and dark current not removed",
                 f->ncombine);
        fits_write_history(ff, h, st);
        return;
    }
    if (f->type == AC_GEN_BIAS) {
        fits_write_history(ff, "Mean of bias frames", st);
        return;
    }
    key_bool(ff, "BIASSUB", 1, "Bias subtracted", st);
    if (f->type == AC_GEN_DARK || f->type == AC_GEN_FLATDARK)
        key_bool(ff, "DARKBIAS", 0, "The dark does not contain the bias", st);
    if (f->type == AC_GEN_FLAT) {
        key_bool(ff, "DARKSUB", 1, "Flat dark subtracted", st);
        key_bool(ff, "FLATNORM", f->flat_normalised, "Normalised to a mean of 1", st);
    }
}

/* put_strip converts n rows of float values to the file's type and writes them. */
static int put_strip(fitsfile *ff, int bitpix, int w, long y0, long plane, int n,
                     const float *v, void *conv, int *st)
{
    long fp[3] = {1, y0 + 1, plane + 1};
    size_t np = (size_t)n * (size_t)w;

    if (bitpix == 16) {
        unsigned short *u = conv;
        for (size_t i = 0; i < np; i++)
            u[i] = (unsigned short)v[i];
        return fits_write_pix(ff, TUSHORT, fp, (LONGLONG)np, u, st);
    }
    if (bitpix == 32) {
        int *u = conv;
        for (size_t i = 0; i < np; i++)
            u[i] = (int)v[i];
        return fits_write_pix(ff, TINT, fp, (LONGLONG)np, u, st);
    }
    return fits_write_pix(ff, TFLOAT, fp, (LONGLONG)np, (void *)v, st);
}

/* write_image writes frame f (fill: the model, NaN or zeros) with naxis3 planes. */
static int write_image(ac_gen_t *g, const ac_gen_frame_t *f, const char *path, int fill,
                       int naxis3, ac_err_t *e)
{
    const int w = g->cam.width, h = g->cam.height;
    struct acg_fctx c;
    fitsfile *ff = NULL;
    float *vals = NULL, *scratch = NULL;
    void *conv = NULL;
    int st = 0, rc = 0;
    long naxes[3] = {w, h, naxis3};
    int rows = (int)((1L << 20) / w);

    if ((rc = ac_gen__fctx(g, f, &c, e)) < 0)
        return rc;
    if (fill != FILL_MODEL)
        c.f.bitpix = -32;
    rows = rows < 1 ? 1 : rows > h ? h : rows;
    vals = malloc((size_t)rows * (size_t)w * sizeof *vals);
    scratch = malloc(4 * (size_t)w * sizeof *scratch);
    conv = malloc((size_t)rows * (size_t)w * 4);
    if (!vals || !scratch || !conv) {
        rc = ac_err_set(e, -ENOMEM, "fitsgen: %s: out of memory", path);
        goto out;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        rc = ac_err_set(e, -errno, "fitsgen: %s: cannot replace: %s", path, strerror(errno));
        goto out;
    }
    if (fits_create_diskfile(&ff, (char *)path, &st)) {
        rc = fits_fail(e, st, path, "create");
        goto out;
    }
    if (c.f.fz) {
        fits_set_compression_type(ff, c.f.bitpix < 0 ? GZIP_2 : RICE_1, &st);
        if (c.f.bitpix < 0)
            fits_set_quantize_level(ff, 0.0f, &st); /* lossless */
    }
    int imgtype = c.f.bitpix == 16 ? USHORT_IMG : c.f.bitpix == 32 ? LONG_IMG : FLOAT_IMG;
    fits_create_img(ff, imgtype, naxis3 > 1 ? 3 : 2, naxes, &st);
    write_header(g, ff, &c, &st);
    if (st) {
        rc = fits_fail(e, st, path, "write header");
        goto out;
    }
    for (int p = 0; p < (naxis3 > 1 ? naxis3 : 1); p++) {
        struct acg_fctx cp = c;
        if (p > 0) /* each plane of a cube has its own noise */
            cp.nkey = c.nkey ^ ac_gen__mix((uint64_t)p);
        for (int y = 0; y < h; y += rows) {
            int n = h - y < rows ? h - y : rows;
            if (fill == FILL_MODEL) {
                ac_gen__strip(g, &cp, y, n, vals, scratch);
            } else {
                float v = fill == FILL_NAN ? NAN : 0.0f;
                for (size_t i = 0; i < (size_t)n * (size_t)w; i++)
                    vals[i] = v;
            }
            if (put_strip(ff, c.f.bitpix, w, y, p, n, vals, conv, &st)) {
                rc = fits_fail(e, st, path, "write data");
                goto out;
            }
        }
    }
out:
    if (ff) {
        int st2 = 0;
        fits_close_file(ff, &st2);
        if (st2 && rc == 0)
            rc = fits_fail(e, st2, path, "close");
    }
    free(vals);
    free(scratch);
    free(conv);
    return rc;
}

int ac_gen_write_frame(ac_gen_t *g, const ac_gen_frame_t *f, const char *path, ac_err_t *e)
{
    return write_image(g, f, path, FILL_MODEL, 1, e);
}

int ac_gen_write_masters(ac_gen_t *g, int master, const char *dir, ac_err_t *e)
{
    static const ac_gen_type_t types[] = {AC_GEN_BIAS, AC_GEN_DARK, AC_GEN_FLAT};
    static const char *const names[] = {"bias.fits", "dark.fits", "flat.fits"};
    char path[4096];
    int rc = 0;

    for (int i = 0; i < 3 && rc == 0; i++) {
        ac_gen_frame_t f;

        ac_gen_frame_default(&f, types[i]);
        f.master = master;
        if (g->cam.bayerpat[0] != '\0')
            f.filter = NULL;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        rc = ac_gen_write_frame(g, &f, path, e);
    }
    return rc;
}

static const char *const bad_names[AC_GEN_BAD_COUNT] = {
    "truncated.fits", "header-only.fits", "wrong-size.fits", "nan-master-dark.fits",
    "zero-flat.fits", "not-fits.fits",    "rgb-cube.fits",
};

const char *ac_gen_bad_name(ac_gen_bad_t kind)
{
    return (unsigned)kind < AC_GEN_BAD_COUNT ? bad_names[kind] : "unknown";
}

/* cut_data truncates a written single-HDU uncompressed image file to its header plus
 * keep_num / keep_den of its data (keep_num 0: header only). */
static int cut_data(const char *path, size_t data_bytes, size_t keep_num, size_t keep_den,
                    ac_err_t *e)
{
    struct stat sb;
    size_t padded = (data_bytes + 2879) / 2880 * 2880;

    if (stat(path, &sb) < 0)
        return ac_err_set(e, -errno, "fitsgen: %s: %s", path, strerror(errno));
    off_t start = sb.st_size - (off_t)padded;
    off_t len = start + (off_t)(data_bytes * keep_num / keep_den);
    if (keep_num)
        len |= 1; /* an odd size: the cut falls inside a pixel */
    if (truncate(path, len) < 0)
        return ac_err_set(e, -errno, "fitsgen: %s: truncate: %s", path, strerror(errno));
    return 0;
}

int ac_gen_write_bad(ac_gen_t *g, ac_gen_bad_t kind, const char *path, ac_err_t *e)
{
    ac_gen_frame_t f;
    size_t npx = (size_t)g->cam.width * (size_t)g->cam.height;
    int rc = 0;

    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    if (g->cam.bayerpat[0])
        f.filter = NULL;
    switch (kind) {
    case AC_GEN_BAD_TRUNCATED:
    case AC_GEN_BAD_HEADER_ONLY:
        if ((rc = write_image(g, &f, path, FILL_MODEL, 1, e)) < 0)
            return rc;
        return cut_data(path, npx * 2, kind == AC_GEN_BAD_TRUNCATED ? 1 : 0, 2, e);
    case AC_GEN_BAD_WRONG_SIZE: {
        ac_gen_camera_t cam = g->cam;
        ac_gen_t *g2;
        cam.width += 4;
        if (!(g2 = ac_gen_new(&cam, e)))
            return e ? e->code : -ENOMEM;
        rc = write_image(g2, &f, path, FILL_MODEL, 1, e);
        ac_gen_free(g2);
        return rc;
    }
    case AC_GEN_BAD_NAN_MASTER:
        ac_gen_frame_default(&f, AC_GEN_DARK);
        f.master = AC_GEN_MASTER_FLOAT;
        return write_image(g, &f, path, FILL_NAN, 1, e);
    case AC_GEN_BAD_ZERO_FLAT:
        ac_gen_frame_default(&f, AC_GEN_FLAT);
        if (g->cam.bayerpat[0])
            f.filter = NULL;
        f.master = AC_GEN_MASTER_FLOAT;
        return write_image(g, &f, path, FILL_ZERO, 1, e);
    case AC_GEN_BAD_NOT_FITS: {
        static const char text[] = "This is not a FITS file.\nIt is plain text with a "
                                   ".fits name, as a misnamed log file would be.\n";
        FILE *fp = fopen(path, "w");
        if (!fp)
            return ac_err_set(e, -errno, "fitsgen: %s: %s", path, strerror(errno));
        fputs(text, fp);
        if (fclose(fp) != 0)
            return ac_err_set(e, -errno, "fitsgen: %s: %s", path, strerror(errno));
        return 0;
    }
    case AC_GEN_BAD_RGB_CUBE:
        return write_image(g, &f, path, FILL_MODEL, 3, e);
    default:
        return ac_err_set(e, -EINVAL, "fitsgen: unknown bad file kind %d", (int)kind);
    }
}
