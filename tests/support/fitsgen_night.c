/*
 * fitsgen_night.c - a synthetic observing night on disk: masters/, lights/ and optional raw
 * calibration frames (bias/, darks/, flats/, flatdarks/), plus ISO date arithmetic.
 *
 * Ownership: nothing outlives a call. Thread: one thread per ac_gen_t.
 */
#include "fitsgen_priv.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

#define DAY 86400.0

/* parse_iso reads "YYYY-MM-DDTHH:MM:SS[.fff]" as seconds since the epoch (UTC). */
static int parse_iso(const char *iso, double *out)
{
    struct tm tm;
    int yr, mo, dd, hh, mi, n = 0;
    double ss;

    if (!iso ||
        sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%lf%n", &yr, &mo, &dd, &hh, &mi, &ss, &n) != 6 ||
        iso[n] != '\0' || mo < 1 || mo > 12 || dd < 1 || dd > 31 || hh > 23 || mi > 59 ||
        ss < 0 || ss >= 61)
        return -EINVAL;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = yr - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = dd;
    tm.tm_hour = hh;
    tm.tm_min = mi;
    *out = (double)timegm(&tm) + ss;
    return 0;
}

static void format_iso(double t, char *out, size_t size)
{
    double whole = floor(t);
    long ms = lround((t - whole) * 1000);
    time_t s = (time_t)whole;
    struct tm tm;

    if (ms >= 1000) {
        s += 1;
        ms -= 1000;
    }
    gmtime_r(&s, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ld", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

int ac_gen_date_add(const char *iso, double seconds, char *out, size_t size)
{
    double t;

    if (parse_iso(iso, &t) < 0 || !isfinite(seconds))
        return -EINVAL;
    format_iso(t + seconds, out, size);
    return 0;
}

void ac_gen_night_default(ac_gen_night_t *n, const ac_gen_camera_t *cam)
{
    memset(n, 0, sizeof *n);
    n->n_lights = 8;
    n->exposure = 300;
    n->gap = 5;
    n->object = "M 31";
    n->filter = cam->bayerpat[0] ? NULL : "L";
    n->start = "2024-03-15T21:30:00.250";
    n->masters = AC_GEN_MASTER_ASTROFILER;
    n->ncombine = 20;
    n->exptime_string = true;
    n->flat_exposure = 2;
    n->bitpix = 16;
}

/* mkdirs creates path and its parents (mkdir -p). */
static int mkdirs(const char *path, ac_err_t *e)
{
    char buf[4096];
    size_t len = ac_strlcpy(buf, path, sizeof buf);

    if (len >= sizeof buf)
        return ac_err_set(e, -ENAMETOOLONG, "fitsgen: path too long: %s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return ac_err_set(e, -errno, "fitsgen: mkdir %s: %s", buf, strerror(errno));
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return 0;
}

/* clean copies s with every character other than letters, digits, '.', '+' and '-'
 * replaced by '_' (file-name safe). */
static void clean(const char *s, char *out, size_t size)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < size; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = (isalnum(ch) || ch == '.' || ch == '+' || ch == '-') ? (char)ch : '_';
    }
    out[i] = '\0';
}

/* emit writes frame f at dir/name with the given date and reports it. */
static int emit(ac_gen_t *g, const ac_gen_night_t *n, ac_gen_frame_t *f, double date,
                const char *dir, const char *name, ac_err_t *e)
{
    char iso[40];
    char *path = NULL;
    int rc;

    format_iso(date, iso, sizeof iso);
    f->date_obs = iso;
    if (!(path = ac_asprintf("%s/%s", dir, name)))
        return ac_err_set(e, -ENOMEM, "fitsgen: out of memory");
    rc = ac_gen_write_frame(g, f, path, e);
    if (rc == 0 && n->on_file)
        n->on_file(path, n->ud);
    free(path);
    f->date_obs = NULL;
    return rc;
}

static int write_masters(ac_gen_t *g, const ac_gen_night_t *n, double t0, const char *mdir,
                         ac_err_t *e)
{
    ac_gen_frame_t f;
    int rc;

    ac_gen_frame_default(&f, AC_GEN_BIAS);
    f.master = n->masters;
    f.ncombine = n->ncombine;
    f.exptime_string = n->exptime_string && n->masters == AC_GEN_MASTER_ASTROFILER;
    if ((rc = emit(g, n, &f, t0 - DAY, mdir, "master_bias.fits", e)) < 0)
        return rc;
    f.type = AC_GEN_DARK;
    f.exptime = n->exposure;
    if ((rc = emit(g, n, &f, t0 - DAY + 600, mdir, "master_dark.fits", e)) < 0)
        return rc;
    f.type = AC_GEN_FLAT;
    f.exptime = n->flat_exposure;
    f.filter = n->filter;
    f.flat_normalised = n->flat_normalised;
    return emit(g, n, &f, t0 - 3600, mdir, "master_flat.fits", e);
}

static int write_raw_cal(ac_gen_t *g, const ac_gen_night_t *n, double t0, const char *dir,
                         ac_err_t *e)
{
    static const char *const sub[4] = {"bias", "darks", "flats", "flatdarks"};
    static const ac_gen_type_t type[4] = {AC_GEN_BIAS, AC_GEN_DARK, AC_GEN_FLAT,
                                          AC_GEN_FLATDARK};
    const char *ext = n->fz ? ".fits.fz" : ".fits";
    char filt[80], name[512];
    char *sdir = NULL;
    int rc = 0;

    clean(n->filter && n->filter[0] ? n->filter : "NoFilter", filt, sizeof filt);
    for (int k = 0; k < 4 && rc == 0; k++) {
        ac_gen_frame_t f;
        double t = 0, step = 1;
        if (!(sdir = ac_asprintf("%s/%s", dir, sub[k])))
            return ac_err_set(e, -ENOMEM, "fitsgen: out of memory");
        if ((rc = mkdirs(sdir, e)) < 0)
            break;
        ac_gen_frame_default(&f, type[k]);
        f.fz = n->fz;
        switch (type[k]) {
        case AC_GEN_BIAS:
            t = t0 - DAY - 3600;
            break;
        case AC_GEN_DARK:
            f.exptime = n->exposure;
            t = t0 - DAY;
            step = n->exposure + n->gap;
            break;
        case AC_GEN_FLAT:
            f.exptime = n->flat_exposure;
            f.filter = n->filter;
            t = t0 - 3600;
            step = n->flat_exposure + 1;
            break;
        default:
            f.exptime = n->flat_exposure;
            t = t0 - 1800;
            step = n->flat_exposure + 1;
            break;
        }
        for (int i = 0; i < n->raw_cal && rc == 0; i++) {
            f.index = i + 1;
            if (type[k] == AC_GEN_BIAS)
                snprintf(name, sizeof name, "Bias_%04d%s", i + 1, ext);
            else if (type[k] == AC_GEN_DARK)
                snprintf(name, sizeof name, "Dark_%gs_%04d%s", f.exptime, i + 1, ext);
            else if (type[k] == AC_GEN_FLAT)
                snprintf(name, sizeof name, "Flat_%s_%gs_%04d%s", filt, f.exptime, i + 1, ext);
            else
                snprintf(name, sizeof name, "FlatDark_%gs_%04d%s", f.exptime, i + 1, ext);
            rc = emit(g, n, &f, t + i * step, sdir, name, e);
        }
        free(sdir);
        sdir = NULL;
    }
    free(sdir);
    return rc;
}

int ac_gen_write_night(ac_gen_t *g, const ac_gen_night_t *n, const char *dir, ac_err_t *e)
{
    char obj[80], filt[80], name[512];
    char *mdir = NULL, *ldir = NULL;
    double t0;
    int rc;

    if (n->n_lights < 0 || !(n->exposure > 0) || !(n->gap >= 0) || n->raw_cal < 0)
        return ac_err_set(e, -EINVAL, "fitsgen: bad night (lights %d, exposure %g, gap %g)",
                          n->n_lights, n->exposure, n->gap);
    if (parse_iso(n->start, &t0) < 0)
        return ac_err_set(e, -EINVAL, "fitsgen: bad start date '%s'",
                          n->start ? n->start : "(null)");
    if (n->cross_midnight) {
        /* n / 2 lights start before the next 00:00 UTC, the others after it; the
         * fraction of a second of the start is kept. */
        t0 = (floor(t0 / DAY) + 1) * DAY - (n->n_lights / 2) * (n->exposure + n->gap) +
             (t0 - floor(t0));
    }
    mdir = ac_asprintf("%s/masters", dir);
    ldir = ac_asprintf("%s/lights", dir);
    if (!mdir || !ldir) {
        rc = ac_err_set(e, -ENOMEM, "fitsgen: out of memory");
        goto out;
    }
    if ((rc = mkdirs(ldir, e)) < 0)
        goto out;
    if (n->masters != AC_GEN_RAW) {
        if ((rc = mkdirs(mdir, e)) < 0 || (rc = write_masters(g, n, t0, mdir, e)) < 0)
            goto out;
    }
    if (n->raw_cal > 0 && (rc = write_raw_cal(g, n, t0, dir, e)) < 0)
        goto out;
    clean(n->object, obj, sizeof obj);
    clean(n->filter, filt, sizeof filt);
    for (int i = 0; i < n->n_lights; i++) {
        ac_gen_frame_t f;
        ac_gen_frame_default(&f, AC_GEN_LIGHT);
        f.exptime = n->exposure;
        f.object = n->object;
        f.filter = n->filter;
        f.index = i + 1;
        f.fz = n->fz;
        f.bitpix = n->bitpix;
        snprintf(name, sizeof name, "%s%s%s_%gs_%04d%s", obj, filt[0] ? "_" : "", filt,
                 n->exposure, i + 1, n->fz ? ".fits.fz" : ".fits");
        if ((rc = emit(g, n, &f, t0 + i * (n->exposure + n->gap), ldir, name, e)) < 0)
            goto out;
    }
out:
    free(mdir);
    free(ldir);
    return rc;
}
