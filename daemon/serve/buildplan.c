/*
 * buildplan.c - the catalogue side of master building: the plan (what to build from
 * which frames with which prerequisite masters, under which name), queueing the units,
 * preparing a claimed build and recording its outcome (see buildplan.h). The pool side,
 * ac_build_run, is in work/build.c.
 *
 * Thread: ac_build_scan, ac_build_prepare and ac_build_record on the loop thread (they
 * call the catalogue, which checks it); ac_build_plan and the rest are pure apart from
 * stat(2) of candidate output names.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "backoff.h"
#include "buildplan.h"
#include "isodate.h"
#include "log.h"
#include "night.h"
#include "stack.h"
#include "stats.h"
#include "util.h"

/* ---- Equipment of units and masters ---- */

/* What prerequisites are matched on (see ac_build_plan). */
struct equip {
    const char *instrument;
    int xbin, ybin;
    double gain, offset, exposure;
    const char *date; /* 'YYYY-MM-DD...' or NULL */
};

static const char *str_or(const char *s, const char *def)
{
    return s != NULL && s[0] != '\0' ? s : def;
}

/* median_exposure is the median exposure of the session's frames, as one of them (the
 * higher middle one for an even count); NAN when none has one, or without memory. */
static double median_exposure(const ac_calsession_t *u)
{
    double *v = malloc((u->frames.n > 0 ? u->frames.n : 1) * sizeof *v), med;
    size_t n = 0;

    if (v == NULL)
        return NAN;
    for (size_t i = 0; i < u->frames.n; i++)
        v[n++] = u->frames.items[i].exposure;
    med = ac_stats_median_high_d(v, n);
    free(v);
    return med;
}

static struct equip unit_equip(const ac_calsession_t *u)
{
    const ac_catalog_file_t *f = u->frames.n > 0 ? &u->frames.items[0] : NULL;
    struct equip q;

    q.instrument = str_or(u->imager, f != NULL ? f->instrument : NULL);
    q.xbin = u->xbin > 0 ? u->xbin : f != NULL ? f->xbin : 0;
    q.ybin = u->ybin > 0 ? u->ybin : f != NULL ? f->ybin : 0;
    q.gain = u->gain;
    q.offset = u->offset;
    q.exposure = isfinite(u->exposure) ? u->exposure : median_exposure(u);
    q.date = str_or(u->date, f != NULL ? f->date_obs : NULL);
    return q;
}

static struct equip master_equip(const ac_catalog_master_t *m)
{
    struct equip q = {m->instrument,
                      m->xbin,
                      m->ybin,
                      m->gain,
                      m->offset,
                      m->exposure,
                      str_or(m->source_session_date, m->creation_date)};
    return q;
}

/* Names: trimmed, case-folded; "" and "Unknown" are unknown and match anything. */
static bool name_match(const char *a, const char *b)
{
    char x[128], y[128];

    ac_strlcpy(x, a != NULL ? a : "", sizeof x);
    ac_strlcpy(y, b != NULL ? b : "", sizeof y);
    ac_str_trim(x);
    ac_str_trim(y);
    if (x[0] == '\0' || y[0] == '\0' || strcasecmp(x, "unknown") == 0 ||
        strcasecmp(y, "unknown") == 0)
        return true;
    return strcasecmp(x, y) == 0;
}

static bool num_match(double a, double b)
{
    return !isfinite(a) || !isfinite(b) || fabs(a - b) <= 1e-6 * fmax(1.0, fabs(a));
}

static bool equip_match(const struct equip *u, const struct equip *m, bool exposure,
                        const ac_build_opts_t *o)
{
    if (!name_match(u->instrument, m->instrument) || !num_match(u->gain, m->gain) ||
        !num_match(u->offset, m->offset))
        return false;
    if (u->xbin > 0 && m->xbin > 0 && (u->xbin != m->xbin || u->ybin != m->ybin))
        return false;
    if (exposure && isfinite(u->exposure) && isfinite(m->exposure) &&
        fabs(u->exposure - m->exposure) >
            fmax(o->exp_tol_s, o->exp_tol_pct / 100 * u->exposure))
        return false;
    return true;
}

/* Days since 1970-01-01 of an ISO date (isodate.h: its UTC date), or INT32_MIN. */
static long day_number(const char *d)
{
    double t;

    if (ac_isodate_parse_unix(d, &t, NULL) != 0)
        return INT32_MIN;
    return (long)floor(t / 86400.0);
}

static long nights_apart(const char *a, const char *b)
{
    long x = day_number(a), y = day_number(b);

    return x == INT32_MIN || y == INT32_MIN ? 100000 : labs(x - y);
}

static int master_kind(const ac_catalog_master_t *m)
{
    if (m->type == NULL)
        return -1;
    if (strcasecmp(m->type, "bias") == 0)
        return AC_CAL_BIAS;
    if (strcasecmp(m->type, "flat") == 0)
        return AC_CAL_FLAT;
    if (strcasecmp(m->type, "dark") == 0)
        return ac_catalog_name_is_flatdark(m->path) ? AC_CAL_FLATDARK : AC_CAL_DARK;
    return -1;
}

/* The best live master of kind for unit u (see ac_build_plan), or NULL. */
static const ac_catalog_master_t *best_master(const ac_build_world_t *w, ac_cal_kind_t kind,
                                              const struct equip *u, const ac_build_opts_t *o)
{
    const ac_catalog_master_t *best = NULL;
    long best_d = 0;

    if (w->masters == NULL)
        return NULL;
    for (size_t i = 0; i < w->masters->n; i++) {
        const ac_catalog_master_t *m = &w->masters->items[i];
        struct equip q = master_equip(m);
        long d;
        if (master_kind(m) != (int)kind || m->path == NULL ||
            !equip_match(u, &q, kind == AC_CAL_FLATDARK, o))
            continue;
        d = nights_apart(u->date, q.date);
        if (best == NULL || d < best_d || (d == best_d && m->rowid > best->rowid)) {
            best = m;
            best_d = d;
        }
    }
    return best;
}

/* The unit's temperature: the session's, else the mean of its frames'; NAN unknown. */
static double unit_temp(const ac_calsession_t *u)
{
    double sum = 0;
    int n = 0;

    if (isfinite(u->ccd_temp))
        return u->ccd_temp;
    for (size_t i = 0; i < u->frames.n; i++)
        if (isfinite(u->frames.items[i].ccd_temp)) {
            sum += u->frames.items[i].ccd_temp;
            n++;
        }
    return n > 0 ? sum / n : NAN;
}

/* The unit's observing night (night.h) from its earliest frame's DATE-OBS at the
 * configured offset, else its session date; "" when neither is known. */
static void unit_night(const ac_calsession_t *u, const ac_build_opts_t *o, char out[12])
{
    out[0] = '\0';
    for (size_t i = 0; i < u->frames.n; i++)
        if (u->frames.items[i].date_obs != NULL &&
            ac_night_of(u->frames.items[i].date_obs, o->utc_offset_h, out) == 0)
            return;
    if (u->date != NULL && strlen(u->date) >= AC_NIGHT_LEN)
        snprintf(out, 12, "%.*s", AC_NIGHT_LEN, u->date);
}

/* would_serve says whether master m would have been made from a unit like u: same kind,
 * camera, binning, gain and offset, exposure (darks, flat-darks), temperature by the rule of
 * meta.h (ac_temp_compare), and filter and telescope (flats). */
static bool would_serve(const ac_catalog_master_t *m, const ac_calsession_t *u,
                        const struct equip *q, const ac_build_opts_t *o)
{
    struct equip mq = master_equip(m);
    double ut = unit_temp(u);

    if (master_kind(m) != (int)u->kind || m->path == NULL ||
        !equip_match(q, &mq, u->kind == AC_CAL_DARK || u->kind == AC_CAL_FLATDARK, o))
        return false;
    /* meta.h's one temperature rule (catalogue values: sensor temperatures only); a
     * temperature known on one side only does not serve: the unit is built. */
    ac_temp_cmp_t tc;
    ac_temp_compare(ut, NAN, m->ccd_temp, NAN, o->max_temp_diff, "unit", "master", &tc);
    if (ac_temp_refused(tc.verdict))
        return false;
    if (u->kind == AC_CAL_FLAT) {
        const ac_catalog_file_t *f = u->frames.n > 0 ? &u->frames.items[0] : NULL;
        if (!name_match(str_or(u->filter, f != NULL ? f->filter : NULL), m->filter) ||
            !name_match(str_or(u->telescope, f != NULL ? f->telescope : NULL), m->telescope))
            return false;
    }
    return true;
}

/* existing_master looks for a live master that would serve unit u and is of its night:
 * returns it (the plan skips the unit), or NULL with the matching masters whose night is
 * not known yet in probe (their DATE-OBS is read by the build before it builds). A
 * master's night is its source session's date when it has one (compared with the unit's
 * session date), else the night astrocald read from its DATE-OBS. */
static const ac_catalog_master_t *
existing_master(const ac_calsession_t *u, const ac_build_world_t *w, const struct equip *q,
                const char *night, const ac_build_opts_t *o, const ac_catalog_master_t **probe,
                int *nprobe)
{
    *nprobe = 0;
    for (size_t i = 0; w->masters != NULL && i < w->masters->n; i++) {
        const ac_catalog_master_t *m = &w->masters->items[i];
        if (!would_serve(m, u, q, o))
            continue;
        if (m->source_session_date != NULL && m->source_session_date[0] != '\0') {
            if (u->date != NULL && nights_apart(u->date, m->source_session_date) == 0)
                return m;
        } else if (m->night != NULL && m->night[0] != '\0') {
            if (strcmp(m->night, night) == 0)
                return m;
        } else if (night[0] != '\0' && *nprobe < AC_BUILD_MAX_PROBE) {
            probe[(*nprobe)++] = m;
        }
    }
    return NULL;
}

static const ac_build_row_t *find_row(const ac_build_world_t *w, const char *key)
{
    for (size_t i = 0; w->builds != NULL && i < w->builds->n; i++)
        if (w->builds->items[i].key != NULL && strcmp(w->builds->items[i].key, key) == 0)
            return &w->builds->items[i];
    return NULL;
}

/* A unit of kind that will make a matching master: enough frames, no master yet, and no
 * failed or rejected build. NULL when none. */
static const ac_calsession_t *coming_unit(const ac_build_world_t *w, ac_cal_kind_t kind,
                                          const struct equip *u, const ac_build_opts_t *o)
{
    for (size_t i = 0; w->units != NULL && i < w->units->n; i++) {
        const ac_calsession_t *c = &w->units->items[i];
        const ac_build_row_t *r;
        struct equip q;
        if (c->kind != kind || c->master_rowid != 0 || (int)c->frames.n < o->min_files)
            continue;
        q = unit_equip(c);
        if (!equip_match(u, &q, kind == AC_CAL_FLATDARK, o))
            continue;
        r = find_row(w, c->key);
        if (r != NULL && (r->state == AC_BUILD_FAILED || r->state == AC_BUILD_REJECTED))
            continue;
        return c;
    }
    return NULL;
}

/* ---- The output name ---- */

static void sanitize(const char *s, char *out, size_t size)
{
    size_t n = 0;

    for (; s != NULL && *s != '\0' && n + 1 < size; s++) {
        char c = *s;
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '+';
        out[n++] = keep ? c : '_';
    }
    out[n] = '\0';
}

static bool path_taken(const ac_build_world_t *w, const char *path, bool on_disk)
{
    struct stat sb;

    for (size_t i = 0; w->masters != NULL && i < w->masters->n; i++)
        if (w->masters->items[i].path != NULL && strcmp(w->masters->items[i].path, path) == 0)
            return true;
    return on_disk && stat(path, &sb) == 0;
}

static int output_path(const ac_calsession_t *u, const ac_build_world_t *w,
                       const ac_build_opts_t *o, const char *reuse, char **out)
{
    static const char *const words[AC_CAL_NKINDS] = {"Bias", "Dark", "Flat", "FlatDark"};
    const ac_catalog_file_t *f = &u->frames.items[0];
    struct equip q = unit_equip(u);
    char tel[80], cam[80], filt[80], date[16] = "", base[512], path[4200], exp[32];
    double tsum = 0, temp;
    int tn = 0, n = 0;

    if (reuse != NULL && reuse[0] != '\0' && !path_taken(w, reuse, false))
        return (*out = strdup(reuse)) == NULL ? -ENOMEM : 0;
    sanitize(str_or(f->telescope, str_or(u->telescope, "Unknown")), tel, sizeof tel);
    sanitize(str_or(f->instrument, str_or(u->imager, "Unknown")), cam, sizeof cam);
    sanitize(u->kind == AC_CAL_FLAT ? str_or(u->filter, f->filter) : NULL, filt, sizeof filt);
    for (const char *d = q.date; d != NULL && *d != '\0' && *d != 'T' && *d != ' ' && n < 8;
         d++)
        if (*d >= '0' && *d <= '9')
            date[n++] = *d;
    date[n] = '\0';
    for (size_t i = 0; i < u->frames.n; i++)
        if (isfinite(u->frames.items[i].ccd_temp)) {
            tsum += u->frames.items[i].ccd_temp;
            tn++;
        }
    temp = tn > 0 ? round(tsum / tn) + 0.0 : 0.0;
    snprintf(exp, sizeof exp, "%g", isfinite(q.exposure) ? q.exposure : 0.0);
    snprintf(base, sizeof base, "Master-%s-%s-%s%s%s-%s-%ss-%dx%d-t%.0f", words[u->kind], tel,
             cam, filt[0] ? "-" : "", filt, date[0] ? date : "00000000", exp,
             q.xbin > 0 ? q.xbin : 1, q.ybin > 0 ? q.ybin : 1, temp);
    for (int k = 1; k <= 1000; k++) {
        int len = k == 1
                      ? snprintf(path, sizeof path, "%s/%s.fits", o->masters_dir, base)
                      : snprintf(path, sizeof path, "%s/%s-%d.fits", o->masters_dir, base, k);
        if (len < 0 || (size_t)len >= sizeof path || len >= 4096)
            return -ENAMETOOLONG;
        if (!path_taken(w, path, true))
            return (*out = strdup(path)) == NULL ? -ENOMEM : 0;
    }
    return -EEXIST;
}

/* ---- The plan ---- */

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

int ac_build_plan(const ac_calsession_t *unit, const ac_build_world_t *w,
                  const ac_build_opts_t *o, const char *reuse_path, ac_build_spec_t *out,
                  char *why, size_t why_size)
{
    static const ac_build_world_t empty = {NULL, NULL, NULL};
    const ac_catalog_master_t *bias = NULL, *fd = NULL, *have;
    const ac_catalog_master_t *probe[AC_BUILD_MAX_PROBE];
    const ac_calsession_t *coming = NULL;
    struct equip q;
    char note[256] = "", night[12];
    int rc, nprobe = 0;

    memset(out, 0, sizeof *out);
    if (why_size > 0)
        why[0] = '\0';
    if (w == NULL)
        w = &empty;
    if (unit == NULL || o == NULL || (unsigned)unit->kind >= AC_CAL_NKINDS ||
        o->masters_dir[0] == '\0')
        return -EINVAL;
    if (unit->master_rowid != 0) {
        snprintf(why, why_size, "master #%lld exists: %s", (long long)unit->master_rowid,
                 str_or(unit->master_path, "?"));
        return AC_BUILD_PLAN_SKIP;
    }
    if ((int)unit->frames.n < o->min_files || unit->frames.n < 2) {
        snprintf(why, why_size, "%zu %s frame%s, %d needed (min_files_per_master)",
                 unit->frames.n, ac_catalog_cal_kind_name(unit->kind),
                 unit->frames.n == 1 ? "" : "s", o->min_files > 2 ? o->min_files : 2);
        return AC_BUILD_PLAN_SKIP;
    }
    q = unit_equip(unit);
    unit_night(unit, o, night);
    if ((have = existing_master(unit, w, &q, night, o, probe, &nprobe)) != NULL) {
        snprintf(why, why_size, "master #%lld of the same night matches: %s (not built again)",
                 (long long)have->rowid, str_or(have->path, "?"));
        return AC_BUILD_PLAN_SKIP;
    }
    if (unit->kind == AC_CAL_FLAT) {
        fd = best_master(w, AC_CAL_FLATDARK, &q, o);
        bias = best_master(w, AC_CAL_BIAS, &q, o);
        if (fd == NULL && (coming = coming_unit(w, AC_CAL_FLATDARK, &q, o)) == NULL &&
            bias == NULL)
            coming = coming_unit(w, AC_CAL_BIAS, &q, o);
        if (coming != NULL) {
            snprintf(why, why_size, "waiting for the %s master of session %s",
                     coming->kind == AC_CAL_FLATDARK ? "flat-dark" : "bias", coming->key);
            return AC_BUILD_PLAN_WAIT;
        }
        if (fd == NULL && bias == NULL)
            snprintf(note, sizeof note,
                     "no matching flat-dark or bias master: flats combined raw");
    } else if (unit->kind == AC_CAL_DARK && o->dark_subtract_bias) {
        if ((bias = best_master(w, AC_CAL_BIAS, &q, o)) == NULL) {
            if ((coming = coming_unit(w, AC_CAL_BIAS, &q, o)) != NULL) {
                snprintf(why, why_size, "waiting for the bias master of session %s",
                         coming->key);
                return AC_BUILD_PLAN_WAIT;
            }
            snprintf(note, sizeof note, "no matching bias master: bias kept in the dark");
        }
    }
    out->kind = unit->kind;
    out->opts = *o;
    out->nsubs = (int)unit->frames.n;
    out->subs = calloc(unit->frames.n, sizeof *out->subs);
    out->key = dup_or_null(unit->key);
    out->session_id = dup_or_null(unit->session_id);
    out->session_date = dup_or_null(unit->date);
    out->bias_path = dup_or_null(bias != NULL ? bias->path : NULL);
    out->flatdark_path = dup_or_null(fd != NULL ? fd->path : NULL);
    rc = out->subs == NULL || out->key == NULL || out->session_id == NULL ? -ENOMEM : 0;
    ac_strlcpy(out->night, night, sizeof out->night);
    for (int i = 0; rc == 0 && i < nprobe; i++) {
        out->probe_rowid[i] = probe[i]->rowid;
        if ((out->probe_path[out->nprobe++] = strdup(probe[i]->path)) == NULL)
            rc = -ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < unit->frames.n; i++)
        if ((out->subs[i] = dup_or_null(unit->frames.items[i].path)) == NULL)
            rc = -ENOMEM;
    if (rc == 0)
        rc = output_path(unit, w, o, reuse_path, &out->output_path);
    if (rc != 0) {
        ac_build_spec_clear(out);
        snprintf(why, why_size, "cannot plan build %s: %s", str_or(unit->key, "?"),
                 ac_strerror(rc));
        return rc;
    }
    snprintf(why, why_size, "%s from %d frames%s%s%s%s%s%s", ac_path_base(out->output_path),
             out->nsubs, fd != NULL ? ", flat-dark " : "",
             fd != NULL ? ac_path_base(fd->path) : "", bias != NULL ? ", bias " : "",
             bias != NULL ? ac_path_base(bias->path) : "", note[0] ? "; " : "", note);
    return AC_BUILD_PLAN_READY;
}

/* ---- The catalogue side ---- */

/* newest_write returns the latest modification time (unix seconds) of a unit's frames. */
static double newest_write(const ac_calsession_t *u)
{
    double newest = 0;

    for (size_t i = 0; i < u->frames.n; i++) {
        struct stat st;
        if (u->frames.items[i].path != NULL && stat(u->frames.items[i].path, &st) == 0) {
            double t = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
            if (t > newest)
                newest = t;
        }
    }
    return newest;
}

/* Days a calibration session's night must be past before it can be recorded as decided:
 * until then frames of another kind may still join it (flat-darks in the morning). */
#define DECIDED_AFTER_DAYS 2

static bool unit_decided(const ac_calsession_t *u, const ac_build_row_list_t *rows)
{
    if (u->master_rowid != 0)
        return true;
    for (size_t i = 0; i < rows->n; i++)
        if (rows->items[i].key != NULL && strcmp(rows->items[i].key, u->key) == 0)
            return rows->items[i].state == AC_BUILD_DONE ||
                   rows->items[i].state == AC_BUILD_FAILED ||
                   rows->items[i].state == AC_BUILD_REJECTED;
    return false;
}

/* record_decided records the sessions of past nights whose every unit is decided, so that
 * later passes do not read their frames again (units are listed session by session). */
static int record_decided(ac_db_t *db, const ac_calsession_list_t *units, double now,
                          ac_err_t *e)
{
    ac_build_row_list_t rows = {0};
    const char **ids = NULL;
    size_t n = 0;
    int rc;

    if (units->n == 0)
        return 0;
    if ((rc = ac_catalog_build_list(db, &rows, e)) != 0)
        return rc;
    if ((ids = calloc(units->n, sizeof *ids)) == NULL) {
        ac_catalog_build_rows_free(&rows);
        return ac_err_set(e, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < units->n;) {
        const ac_calsession_t *u = &units->items[i];
        bool decided = true;
        double night;
        size_t j = i;
        for (; j < units->n && strcmp(units->items[j].session_id, u->session_id) == 0; j++)
            decided = decided && unit_decided(&units->items[j], &rows);
        if (decided && u->date != NULL && ac_isodate_parse_unix(u->date, &night, NULL) == 0 &&
            now - night > DECIDED_AFTER_DAYS * 86400.0)
            ids[n++] = u->session_id;
        i = j;
    }
    rc = ac_catalog_cal_sessions_decided(db, ids, n, e);
    free(ids);
    ac_catalog_build_rows_free(&rows);
    return rc;
}

int ac_build_scan(ac_db_t *db, ac_build_opts_t *o, int *queued, ac_err_t *e)
{
    ac_calsession_list_t units = {0};
    struct timespec now;
    int rc, n = 0;

    clock_gettime(CLOCK_REALTIME, &now);
    o->retry_in_s = 0;
    if (queued != NULL)
        *queued = 0;
    if ((rc = ac_catalog_cal_sessions(db, &units, e)) != 0)
        return rc;
    for (size_t i = 0; i < units.n && rc == 0; i++) {
        const ac_calsession_t *u = &units.items[i];
        bool added = false;
        if (u->master_rowid != 0 || (int)u->frames.n < o->min_files || u->frames.n < 2)
            continue;
        if (o->settle_s > 0) {
            /* Frames of this session may still be arriving: wait until they stop. */
            double age = (double)now.tv_sec + (double)now.tv_nsec / 1e9 - newest_write(u);
            if (age < o->settle_s) {
                double left = o->settle_s - age;
                if (o->retry_in_s == 0 || left < o->retry_in_s)
                    o->retry_in_s = left;
                continue;
            }
        }
        rc = ac_catalog_build_enqueue(db, u->key, u->kind, &added, e);
        n += added;
    }
    if (rc == 0)
        rc = record_decided(db, &units, (double)now.tv_sec, e);
    ac_catalog_calsessions_free(&units);
    if (queued != NULL)
        *queued = n;
    return rc;
}

int ac_build_prepare(ac_db_t *db, const char *key, const ac_build_opts_t *o,
                     ac_build_spec_t *spec, char *why, size_t why_size, ac_err_t *e)
{
    ac_calsession_t unit = {0};
    ac_calsession_list_t units = {0};
    ac_master_list_t masters = {0};
    ac_build_row_list_t builds = {0};
    ac_build_row_t row = {0};
    ac_build_world_t w = {&units, &masters, &builds};
    int rc;

    memset(spec, 0, sizeof *spec);
    if ((rc = ac_catalog_build_get(db, key, &row, e)) != 0 ||
        (rc = ac_catalog_cal_session(db, key, &unit, e)) != 0 ||
        (rc = ac_catalog_cal_sessions(db, &units, e)) != 0 ||
        (rc = ac_catalog_masters(db, &masters, e)) != 0 ||
        (rc = ac_catalog_build_list(db, &builds, e)) != 0)
        goto out;
    rc = ac_build_plan(&unit, &w, o, row.master_path, spec, why, why_size);
    if (rc < 0) {
        ac_err_set(e, rc, "%s", why);
        goto out;
    }
    if (rc == AC_BUILD_PLAN_READY) {
        int r = ac_catalog_build_set_path(db, key, spec->output_path, e);
        if (r != 0) {
            ac_build_spec_clear(spec);
            rc = r;
        }
    }
out:
    ac_catalog_build_row_clear(&row);
    ac_catalog_calsession_clear(&unit);
    ac_catalog_calsessions_free(&units);
    ac_catalog_masters_free(&masters);
    ac_catalog_build_rows_free(&builds);
    return rc;
}

/* The Masters notes: what was combined and how much was rejected. */
static void notes_text(const ac_build_spec_t *sp, const ac_build_result_t *r, char *out,
                       size_t size)
{
    int n = snprintf(out, size,
                     "astrocald: %s master from %d of %d frames, %s; rejected low %.3f %%, "
                     "high %.3f %%; noise %.2f ADU",
                     ac_catalog_cal_kind_name(sp->kind), r->nused, r->nsubs,
                     ac_stack_method_name(r->method), 100 * r->rej_low, 100 * r->rej_high,
                     r->noise);
    if (n < 0 || (size_t)n >= size)
        return;
    if (sp->kind == AC_CAL_DARK || sp->kind == AC_CAL_FLATDARK)
        n += snprintf(out + n, size - (size_t)n, "; %llu hot pixels; bias %s",
                      (unsigned long long)r->hot_pixels,
                      r->bias_subtracted ? "subtracted" : "kept");
    else if (sp->kind == AC_CAL_FLAT)
        n += snprintf(out + n, size - (size_t)n, "; level %.1f ADU; %s", r->flat_level,
                      r->flatdark_subtracted ? "flat-dark subtracted"
                      : r->bias_subtracted   ? "bias subtracted"
                                             : "raw");
    if (n > 0 && (size_t)n < size && r->dropped[0] != '\0')
        snprintf(out + n, size - (size_t)n, "; left out: %s", r->dropped);
}

static bool transient(int code)
{
    return code == AC_EBUSY || code == -ENOSPC || code == AC_ENOSPACE || code == -ENOMEM ||
           code == -EIO || code == -EAGAIN || code == -EMFILE || code == -ENFILE;
}

static double unix_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ac_build_record(ac_db_t *db, const ac_build_spec_t *spec, const ac_build_result_t *res,
                    int max_attempts, double backoff_s, int *what, ac_err_t *e)
{
    json_t *jq = ac_build_result_json(res);
    char *qjson = jq != NULL ? json_dumps(jq, JSON_COMPACT | JSON_REAL_PRECISION(8)) : NULL;
    char notes[1024], xb[16], yb[16];
    bool dark = spec->kind == AC_CAL_DARK || spec->kind == AC_CAL_FLATDARK;
    ac_build_row_t row = {0};
    int rc = 0, w = AC_BUILD_FAILED_ROW;

    json_decref(jq);
    /* Whatever the outcome, the nights read from the probed masters are kept. */
    for (int i = 0; i < spec->nprobe && i < AC_BUILD_MAX_PROBE; i++)
        if (res->probe_night[i][0] != '\0' &&
            (rc = ac_catalog_master_set_night(db, spec->probe_rowid[i], res->probe_night[i],
                                              res->probe_date_obs[i], e)) != 0)
            goto out;
    if (res->status == AC_BUILD_EXISTS) {
        char why[256];
        w = AC_BUILD_EXISTING_ROW;
        snprintf(why, sizeof why, "master #%lld of the same night matches (not built again)",
                 (long long)res->exists_rowid);
        rc = ac_catalog_build_finish(db, spec->key, AC_BUILD_DONE, why, NULL, e);
    } else if (res->status == AC_BUILT) {
        ac_master_rec_t rec = {0};
        snprintf(xb, sizeof xb, "%d", res->xbin > 0 ? res->xbin : 1);
        snprintf(yb, sizeof yb, "%d", res->ybin > 0 ? res->ybin : 1);
        notes_text(spec, res, notes, sizeof notes);
        rec.type = ac_catalog_cal_kind_master_type(spec->kind);
        rec.path = res->output_path;
        rec.md5 = res->md5;
        rec.file_size = res->file_size;
        rec.file_count = res->nused;
        rec.telescope = str_or(res->telescope, "Unknown");
        rec.instrument = str_or(res->instrument, "Unknown");
        rec.exposure = dark ? res->exptime_text : NULL;
        rec.xbin = xb;
        rec.ybin = yb;
        rec.ccd_temp = res->ccd_temp_text;
        rec.gain = res->gain_text;
        rec.offset = res->offset_text;
        rec.filter = spec->kind == AC_CAL_FLAT ? res->filter : NULL;
        rec.source_session_id = spec->session_id;
        rec.notes = notes;
        rec.quality = res->score;
        rec.validated = true;
        rc = ac_catalog_build_register(db, spec->key, &rec, qjson, NULL, NULL, e);
        if (rc == -EEXIST) {
            ac_err_t fe = {0};
            rc = ac_catalog_build_finish(db, spec->key, AC_BUILD_FAILED, e->msg, qjson, &fe);
        } else {
            w = AC_BUILD_REGISTERED;
        }
    } else if (res->status == AC_BUILD_REJECT) {
        w = AC_BUILD_REJECTED_ROW;
        rc = ac_catalog_build_finish(db, spec->key, AC_BUILD_REJECTED, res->reason, qjson, e);
        if (rc == 0)
            ac_log_warn("master %s rejected: %s", ac_path_base(res->output_path), res->reason);
    } else if (res->err.code == AC_ECANCELED) {
        w = AC_BUILD_DEFERRED_ROW;
        rc = ac_catalog_build_defer(db, spec->key, res->err.msg, unix_now(), false, e);
    } else if (transient(res->err.code) &&
               (rc = ac_catalog_build_get(db, spec->key, &row, e)) == 0 &&
               row.attempts + 1 < max_attempts) {
        w = AC_BUILD_DEFERRED_ROW;
        /* backoff_s doubled per attempt, at most an hour. */
        rc = ac_catalog_build_defer(
            db, spec->key, res->err.msg,
            unix_now() + ac_backoff_delay(backoff_s, 3600.0, row.attempts), true, e);
    } else {
        rc = ac_catalog_build_finish(db, spec->key, AC_BUILD_FAILED, res->err.msg, qjson, e);
    }
out:
    ac_catalog_build_row_clear(&row);
    free(qjson);
    if (what != NULL)
        *what = w;
    return rc;
}
