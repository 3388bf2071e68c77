/*
 * match.c - choosing the masters for a light session and explaining the choice (see
 * match.h for the rules and the ranking).
 *
 * Pure code over plain structs: no I/O, no globals. Each candidate is evaluated against the
 * light (and the flat-darks against the chosen flat) into an `ev` of ranking keys; every
 * hard-rule failure is listed in the candidate's note. The best passing candidate of each
 * type is chosen; the others get the first ranking key in which they lose. Dates are
 * read by isodate.c; the plan text and the names are in match_text.c.
 * Thread: pure functions, any thread.
 */
#include "match.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isodate.h"
#include "meta.h"
#include "util.h"

#define SET_TEMP_EQ 0.1 /* SET-TEMP values this close are the same set point */
#define EPS 1e-6

/* Ranking keys of a candidate that passed (see match.h). */
typedef struct ev {
    bool pass;
    int blocked;   /* 1 when it needs a master bias and none matches */
    int later;     /* 1 when from a night after the light's */
    int expclass;  /* darks: 0 equal, 1 scaled, 2 unknown */
    long ndist;    /* |nights| or LONG_MAX without a date */
    int nkw;       /* optional keywords equal */
    double dexp;   /* |exposure difference|, INFINITY unknown */
    double dtemp;  /* |temperature difference|, INFINITY unknown */
    double ddate;  /* |DATE-OBS difference| in seconds, INFINITY unknown */
    double cdate;  /* the master's date in seconds, -INFINITY unknown */
    double exp;    /* the master's exposure (for messages) */
    bool fatal;    /* a mismatch no forced pin accepts (match.h, ac_match_pin_t) */
    double kforce; /* darks: the scale a forced pin uses (t_light / t_dark), else 1 */
    bool excluded; /* another master of its type is pinned */
} ev_t;

/* What every evaluation needs about the light. */
typedef struct ctx {
    const ac_match_light_t *light;
    const ac_match_opts_t *o;
    bool night_known, date_known;
    long night; /* days since 1970-01-01 */
    double date;
} ctx_t;

/* vcatf appends a formatted clause to buf, after sep when buf is not empty. */
__attribute__((format(printf, 4, 0))) static void vcatf(char *buf, size_t size, const char *sep,
                                                        const char *fmt, va_list ap)
{
    size_t len = strlen(buf);

    if (len > 0)
        len += (size_t)snprintf(buf + len, size - len, "%s", sep);
    if (len + 1 >= size)
        return;
    vsnprintf(buf + len, size - len, fmt, ap);
}

__attribute__((format(printf, 4, 5))) static void catf(char *buf, size_t size, const char *sep,
                                                       const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vcatf(buf, size, sep, fmt, ap);
    va_end(ap);
}

/* addf appends a clause separated by "; " (lists of reasons and warnings). */
#define addf(buf, size, ...) catf(buf, size, "; ", __VA_ARGS__)

static bool known(double x)
{
    return isfinite(x);
}

static bool num_equal(double a, double b)
{
    return fabs(a - b) <= 1e-6 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

/* name_known: not empty, not blank and not AstroFiler's 'Unknown'. */
static bool name_known(const char *s)
{
    return !ac_meta_filter_equal(s, "") && !ac_meta_filter_equal(s, "unknown");
}

/* parse_iso reads an ISO date (isodate.h) into its UTC day number (days since 1970-01-01)
 * and seconds since 1970-01-01T00:00:00 UTC. */
static bool parse_iso(const char *s, long *days, double *secs)
{
    if (ac_isodate_parse_unix(s, secs, NULL) != 0)
        return false;
    *days = (long)floor(*secs / 86400.0);
    return true;
}

/* frame_night finds the night of a frame: its own night string, else the calendar date of
 * its DATE-OBS. */
static bool frame_night(const char *night, const char *date, long *days)
{
    double s;
    long d;

    if (night[0] != '\0')
        return parse_iso(night, days, &s);
    if (date[0] != '\0' && parse_iso(date, &d, &s)) {
        *days = d;
        return true;
    }
    return false;
}

static void desc_nights(const ac_match_note_t *nt, char *buf, size_t size)
{
    long n = nt->nights;

    if (nt->nights == AC_MATCH_NIGHTS_UNKNOWN)
        snprintf(buf, size, "no date");
    else if (n == 0)
        snprintf(buf, size, "same night as the light");
    else
        snprintf(buf, size, "%ld night%s %s the light", labs(n), labs(n) == 1 ? "" : "s",
                 n < 0 ? "before" : "after");
}

/* check_temp applies the temperature rule (meta.h, ac_temp_compare: the one the engine
 * and the builder apply too) to master m and ref (the light, or the flat for a flat-dark)
 * and adds a reason to rej when it refuses the master. */
static void check_temp(const ac_match_equip_t *m, const ac_match_equip_t *ref, bool ref_is_flat,
                       double max, ev_t *ev, char *rej, size_t rsz, char *warn, size_t wsz)
{
    ac_temp_cmp_t tc;

    ac_temp_compare(ref->ccd_temp, ref->set_temp, m->ccd_temp, m->set_temp, max,
                    ref_is_flat ? "flat" : "light", "master", &tc);
    ev->dtemp = isfinite(tc.diff) ? tc.diff : INFINITY;
    if (ac_temp_refused(tc.verdict))
        addf(rej, rsz, "%s", tc.text);
    else if (tc.verdict == AC_TEMP_NONE)
        addf(warn, wsz, "%s", tc.text);
}

/* check_number: a setting known on both sides counts as a matched keyword when equal and
 * rejects the master ("<what> m != l") when not. */
static void check_number(double m, double l, const char *what, ev_t *ev, char *rej, size_t rsz)
{
    if (!known(m) || !known(l))
        return;
    if (num_equal(m, l))
        ev->nkw++;
    else
        addf(rej, rsz, "%s %g != %g", what, m, l);
}

/* check_equip applies the equipment rules shared by every master type. */
static void check_equip(const ac_match_equip_t *m, const ac_match_equip_t *l, ev_t *ev,
                        char *rej, size_t rsz)
{
    size_t before;

    if (name_known(m->instrument) && name_known(l->instrument) &&
        !ac_meta_filter_equal(m->instrument, l->instrument))
        addf(rej, rsz, "instrument '%s' != light's '%s'", m->instrument, l->instrument);
    /* Size, binning and the Bayer pattern make the pixel arithmetic wrong: fatal. */
    before = strlen(rej);
    if (m->width > 0 && m->height > 0 && l->width > 0 && l->height > 0 &&
        (m->width != l->width || m->height != l->height))
        addf(rej, rsz, "size %dx%d != %dx%d", m->width, m->height, l->width, l->height);
    if ((m->xbin > 0 && l->xbin > 0 && m->xbin != l->xbin) ||
        (m->ybin > 0 && l->ybin > 0 && m->ybin != l->ybin))
        addf(rej, rsz, "binning %dx%d != %dx%d", m->xbin, m->ybin, l->xbin, l->ybin);
    if (m->bayerpat[0] != '\0' && l->bayerpat[0] != '\0' &&
        !ac_meta_filter_equal(m->bayerpat, l->bayerpat))
        addf(rej, rsz, "Bayer pattern '%s' != '%s'", m->bayerpat, l->bayerpat);
    ev->fatal = ev->fatal || strlen(rej) != before;
    check_number(m->gain, l->gain, "gain", ev, rej, rsz);
    check_number(m->offset, l->offset, "offset", ev, rej, rsz);
    if (name_known(m->readout) && name_known(l->readout)) {
        if (ac_meta_filter_equal(m->readout, l->readout))
            ev->nkw++;
        else
            addf(rej, rsz, "readout mode '%s' != '%s'", m->readout, l->readout);
    }
    if (known(m->set_temp) && known(l->set_temp) &&
        fabs(m->set_temp - l->set_temp) <= SET_TEMP_EQ)
        ev->nkw++;
}

/* check_dark_exposure decides k for a dark. */
static void check_dark_exposure(const ctx_t *c, const ac_match_cand_t *m, bool bias_ok,
                                ev_t *ev, ac_match_note_t *nt)
{
    double tl = c->light->eq.exposure, td = m->eq.exposure, k;

    /* A bias-free dark leaves the light's bias in place: it needs a master bias. */
    ev->blocked = m->dark_has_bias == AC_MATCH_NO && !bias_ok;
    if (!known(tl) || !known(td)) {
        /* Never silently wrong: without both exposures nobody knows whether the dark must
         * be scaled, so k = 1 would be a guess. */
        ev->expclass = 2;
        addf(nt->reason, sizeof nt->reason,
             "exposure unknown on the %s (no EXPTIME, EXPOSURE or EXP): cannot tell whether "
             "the dark must be scaled",
             known(td) ? "light" : "master");
        return;
    }
    ev->dexp = fabs(tl - td);
    if (td > 0)
        ev->kforce = tl / td;
    if (ev->dexp <= fmax(c->o->exp_tol_s, c->o->exp_tol_pct / 100.0 * td)) {
        ev->kforce = 1;
        nt->k = 1;
        return;
    }
    if (!c->o->allow_dark_scaling) {
        addf(nt->reason, sizeof nt->reason, "exposure %g s != light's %g s (scaling disabled)",
             td, tl);
        return;
    }
    k = td > 0 ? tl / td : INFINITY;
    if (!(k <= c->o->dark_max_scale + EPS)) {
        addf(nt->reason, sizeof nt->reason, "exposure %g s needs k=%.2f > %.2f", td, k,
             c->o->dark_max_scale);
        return;
    }
    if (m->dark_has_bias != AC_MATCH_NO && !bias_ok) {
        ev->fatal = true; /* scaling would scale the bias too */
        addf(nt->reason, sizeof nt->reason,
             "exposure %g s needs k=%.2f, but the dark %s the bias and no master bias matches",
             td, k, m->dark_has_bias == AC_MATCH_YES ? "contains" : "may contain");
        return;
    }
    ev->expclass = 1;
    nt->k = k;
    addf(nt->warning, sizeof nt->warning, "exposure %g s scaled by k=%.2f to the light's %g s",
         td, k, tl);
}

/* check_date fills the date keys and applies allow_later and max_age_days. */
static void check_date(const ctx_t *c, const ac_match_cand_t *m, ev_t *ev, ac_match_note_t *nt)
{
    long cn, cd;
    double cs;

    if (parse_iso(m->date, &cd, &cs)) {
        ev->cdate = cs;
        if (c->date_known)
            ev->ddate = fabs(cs - c->date);
    }
    if (!c->night_known || !frame_night(m->night, m->date, &cn)) {
        addf(nt->warning, sizeof nt->warning, "no date: ranked after dated masters");
        return;
    }
    nt->nights = (int32_t)(cn - c->night);
    nt->later = cn > c->night;
    ev->later = nt->later;
    ev->ndist = labs(cn - c->night);
    if (nt->later && !c->o->allow_later)
        addf(nt->reason, sizeof nt->reason,
             "later than the light (allow_later_masters is off)");
    if (c->o->max_age_days > 0 && ev->ndist > c->o->max_age_days) {
        char d[64];
        desc_nights(nt, d, sizeof d);
        addf(nt->reason, sizeof nt->reason, "%s > max_master_age_days %d", d,
             c->o->max_age_days);
    }
}

/* evaluate applies every rule to candidate m of its type. ref is the light's equipment, or
 * the chosen flat's for a flat-dark's exposure and temperature. */
static void evaluate(const ctx_t *c, const ac_match_cand_t *m, const ac_match_equip_t *ref,
                     bool bias_ok, ev_t *ev, ac_match_note_t *nt)
{
    const ac_match_equip_t *l = &c->light->eq;

    *ev = (ev_t){.dexp = INFINITY,
                 .dtemp = INFINITY,
                 .ddate = INFINITY,
                 .cdate = -INFINITY,
                 .ndist = LONG_MAX,
                 .exp = m->eq.exposure,
                 .kforce = 1};
    nt->reason[0] = '\0';
    nt->warning[0] = '\0';
    if (m->invalid) {
        ev->fatal = true;
        addf(nt->reason, sizeof nt->reason, "invalid: %s",
             m->invalid_reason[0] != '\0' ? m->invalid_reason : "failed validation");
        return;
    }
    check_equip(&m->eq, l, ev, nt->reason, sizeof nt->reason);
    if (m->type == AC_MATCH_FLAT) {
        if (!ac_meta_filter_equal(name_known(m->eq.telescope) ? m->eq.telescope : "",
                                  name_known(l->telescope) ? l->telescope : ""))
            addf(nt->reason, sizeof nt->reason, "telescope '%s' != light's '%s'",
                 m->eq.telescope, l->telescope);
        if (!ac_meta_filter_equal(m->eq.filter, l->filter))
            addf(nt->reason, sizeof nt->reason, "filter '%s' != light's '%s'", m->eq.filter,
                 l->filter);
    }
    if (m->type == AC_MATCH_DARK || m->type == AC_MATCH_FLATDARK)
        check_temp(&m->eq, ref, m->type == AC_MATCH_FLATDARK, c->o->max_temp_diff, ev,
                   nt->reason, sizeof nt->reason, nt->warning, sizeof nt->warning);
    if (m->type == AC_MATCH_DARK) {
        check_dark_exposure(c, m, bias_ok, ev, nt);
    } else if (m->type == AC_MATCH_FLATDARK) {
        double tf = ref->exposure, td = m->eq.exposure;
        if (known(tf) && known(td)) {
            ev->dexp = fabs(tf - td);
            if (ev->dexp > fmax(c->o->exp_tol_s, c->o->exp_tol_pct / 100.0 * td))
                addf(nt->reason, sizeof nt->reason, "exposure %g s != flat's %g s", td, tf);
        } else {
            /* A flat-dark is never scaled: of unknown exposure it may be any other one. */
            ev->expclass = 2;
            addf(nt->reason, sizeof nt->reason,
                 "exposure unknown on the %s (no EXPTIME, EXPOSURE or EXP): cannot tell "
                 "whether it matches",
                 known(td) ? "flat" : "flat-dark");
        }
    }
    check_date(c, m, ev, nt);
    nt->keywords_equal = ev->nkw;
    ev->pass = nt->reason[0] == '\0';
    nt->fatal = !ev->pass && ev->fatal;
    if (!ev->pass)
        nt->k = NAN;
}

static bool pin_names(const ac_match_pin_t *p, int64_t id)
{
    for (size_t i = 0; i < p->nids; i++)
        if (p->ids[i] == id)
            return true;
    return false;
}

/* apply_pin restricts a pinned type to the pinned candidates (before choose): the others
 * are excluded, and a forced pin accepts a pinned candidate whose mismatches are not
 * fatal (recorded in its note). */
static void apply_pin(const ctx_t *c, const ac_match_cand_t *cands, size_t n, int type,
                      ev_t *ev, ac_match_note_t *notes)
{
    const ac_match_pin_t *p = &c->o->pin[type];

    if (p->nids == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (notes[i].type != type)
            continue;
        if (!pin_names(p, cands[i].id)) {
            ev[i].excluded = true;
            ev[i].pass = false;
            continue;
        }
        notes[i].pinned = true;
        if (!ev[i].pass && !ev[i].fatal && p->force) {
            ac_strlcpy(notes[i].overridden, notes[i].reason, sizeof notes[i].overridden);
            notes[i].reason[0] = '\0';
            ev[i].pass = true;
            if (type == AC_MATCH_DARK)
                notes[i].k = ev[i].kforce;
        }
    }
}

/* pin_verdicts finishes a pinned type after choose: the excluded candidates are "not
 * used", the chosen one says it is pinned (and what was overridden). */
static void pin_verdicts(const ctx_t *c, size_t n, int type, const ev_t *ev, int best,
                         ac_match_note_t *notes)
{
    const ac_match_pin_t *p = &c->o->pin[type];

    if (p->nids == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (notes[i].type != type || !ev[i].excluded)
            continue;
        notes[i].verdict = AC_MATCH_UNUSED;
        snprintf(notes[i].reason, sizeof notes[i].reason, "not used: the %s is pinned to %s",
                 ac_match_type_name(type), p->label);
    }
    if (best >= 0) {
        catf(notes[best].reason, sizeof notes[best].reason, ", ", "pinned%s",
             p->force && notes[best].overridden[0] ? " with --force" : "");
        if (notes[best].overridden[0] != '\0')
            catf(notes[best].reason, sizeof notes[best].reason, ", ", "overriding: %s",
                 notes[best].overridden);
    }
}

static int dcmp(double a, double b)
{
    if (a < b - EPS)
        return -1;
    if (a > b + EPS)
        return 1;
    return 0;
}

static int icmp(long a, long b)
{
    return (a > b) - (a < b);
}

/* rank_cmp orders two passing candidates: < 0 when a ranks higher. *key receives the
 * number (0..9, match.h) of the key that decided. */
static int rank_cmp(const ev_t *a, const ev_t *b, int64_t ida, int64_t idb, int *key)
{
    int r[10] = {
        icmp(a->blocked, b->blocked), icmp(a->later, b->later), icmp(a->expclass, b->expclass),
        icmp(a->ndist, b->ndist),     icmp(b->nkw, a->nkw),     dcmp(a->dexp, b->dexp),
        dcmp(a->dtemp, b->dtemp),     dcmp(a->ddate, b->ddate), dcmp(b->cdate, a->cdate),
        (ida > idb) - (ida < idb),
    };

    for (int i = 0; i < 10; i++) {
        if (r[i] != 0) {
            *key = i;
            return r[i];
        }
    }
    *key = 9;
    return 0;
}

/* lower_reason explains why candidate a (note na) ranks below the chosen b (note nb), which
 * ranking key `key` decided. */
static void lower_reason(const ctx_t *c, const ev_t *a, const ev_t *b,
                         const ac_match_note_t *na, const ac_match_note_t *nb, int key,
                         char *buf, size_t size)
{
    char da[64], db[64];
    int64_t id = nb->id;

    switch (key) {
    case 0:
        snprintf(buf, size,
                 "bias-free: needs a master bias and none matches, #%" PRId64 " does not", id);
        break;
    case 1:
        snprintf(buf, size,
                 "later than the light (dawn flats allowed: used only when nothing "
                 "earlier fits)");
        break;
    case 2:
        if (a->expclass == 1)
            snprintf(buf, size,
                     "exposure %g s needs scaling (k=%.2f), #%" PRId64
                     " has the light's exposure",
                     a->exp, na->k, id);
        else
            snprintf(buf, size, "exposure unknown, #%" PRId64 " has a known exposure", id);
        break;
    case 3:
        desc_nights(na, da, sizeof da);
        desc_nights(nb, db, sizeof db);
        snprintf(buf, size, "%s, #%" PRId64 " is closer (%s)", da, id, db);
        break;
    case 4:
        snprintf(buf, size, "%d optional keywords equal, #%" PRId64 " has %d", a->nkw, id,
                 b->nkw);
        break;
    case 5:
        snprintf(buf, size,
                 "exposure %g s is farther from the light's %g s than #%" PRId64 "'s %g s",
                 a->exp, c->light->eq.exposure, id, b->exp);
        break;
    case 6:
        if (known(a->dtemp))
            snprintf(buf, size, "temperature differs by %.1f C, #%" PRId64 "'s by %.1f C",
                     a->dtemp, id, b->dtemp);
        else
            snprintf(buf, size, "temperature not compared, #%" PRId64 "'s differs by %.1f C",
                     id, b->dtemp);
        break;
    case 7:
        if (known(a->ddate))
            snprintf(buf, size, "DATE-OBS %.1f h from the light's, #%" PRId64 "'s %.1f h",
                     a->ddate / 3600.0, id, b->ddate / 3600.0);
        else
            snprintf(buf, size, "no DATE-OBS, #%" PRId64 " has one", id);
        break;
    case 8:
        snprintf(buf, size, "older than #%" PRId64, id);
        break;
    default:
        snprintf(buf, size, "ranks equal to #%" PRId64 ", which has the lower id", id);
        break;
    }
}

/* choose picks the best passing candidate of a type, sets every verdict of that type and
 * returns its index or -1. */
static int choose(const ctx_t *c, const ac_match_cand_t *cands, size_t n, int type,
                  const ev_t *ev, ac_match_note_t *notes)
{
    int best = -1, key;
    char d[64];

    for (size_t i = 0; i < n; i++) {
        if (notes[i].type != type || !ev[i].pass)
            continue;
        if (best < 0 || rank_cmp(&ev[i], &ev[best], cands[i].id, cands[best].id, &key) < 0)
            best = (int)i;
    }
    for (size_t i = 0; i < n; i++) {
        if (notes[i].type != type)
            continue;
        if (!ev[i].pass) {
            notes[i].verdict = AC_MATCH_REJECTED;
        } else if ((int)i == best) {
            notes[i].verdict = AC_MATCH_CHOSEN;
            desc_nights(&notes[i], d, sizeof d);
            snprintf(notes[i].reason, sizeof notes[i].reason, "%s", d);
            if (type == AC_MATCH_DARK)
                catf(notes[i].reason, sizeof notes[i].reason, ", ", "k=%.2f", notes[i].k);
            if (notes[i].later)
                catf(notes[i].reason, sizeof notes[i].reason, ", ",
                     "later: nothing earlier fits");
        } else {
            notes[i].verdict = AC_MATCH_LOWER;
            rank_cmp(&ev[i], &ev[best], cands[i].id, cands[best].id, &key);
            lower_reason(c, &ev[i], &ev[best], &notes[i], &notes[best], key, notes[i].reason,
                         sizeof notes[i].reason);
        }
    }
    return best;
}

/* mark_unused gives every candidate of a type that is not rejected the verdict UNUSED. */
static void mark_unused(size_t n, int type, const ev_t *ev, ac_match_note_t *notes,
                        const char *why)
{
    for (size_t i = 0; i < n; i++) {
        if (notes[i].type != type || (ev != NULL && !ev[i].pass))
            continue;
        notes[i].verdict = AC_MATCH_UNUSED;
        snprintf(notes[i].reason, sizeof notes[i].reason, "%s", why);
    }
}

/* temp_text formats a temperature rounded to whole degrees, never "-0". */
static void temp_text(double t, char *buf, size_t size)
{
    double r = round(t);
    snprintf(buf, size, "%.0f C", r == 0 ? 0.0 : r);
}

/* waiting_text describes the master a light waits for, from the light's own fields. */
static void waiting_text(const ac_match_light_t *l, int type, char *buf, size_t size)
{
    const ac_match_equip_t *q = &l->eq;
    char t[32], parts[256] = "";

    if (type == AC_MATCH_DARK && known(q->exposure))
        snprintf(parts, sizeof parts, "%g s", q->exposure);
    if (type == AC_MATCH_DARK && (known(q->set_temp) || known(q->ccd_temp))) {
        temp_text(known(q->set_temp) ? q->set_temp : q->ccd_temp, t, sizeof t);
        catf(parts, sizeof parts, ", ", "%s", t);
    }
    if (type == AC_MATCH_FLAT) {
        if (!ac_meta_filter_equal(q->filter, ""))
            catf(parts, sizeof parts, ", ", "%s", q->filter);
        if (name_known(q->telescope))
            catf(parts, sizeof parts, ", ", "%s", q->telescope);
    } else {
        if (known(q->gain))
            catf(parts, sizeof parts, ", ", "gain %g", q->gain);
        if (q->xbin > 0 && q->ybin > 0)
            catf(parts, sizeof parts, ", ", "%dx%d", q->xbin, q->ybin);
    }
    snprintf(buf, size, "%s%s%s", ac_match_type_name(type), parts[0] != '\0' ? " " : "", parts);
}

void ac_match_opts_default(ac_match_opts_t *o)
{
    *o = (ac_match_opts_t){.max_temp_diff = 5.0,
                           .exp_tol_s = 0.5,
                           .exp_tol_pct = 1.0,
                           .dark_max_scale = 2.0,
                           .allow_dark_scaling = true,
                           .allow_later = true,
                           .max_age_days = 0,
                           .required = AC_MATCH_NEED_DARK | AC_MATCH_NEED_FLAT};
}

/* decide_bias sets the bias need, chooses or releases the bias. */
static void decide_bias(const ac_match_cand_t *cands, size_t n, const ac_match_opts_t *o,
                        const ev_t *ev, ac_match_result_t *r, int bias)
{
    char need[256] = "", want[256] = "", notneed[256] = "", msg[300];
    int dark = r->chosen[AC_MATCH_DARK], flat = r->chosen[AC_MATCH_FLAT];
    bool fd = r->chosen[AC_MATCH_FLATDARK] >= 0;

    if (o->required & AC_MATCH_NEED_BIAS)
        addf(need, sizeof need, "required by required_masters");
    if (dark >= 0) {
        if (r->dark_k != 1.0)
            addf(need, sizeof need, "the dark is scaled (k=%.2f)", r->dark_k);
        if (cands[dark].dark_has_bias == AC_MATCH_NO)
            addf(need, sizeof need, "the dark is bias-free");
        else if (cands[dark].dark_has_bias == AC_MATCH_UNKNOWN)
            addf(want, sizeof want, "the dark may be bias-free");
        else
            addf(notneed, sizeof notneed, "the dark contains the bias");
    } else if (flat >= 0 && !(o->required & AC_MATCH_NEED_DARK)) {
        addf(need, sizeof need, "no dark removes the light's bias before the flat");
    }
    if (flat >= 0) {
        if (fd)
            addf(notneed, sizeof notneed, "the flat-dark calibrates the flat");
        else if (cands[flat].flat_calibrated == AC_MATCH_NO)
            addf(need, sizeof need, "the flat is raw and no flat-dark matches");
        else if (cands[flat].flat_calibrated == AC_MATCH_UNKNOWN)
            addf(want, sizeof want, "the flat may be raw");
        else
            addf(notneed, sizeof notneed, "the flat is calibrated");
    }
    r->bias_needed = need[0] != '\0';
    if (r->bias_needed || (want[0] != '\0' && bias >= 0)) {
        ac_strlcpy(r->bias_why, r->bias_needed ? need : want, sizeof r->bias_why);
        r->chosen[AC_MATCH_BIAS] = bias;
        return;
    }
    if (notneed[0] == '\0')
        snprintf(notneed, sizeof notneed, "nothing to remove it from");
    snprintf(msg, sizeof msg, "not needed: %s", notneed);
    mark_unused(n, AC_MATCH_BIAS, ev, r->notes, msg);
}

int ac_match_run(const ac_match_light_t *light, const ac_match_cand_t *cands, size_t n,
                 const ac_match_opts_t *opts, ac_match_result_t *res, ac_err_t *e)
{
    static const int order[] = {AC_MATCH_DARK, AC_MATCH_FLAT, AC_MATCH_BIAS};
    ac_match_opts_t defo;
    ev_t *ev = NULL;
    ctx_t c = {0};
    char part[256];
    int rc = 0, bias, flat;
    long d;

    if (res != NULL)
        memset(res, 0, sizeof *res);
    if (light == NULL || res == NULL || (n > 0 && cands == NULL))
        return ac_err_set(e, -EINVAL, "match: light, result and candidates are required");
    if (opts == NULL) {
        ac_match_opts_default(&defo);
        opts = &defo;
    }
    for (int t = 0; t < AC_MATCH_NTYPES; t++)
        res->chosen[t] = -1;
    res->dark_k = 1.0;
    if (n > 0) {
        res->notes = calloc(n, sizeof *res->notes);
        ev = calloc(n, sizeof *ev);
        if (res->notes == NULL || ev == NULL) {
            rc = ac_err_set(e, -ENOMEM, "match: no memory for %zu candidates", n);
            goto fail;
        }
    }
    res->n = n;
    c.light = light;
    c.o = opts;
    c.night_known = frame_night(light->night, light->date_obs, &c.night);
    c.date_known = parse_iso(light->date_obs, &d, &c.date);

    for (size_t i = 0; i < n; i++) {
        ac_match_note_t *nt = &res->notes[i];
        nt->id = cands[i].id;
        nt->type =
            cands[i].type >= 0 && cands[i].type < AC_MATCH_NTYPES ? (int)cands[i].type : -1;
        ac_strlcpy(nt->name, ac_path_base(cands[i].path), sizeof nt->name);
        nt->verdict = AC_MATCH_REJECTED;
        nt->nights = AC_MATCH_NIGHTS_UNKNOWN;
        nt->k = NAN;
        if (nt->type < 0)
            snprintf(nt->reason, sizeof nt->reason, "unknown master type %d",
                     (int)cands[i].type);
    }

    /* Bias first (darks may need it to be scaled), then darks, flats, flat-darks. */
    for (int t = AC_MATCH_BIAS; t <= AC_MATCH_FLAT; t++) {
        for (size_t i = 0; i < n; i++)
            if (res->notes[i].type == t)
                evaluate(&c, &cands[i], &light->eq, res->chosen[AC_MATCH_BIAS] >= 0, &ev[i],
                         &res->notes[i]);
        apply_pin(&c, cands, n, t, ev, res->notes);
        res->chosen[t] = choose(&c, cands, n, t, ev, res->notes);
        pin_verdicts(&c, n, t, ev, res->chosen[t], res->notes);
        res->pinned[t] = opts->pin[t].nids > 0;
    }
    bias = res->chosen[AC_MATCH_BIAS];
    res->chosen[AC_MATCH_BIAS] = -1; /* decided below, once the rest is known */
    flat = res->chosen[AC_MATCH_FLAT];
    if (res->chosen[AC_MATCH_DARK] >= 0)
        res->dark_k = res->notes[res->chosen[AC_MATCH_DARK]].k;
    if (flat < 0) {
        mark_unused(n, AC_MATCH_FLATDARK, NULL, res->notes, "not used: no flat is chosen");
    } else if (cands[flat].flat_calibrated == AC_MATCH_YES) {
        mark_unused(n, AC_MATCH_FLATDARK, NULL, res->notes,
                    "not needed: the flat is already calibrated");
    } else {
        for (size_t i = 0; i < n; i++)
            if (res->notes[i].type == AC_MATCH_FLATDARK)
                evaluate(&c, &cands[i], &cands[flat].eq, bias >= 0, &ev[i], &res->notes[i]);
        res->chosen[AC_MATCH_FLATDARK] =
            choose(&c, cands, n, AC_MATCH_FLATDARK, ev, res->notes);
    }
    decide_bias(cands, n, opts, ev, res, bias);
    for (int t = 0; t < AC_MATCH_NTYPES; t++)
        res->later[t] = res->chosen[t] >= 0 && res->notes[res->chosen[t]].later;

    /* Status: every required or needed master that is missing, described from the light. */
    for (size_t j = 0; j < sizeof order / sizeof order[0]; j++) {
        int t = order[j];
        bool want = (t == AC_MATCH_DARK && (opts->required & AC_MATCH_NEED_DARK)) ||
                    (t == AC_MATCH_FLAT && (opts->required & AC_MATCH_NEED_FLAT)) ||
                    (t == AC_MATCH_BIAS && res->bias_needed);
        if (res->pinned[t] && res->chosen[t] < 0 && (want || t != AC_MATCH_BIAS))
            ac_match_pin_waiting(&opts->pin[t], t, res->notes, n, part, sizeof part);
        else if (!want || res->chosen[t] >= 0)
            continue;
        else {
            waiting_text(light, t, part, sizeof part);
            /* Say why the nearest candidate of that type was refused (e.g. its temperature). */
            for (size_t i = 0; i < n; i++)
                if (res->notes[i].type == t && res->notes[i].verdict == AC_MATCH_REJECTED) {
                    catf(part, sizeof part, " ", "(#%" PRId64 " refused: %s)", res->notes[i].id,
                         res->notes[i].reason);
                    break;
                }
        }
        addf(res->reason, sizeof res->reason, "%s", part);
    }
    if (res->reason[0] == '\0' && res->chosen[AC_MATCH_BIAS] < 0 &&
        res->chosen[AC_MATCH_DARK] < 0 && res->chosen[AC_MATCH_FLAT] < 0)
        snprintf(res->reason, sizeof res->reason, "a master (none matches)");
    if (res->reason[0] != '\0') {
        char tmp[sizeof res->reason];
        ac_strlcpy(tmp, res->reason, sizeof tmp);
        snprintf(res->reason, sizeof res->reason, "waiting for %s", tmp);
        res->status = AC_MATCH_WAITING;
    }
    free(ev);
    return 0;

fail:
    free(ev);
    ac_match_result_free(res);
    return rc;
}

void ac_match_result_free(ac_match_result_t *res)
{
    if (res == NULL)
        return;
    free(res->notes);
    res->notes = NULL;
    res->n = 0;
}
