/*
 * planner.c - from the catalogue to the queue: for every light session with uncalibrated
 * lights, describe the session and its master candidates (catalogue rows completed from
 * the FITS headers, which AstroFiler's columns lack: size, gain, offset, Bayer pattern,
 * set point, provenance), match them (match.c), and record the outcome in the light
 * queue (ac_queue_plan: queued with its masters and files, or waiting with a reason). See
 * planner.h for the contract.
 *
 * Headers are read on the loop thread, each file once per modification (a small cache
 * keyed by path, mtime and size): a header is a few kilobytes, read in well under a
 * millisecond from a warm disk. BUG: a catalogue of tens of thousands of new masters
 * would stall the loop on first sight; batch that on the pool if it ever matters.
 *
 * Thread: loop thread only.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <sys/stat.h>

#include "planner_int.h"
#include "hdr.h"
#include "imgio.h"
#include "log.h"
#include "night.h"
#include "pin.h"
#include "util.h"

/* ---- header cache ---- */

static const ac_hcache_entry_t *hcache_get(ac_planner_t *pl, const char *path)
{
    struct stat st;
    ac_hcache_entry_t *en = NULL;

    for (size_t i = 0; i < pl->nhc; i++)
        if (strcmp(pl->hc[i].path, path) == 0)
            en = &pl->hc[i];
    if (stat(path, &st) != 0) {
        static ac_hcache_entry_t missing;
        memset(&missing, 0, sizeof missing);
        snprintf(missing.error, sizeof missing.error, "file missing: %s", strerror(errno));
        return &missing;
    }
    if (en != NULL && en->mtime == (int64_t)st.st_mtime && en->size == (int64_t)st.st_size)
        return en;
    if (en == NULL) {
        if (ac_grow((void **)&pl->hc, &pl->caphc, pl->nhc, sizeof *pl->hc) != 0)
            return NULL;
        en = &pl->hc[pl->nhc];
        memset(en, 0, sizeof *en);
        en->path = strdup(path);
        if (en->path == NULL)
            return NULL;
        pl->nhc++;
    }
    en->mtime = (int64_t)st.st_mtime;
    en->size = (int64_t)st.st_size;
    {
        ac_hdr_t h;
        ac_err_t e = {0};
        ac_hdr_init(&h);
        en->ok = ac_imgio_read_header(path, &h, &en->meta, &e) == 0;
        ac_strlcpy(en->error, en->ok ? "" : e.msg, sizeof en->error);
        ac_hdr_free(&h);
    }
    return en;
}

/* ---- helpers ---- */

static const char *str_or(const char *s, const char *def)
{
    return s != NULL ? s : def;
}

/* night_of computes the observing night of a DATE-OBS with the site's offset (SITELONG
 * when the header has it, else the configuration). */
static void night_of(const ac_planner_t *pl, const char *date_obs, double sitelong,
                     char out[16])
{
    double off = isfinite(sitelong) ? ac_night_offset_from_sitelong(sitelong)
                                    : pl->cfg->site_utc_offset_h;
    char n[11];

    out[0] = '\0';
    if (date_obs != NULL && ac_night_of(date_obs, off, n) == 0)
        ac_strlcpy(out, n, 16);
}

/* equip_from_meta completes eq with what the header knows; a keyword the header lacks
 * keeps the catalogue's value, except the temperatures (see below). */
static void equip_from_meta(ac_match_equip_t *eq, const ac_meta_t *m)
{
#define STR(field, src)                                                                        \
    do {                                                                                       \
        if ((src)[0] != '\0')                                                                  \
            ac_strlcpy(eq->field, src, sizeof eq->field);                                      \
    } while (0)
#define NUM(field, src)                                                                        \
    do {                                                                                       \
        if (isfinite(src))                                                                     \
            eq->field = src;                                                                   \
    } while (0)
    STR(instrument, m->instrume);
    STR(telescope, m->telescop);
    STR(readout, m->readout);
    STR(bayerpat, m->bayerpat);
    STR(filter, m->filter);
    NUM(gain, m->gain);
    NUM(offset, m->offset);
    NUM(exposure, m->exptime);
    /* Temperatures come from the header alone once it is read: the engine compares the
     * headers' (meta.h's one rule), and AstroFiler's column holds '0' for "absent". */
    eq->ccd_temp = m->ccd_temp;
    eq->set_temp = m->set_temp;
#undef STR
#undef NUM
    eq->width = m->width;
    eq->height = m->height;
    if (m->xbin > 0)
        eq->xbin = m->xbin;
    if (m->ybin > 0)
        eq->ybin = m->ybin;
}

/* master_header returns the header of master m: from its file or, when the file is
 * missing and m has a cloud URL, from the fetcher's copy; else why says where the copy is
 * (*cloud true while it can still come). */
static const ac_hcache_entry_t *master_header(ac_planner_t *pl, const ac_catalog_master_t *m,
                                              char *why, size_t wsize, bool *cloud)
{
    const char *path = str_or(m->path, "");
    const ac_hcache_entry_t *h = hcache_get(pl, path);
    char copy[4096];
    int rc;

    *cloud = false;
    if (h == NULL || h->ok || m->cloud_url == NULL || pl->hooks.fetch_master == NULL ||
        access(path, F_OK) == 0)
        return h;
    rc = pl->hooks.fetch_master(pl->hooks.ud, m->rowid, path, m->cloud_url, false, copy,
                                sizeof copy, why, wsize);
    if (rc == 1)
        return hcache_get(pl, copy);
    *cloud = rc == 0 || rc == -EAGAIN;
    return h;
}

int ac_planner_candidates(ac_planner_t *pl, const ac_master_list_t *ml, ac_match_cand_t **out,
                          bool **marked, bool **cloud)
{
    ac_match_cand_t *c = calloc(ml->n ? ml->n : 1, sizeof *c);
    bool *mk = calloc(ml->n ? ml->n : 1, sizeof *mk);
    bool *cl = calloc(ml->n ? ml->n : 1, sizeof *cl);

    if (c == NULL || mk == NULL || cl == NULL) {
        free(c);
        free(mk);
        free(cl);
        return -ENOMEM;
    }
    for (size_t i = 0; i < ml->n; i++) {
        const ac_catalog_master_t *m = &ml->items[i];
        char where[1200] = "";
        const ac_hcache_entry_t *h = master_header(pl, m, where, sizeof where, &cl[i]);
        const ac_bad_master_t *bad = ac_planner_bad_master(pl, str_or(m->path, ""));
        int t = ac_match_type_from_name(str_or(m->type, ""));

        c[i].id = m->rowid;
        ac_strlcpy(c[i].path, str_or(m->path, ""), sizeof c[i].path);
        c[i].dark_has_bias = AC_MATCH_UNKNOWN;
        c[i].flat_calibrated = AC_MATCH_UNKNOWN;
        /* Row values first (AstroFiler's columns), then the header, which knows more. */
        ac_strlcpy(c[i].eq.instrument, str_or(m->instrument, ""), sizeof c[i].eq.instrument);
        ac_strlcpy(c[i].eq.telescope, str_or(m->telescope, ""), sizeof c[i].eq.telescope);
        ac_strlcpy(c[i].eq.filter, str_or(m->filter, ""), sizeof c[i].eq.filter);
        c[i].eq.exposure = m->exposure;
        c[i].eq.ccd_temp = m->ccd_temp;
        c[i].eq.set_temp = NAN;
        c[i].eq.gain = m->gain;
        c[i].eq.offset = m->offset;
        c[i].eq.xbin = m->xbin;
        c[i].eq.ybin = m->ybin;
        ac_strlcpy(c[i].date, str_or(m->source_session_date, ""), sizeof c[i].date);
        if (h != NULL && h->ok) {
            const ac_meta_t *mt = &h->meta;
            equip_from_meta(&c[i].eq, mt);
            if (mt->type == AC_FRAME_FLATDARK)
                t = AC_MATCH_FLATDARK;
            if (mt->date_obs[0] != '\0')
                ac_strlcpy(c[i].date, mt->date_obs, sizeof c[i].date);
            night_of(pl, c[i].date[0] ? c[i].date : NULL, mt->sitelong, c[i].night);
            if (mt->bias_subtracted == AC_PROV_YES)
                c[i].dark_has_bias = AC_MATCH_NO;
            else if (mt->bias_subtracted == AC_PROV_NO)
                c[i].dark_has_bias = AC_MATCH_YES;
            if (mt->bias_subtracted == AC_PROV_YES || mt->dark_subtracted == AC_PROV_YES)
                c[i].flat_calibrated = AC_MATCH_YES;
        } else if (where[0] != '\0') {
            c[i].invalid = true;
            snprintf(c[i].invalid_reason, sizeof c[i].invalid_reason, "file missing: %s",
                     where);
            night_of(pl, c[i].date[0] ? c[i].date : NULL, NAN, c[i].night);
        } else {
            c[i].invalid = true;
            snprintf(c[i].invalid_reason, sizeof c[i].invalid_reason, "unreadable: %s",
                     h != NULL ? h->error : "out of memory");
            night_of(pl, c[i].date[0] ? c[i].date : NULL, NAN, c[i].night);
        }
        c[i].type = t < 0 ? AC_MATCH_BIAS : (ac_match_type_t)t;
        if (t < 0) {
            c[i].invalid = true;
            snprintf(c[i].invalid_reason, sizeof c[i].invalid_reason,
                     "unknown master_type '%s'", str_or(m->type, ""));
        }
        if (bad != NULL) {
            cl[i] = false;
            c[i].invalid = mk[i] = true;
            ac_planner_short_reason(bad->reason, bad->path, c[i].invalid_reason,
                                    sizeof c[i].invalid_reason);
        }
    }
    *out = c;
    if (marked != NULL)
        *marked = mk;
    else
        free(mk);
    if (cloud != NULL)
        *cloud = cl;
    else
        free(cl);
    return 0;
}

const ac_meta_t *ac_planner_light_meta(ac_planner_t *pl, const ac_file_list_t *files)
{
    const ac_hcache_entry_t *h = NULL;

    for (size_t i = 0; i < files->n && (h == NULL || !h->ok); i++)
        h = hcache_get(pl, str_or(files->items[i].path, ""));
    return h != NULL && h->ok ? &h->meta : NULL;
}

/* ac_planner_describe fills the light description from the session row and the header of its
 * first uncalibrated light (which knows size, gain, offset and the Bayer pattern). */
int ac_planner_describe(ac_planner_t *pl, const ac_catalog_session_t *s,
                        const ac_file_list_t *files, ac_match_light_t *l, ac_err_t *e)
{
    const ac_hcache_entry_t *h;

    memset(l, 0, sizeof *l);
    l->eq.exposure = s->exposure;
    l->eq.ccd_temp = s->ccd_temp;
    l->eq.set_temp = NAN;
    l->eq.gain = s->gain;
    l->eq.offset = s->offset;
    l->eq.xbin = s->xbin;
    l->eq.ybin = s->ybin;
    ac_strlcpy(l->eq.instrument, str_or(s->imager, ""), sizeof l->eq.instrument);
    ac_strlcpy(l->eq.telescope, str_or(s->telescope, ""), sizeof l->eq.telescope);
    ac_strlcpy(l->eq.filter, str_or(s->filter, ""), sizeof l->eq.filter);
    ac_strlcpy(l->date_obs, str_or(s->first_date_obs, str_or(s->date, "")), sizeof l->date_obs);
    if (files->n == 0)
        return ac_err_set(e, -ENOENT, "session %s has no uncalibrated lights", s->session_id);
    /* The first light whose header reads; those before it that do not read are failed
     * files of the session (pl->unread); a broken one after it fails when it runs. A light
     * only in the cloud is read from its downloaded copy (asked for when none); while it has
     * none it is not failed here: the fetcher or the scheduler decides (fetch.h). */
    h = NULL;
    pl->nunread = 0;
    size_t at = 0;
    for (; at < files->n; at++) {
        const char *path = str_or(files->items[at].path, "");
        char copy[4096];
        h = hcache_get(pl, path);
        if (h != NULL && !h->ok && pl->hooks.fetch != NULL) {
            if (pl->hooks.fetch(pl->hooks.ud, str_or(files->items[at].file_id, ""), path, copy,
                                sizeof copy) == 1)
                h = hcache_get(pl, copy);
            else if (access(path, F_OK) != 0)
                continue;
        }
        if (h != NULL && h->ok)
            break;
        if (ac_grow((void **)&pl->unread, &pl->capunread, pl->nunread, sizeof *pl->unread) ==
            0) {
            struct ac_unreadable *u = &pl->unread[pl->nunread++];
            u->index = at;
            snprintf(u->error, sizeof u->error, "unreadable at planning: %s",
                     h != NULL ? h->error : "out of memory");
        }
    }
    if (h == NULL || !h->ok)
        return ac_err_set(e, AC_EFORMAT, "no light of session %s is readable: %s",
                          s->session_id, h ? h->error : "out of memory");
    if (h->meta.naxis3 > 1)
        return ac_err_set(e, AC_EFORMAT,
                          "light %s is a colour cube (NAXIS3 = %d, already debayered): "
                          "astrocald calibrates raw single-plane frames only",
                          str_or(files->items[at].path, ""), h->meta.naxis3);
    equip_from_meta(&l->eq, &h->meta);
    if (h->meta.date_obs[0] != '\0' && l->date_obs[0] == '\0')
        ac_strlcpy(l->date_obs, h->meta.date_obs, sizeof l->date_obs);
    night_of(pl, l->date_obs, h->meta.sitelong, l->night);
    return 0;
}

void ac_planner_match_opts(const ac_planner_t *pl, ac_match_opts_t *o)
{
    ac_match_opts_default(o);
    o->max_temp_diff = pl->cfg->max_temperature_difference;
    o->exp_tol_s = pl->cfg->exposure_tolerance_s;
    o->exp_tol_pct = pl->cfg->exposure_tolerance_pct;
    o->dark_max_scale = pl->cfg->dark_max_scale;
    o->allow_later = pl->cfg->allow_later_masters;
    o->max_age_days = pl->cfg->max_master_age_days;
    o->required = 0;
    if (pl->cfg->required_masters & AC_NEED_BIAS)
        o->required |= AC_MATCH_NEED_BIAS;
    if (pl->cfg->required_masters & AC_NEED_DARK)
        o->required |= AC_MATCH_NEED_DARK;
    if (pl->cfg->required_masters & AC_NEED_FLAT)
        o->required |= AC_MATCH_NEED_FLAT;
}

static ac_plan_t *plan_slot(ac_planner_t *pl, const char *session_id)
{
    for (size_t i = 0; i < pl->nplans; i++)
        if (strcmp(pl->plans[i].session_id, session_id) == 0)
            return &pl->plans[i];
    if (ac_grow((void **)&pl->plans, &pl->capplans, pl->nplans, sizeof *pl->plans) != 0)
        return NULL;
    memset(&pl->plans[pl->nplans], 0, sizeof pl->plans[0]);
    ac_strlcpy(pl->plans[pl->nplans].session_id, session_id, sizeof pl->plans[0].session_id);
    return &pl->plans[pl->nplans++];
}

const ac_plan_t *ac_planner_find(const ac_planner_t *pl, const char *session_id)
{
    for (size_t i = 0; i < pl->nplans; i++)
        if (strcmp(pl->plans[i].session_id, session_id) == 0)
            return &pl->plans[i];
    return NULL;
}

void ac_planner_inputs_free(struct ac_planner_inputs *in)
{
    ac_catalog_sessions_free(&in->sessions);
    ac_catalog_masters_free(&in->masters);
    ac_catalog_calsessions_free(&in->units);
    ac_catalog_build_rows_free(&in->builds);
    free(in->cands);
    free(in->marked);
    free(in->cloud);
    memset(in, 0, sizeof *in);
}

int ac_planner_read(ac_db_t *db, bool build_masters, struct ac_planner_inputs *in, ac_err_t *e)
{
    int rc;

    memset(in, 0, sizeof *in);
    rc = ac_catalog_light_sessions(db, &in->sessions, e);
    if (rc == 0)
        rc = ac_catalog_masters(db, &in->masters, e);
    /* The calibration sessions only matter to sessions being planned (a better master
     * coming); a catalogue with nothing to calibrate does not read them. */
    if (rc == 0 && build_masters && in->sessions.n > 0)
        rc = ac_catalog_cal_sessions(db, &in->units, e);
    if (rc == 0 && build_masters && in->sessions.n > 0)
        rc = ac_catalog_build_list(db, &in->builds, e);
    if (rc != 0)
        ac_planner_inputs_free(in);
    return rc;
}

/* add_candidates turns what a read found into match candidates (loop thread: the header
 * cache, the broken-master marks); on failure in is freed. */
static int add_candidates(ac_planner_t *pl, struct ac_planner_inputs *in, ac_err_t *e)
{
    int rc = ac_planner_candidates(pl, &in->masters, &in->cands, &in->marked, &in->cloud);

    if (rc != 0) {
        ac_err_set(e, rc, "planning: out of memory");
        ac_planner_inputs_free(in);
    }
    return rc;
}

int ac_planner_inputs_load(ac_planner_t *pl, struct ac_planner_inputs *in, ac_err_t *e)
{
    int rc = ac_planner_read(pl->db, pl->cfg->build_masters, in, e);

    return rc != 0 ? rc : add_candidates(pl, in, e);
}

int ac_planner_match(ac_planner_t *pl, struct ac_planner_inputs *in,
                     const ac_catalog_session_t *s, bool recal, ac_file_list_t *files,
                     ac_match_light_t *light, ac_match_result_t *res, ac_err_t *e)
{
    ac_match_opts_t mo;
    struct ac_planner_pins pins;
    int rc;

    memset(res, 0, sizeof *res);
    for (int t = 0; t < AC_MATCH_NTYPES; t++)
        res->chosen[t] = -1;
    rc = s->n_uncalibrated > 0 && !recal
             ? ac_catalog_session_files(pl->db, s->session_id, files, e)
             : ac_catalog_session_raw_lights(pl->db, s->session_id, files, e);
    if (rc != 0)
        return rc;
    rc = ac_planner_describe(pl, s, files, light, e);
    if (rc != 0)
        return rc;
    ac_planner_match_opts(pl, &mo);
    if ((rc = ac_planner_pin_opts(pl, in, s->session_id, &pins, &mo, e)) != 0)
        return rc;
    rc = ac_match_run(light, in->cands, in->masters.n, &mo, res, e);
    if (rc == 0 && res->status == AC_MATCH_WAITING)
        ac_planner_why_waiting(in, light, &mo, res);
    if (rc == 0)
        ac_planner_wait_for_cloud(pl, in, light, &mo, res);
    ac_planner_pins_free(&pins); /* mo's pins point into them */
    if (rc == 0 && res->status == AC_MATCH_READY &&
        ac_planner_better_coming(pl, in, light, res, res->reason, sizeof res->reason))
        res->status = AC_MATCH_WAITING;
    return rc;
}

/* built_here says whether Masters row rowid is a master astrocald built. */
static bool built_here(const struct ac_planner_inputs *in, int64_t rowid)
{
    for (size_t i = 0; i < in->builds.n; i++)
        if (in->builds.items[i].master_rowid == rowid)
            return true;
    return false;
}

/* hold_for_enqueue keeps waiting a session that was waiting (p, its plan so far) and
 * would now be ready thanks to a master another program added since its wait began:
 * auto_calibrate_on_master_creation = False means such a master starts nothing by itself
 * (astrocalctl enqueue does; a master astrocald built for it does). */
static void hold_for_enqueue(const ac_planner_t *pl, const struct ac_planner_inputs *in,
                             const ac_plan_t *p, ac_match_result_t *res)
{
    (void)pl;
    if (p->status != AC_MATCH_WAITING || p->known_rowid <= 0)
        return;
    for (int t = 0; t < AC_MATCH_NTYPES; t++) {
        int ci = res->chosen[t];
        const ac_catalog_master_t *m = ci >= 0 ? &in->masters.items[ci] : NULL;
        if (m == NULL || m->rowid <= p->known_rowid || built_here(in, m->rowid))
            continue;
        res->status = AC_MATCH_WAITING;
        snprintf(res->reason, sizeof res->reason,
                 "master #%lld (%.200s) arrived and suits it; waiting for astrocalctl enqueue "
                 "(auto_calibrate_on_master_creation = False)",
                 (long long)m->rowid, ac_path_base(m->path != NULL ? m->path : "?"));
        return;
    }
}

int ac_planner_record(ac_planner_t *pl, struct ac_planner_inputs *in,
                      const ac_catalog_session_t *s, const ac_file_list_t *files,
                      ac_match_result_t *res, bool force, ac_err_t *e)
{
    /* A session none of whose lights reads has nothing to wait for: it is recorded ready,
     * all its lights failed, and ends failed at once. */
    bool none_readable = files->n > 0 && pl->nunread == files->n;
    bool enabled = force || pl->cfg->enable_light_calibration || none_readable;
    ac_plan_t *p = plan_slot(pl, s->session_id);
    ac_queue_plan_t qp;
    ac_qfile_add_t *adds = NULL;
    char text[4096];
    int rc, added = 0;
    static const int map[AC_M_COUNT] = {AC_MATCH_BIAS, AC_MATCH_DARK, AC_MATCH_FLAT,
                                        AC_MATCH_FLATDARK};

    if (p == NULL)
        return ac_err_set(e, -ENOMEM, "out of memory");
    if (res->status == AC_MATCH_READY && !force && !pl->cfg->auto_calibrate_on_master_creation)
        hold_for_enqueue(pl, in, p, res);
    ac_planner_key(pl, in, res, &p->key);
    if (res->status == AC_MATCH_WAITING && p->status != AC_MATCH_WAITING) {
        p->known_rowid = 0; /* a new wait: the masters known now */
        for (size_t i = 0; i < in->masters.n; i++)
            if (in->masters.items[i].rowid > p->known_rowid)
                p->known_rowid = in->masters.items[i].rowid;
    }
    p->status = res->status;
    ac_strlcpy(p->light_filter, str_or(s->filter, ""), sizeof p->light_filter);
    ac_strlcpy(p->object, str_or(s->object, ""), sizeof p->object);
    ac_strlcpy(p->date, str_or(s->date, ""), sizeof p->date);
    if (res->status == AC_MATCH_READY && !enabled)
        ac_strlcpy(p->reason,
                   "automatic calibration is off (enable_light_calibration = False); "
                   "astrocalctl enqueue runs it",
                   sizeof p->reason);
    else
        ac_strlcpy(p->reason, res->reason, sizeof p->reason);
    ac_match_plan_text(res, text, sizeof text);
    memset(&qp, 0, sizeof qp);
    qp.session_id = s->session_id;
    qp.ready = res->status == AC_MATCH_READY && enabled;
    qp.force = force;
    qp.reason = p->reason[0] ? p->reason : NULL;
    qp.bias_master = p->key.path[AC_M_BIAS][0] ? p->key.path[AC_M_BIAS] : NULL;
    qp.dark_master = p->key.path[AC_M_DARK][0] ? p->key.path[AC_M_DARK] : NULL;
    qp.flat_master = p->key.path[AC_M_FLAT][0] ? p->key.path[AC_M_FLAT] : NULL;
    qp.flatdark_master = p->key.path[AC_M_FLATDARK][0] ? p->key.path[AC_M_FLATDARK] : NULL;
    qp.plan_json = text;
    qp.session_date = s->first_date_obs ? s->first_date_obs : s->date;
    /* AstroFiler's fields: where the chosen bias, dark and flat came from. */
    qp.has_links = true;
    for (int k = 0; k < 3; k++) {
        int ci = res->chosen[map[k]];
        qp.links[k].master = ci >= 0 ? in->cands[ci].path : NULL;
        qp.links[k].source_session = ci >= 0 ? in->masters.items[ci].source_session_id : NULL;
    }
    if (files->n > 0) {
        adds = calloc(files->n, sizeof *adds);
        if (adds == NULL)
            return ac_err_set(e, -ENOMEM, "out of memory");
        for (size_t i = 0; i < files->n; i++) {
            adds[i].file_id = files->items[i].file_id;
            adds[i].path = files->items[i].path;
        }
        for (size_t u = 0; u < pl->nunread; u++)
            if (pl->unread[u].index < files->n)
                adds[pl->unread[u].index].error = pl->unread[u].error;
        qp.files = adds;
        qp.nfiles = files->n;
    }
    /* Which unreadable lights are new to the queue: those are reported as failed. */
    bool *fresh = pl->nunread > 0 ? calloc(pl->nunread, sizeof *fresh) : NULL;
    for (size_t u = 0; fresh != NULL && u < pl->nunread; u++) {
        ac_qfile_t qf = {0};
        ac_err_t ne = {0};
        fresh[u] = pl->unread[u].index < files->n &&
                   ac_queue_file(pl->queue, files->items[pl->unread[u].index].file_id, &qf,
                                 &ne) == -ENOENT;
        ac_queue_file_clear(&qf);
    }
    rc = ac_queue_plan(pl->queue, &qp, &added, e);
    for (size_t u = 0; rc == 0 && fresh != NULL && u < pl->nunread; u++)
        if (fresh[u] && pl->hooks.failed != NULL)
            pl->hooks.failed(pl->hooks.ud, s->session_id,
                             files->items[pl->unread[u].index].file_id,
                             files->items[pl->unread[u].index].path, pl->unread[u].error);
    free(fresh);
    free(adds);
    if (rc == 0 && added > 0)
        ac_log_info("session %s (%s, %s): %d file%s queued", s->session_id,
                    str_or(s->object, "?"), str_or(s->date, "?"), added, added == 1 ? "" : "s");
    return rc;
}

/* emit_state tells watchers about a session's plan. */
static void emit_state(ac_planner_t *pl, const char *session_id, const ac_plan_t *p)
{
    if (pl->hooks.event != NULL)
        pl->hooks.event(pl->hooks.ud, "session_state",
                        json_pack("{s:s,s:s,s:s?}", "session_id", session_id, "state",
                                  p->status == AC_MATCH_READY ? "queued" : "waiting", "reason",
                                  p->reason[0] ? p->reason : NULL));
}

/* Back-off of failed planning passes: 1 s, doubled per consecutive failure, at most 60 s. */
#define PLANNER_RETRY_FIRST_S 1.0
#define PLANNER_RETRY_CAP_S 60.0

double ac_planner_mono_s(void)
{
    return (double)ac_now_ns() / 1e9;
}

/* catalogue_error says whether rc is the catalogue's failure (busy, full, replaced, an
 * SQLite error) rather than the session's: the pass stops and backs off. */
static bool catalogue_error(int rc)
{
    return rc == AC_EBUSY || rc == AC_ESQLITE || rc == AC_ECATALOG || rc == AC_ENOSPACE;
}

/* unplannable makes a session that cannot be matched (no readable light...) wait with the
 * reason, so that none of its files is handed out with masters chosen for others; the
 * reason is logged when it changes. */
static int unplannable(ac_planner_t *pl, struct ac_planner_inputs *in,
                       const ac_catalog_session_t *s, const ac_file_list_t *files,
                       const char *why, bool force, ac_err_t *e)
{
    const ac_plan_t *old = ac_planner_find(pl, s->session_id);
    ac_match_result_t res;

    memset(&res, 0, sizeof res);
    for (int t = 0; t < AC_MATCH_NTYPES; t++)
        res.chosen[t] = -1;
    res.status = files->n > 0 && pl->nunread == files->n ? AC_MATCH_READY : AC_MATCH_WAITING;
    snprintf(res.reason, sizeof res.reason, "cannot be planned: %s", why);
    if (old == NULL || strcmp(old->reason, res.reason) != 0)
        ac_log_warn("session %s %s", s->session_id, res.reason);
    return ac_planner_record(pl, in, s, files, &res, force, e);
}

/* plan_one matches one session and records the outcome; a failure that is not the
 * catalogue's makes it wait (unplannable). */
static int plan_one(ac_planner_t *pl, struct ac_planner_inputs *in,
                    const ac_catalog_session_t *s, bool force, int *status, ac_err_t *e)
{
    ac_file_list_t files = {0};
    ac_match_light_t light;
    ac_match_result_t res;
    ac_err_t me = {0};
    bool changed = false;
    int rc;

    /* A link the user set in AstroFiler since astrocald last saw it becomes a pin. */
    rc = ac_catalog_pin_sync_links(pl->db, s->session_id, &changed, &me);
    if (catalogue_error(rc)) {
        ac_err_set(e, rc, "%s", me.msg);
        *status = AC_MATCH_WAITING;
        return rc;
    }
    if (changed)
        ac_log_notice("session %s: the calibration sessions linked in AstroFiler changed: "
                      "pinned as linked",
                      s->session_id);
    pl->nunread = 0;
    rc = ac_planner_match(pl, in, s, false, &files, &light, &res, &me);
    if (rc == -ENOENT && files.n == 0 && in->snapshot) {
        /* Read on another connection a moment ago; calibrated since: nothing to plan. */
        const ac_plan_t *old = ac_planner_find(pl, s->session_id);
        *status = old != NULL ? old->status : AC_MATCH_READY;
        ac_catalog_files_free(&files);
        ac_match_result_free(&res);
        return 0;
    }
    if (rc == 0)
        rc = ac_planner_record(pl, in, s, &files, &res, force, e);
    else if (catalogue_error(rc))
        ac_err_set(e, rc, "%s", me.msg);
    else
        rc = unplannable(pl, in, s, &files, me.msg, force, e);
    *status = rc == 0 && res.status == AC_MATCH_READY ? AC_MATCH_READY : AC_MATCH_WAITING;
    ac_catalog_files_free(&files);
    ac_match_result_free(&res);
    return rc;
}

int ac_planner_run(ac_planner_t *pl, bool all, ac_err_t *e)
{
    struct ac_planner_inputs in;

    if (!ac_backoff_due(&pl->retry, ac_planner_mono_s())) {
        ac_planner_request(pl, all); /* deferred until the back-off passed */
        return 0;
    }
    if (ac_planner_read(pl->db, pl->cfg->build_masters, &in, e) != 0)
        return ac_planner_failed(pl, e);
    return ac_planner_apply(pl, all, false, &in, e);
}

int ac_planner_apply(ac_planner_t *pl, bool all, bool snapshot, struct ac_planner_inputs *in,
                     ac_err_t *e)
{
    int rc = 0, nready = 0, nwait = 0;

    if ((rc = add_candidates(pl, in, e)) != 0)
        return rc;
    in->snapshot = snapshot;
    for (size_t i = 0; i < in->sessions.n; i++) {
        const ac_catalog_session_t *s = &in->sessions.items[i];
        const ac_plan_t *old = ac_planner_find(pl, s->session_id);
        int old_status = old != NULL ? old->status : -1, status;
        ac_err_t se = {0};

        /* Without `all`, sessions already planned as waiting keep waiting (a new master
         * releases them only with auto_calibrate_on_master_creation or at the periodic
         * scan); ready sessions are planned again to pick up new files. */
        if (!all && old != NULL && old->status == AC_MATCH_WAITING)
            continue;
        rc = plan_one(pl, in, s, false, &status, &se);
        if (catalogue_error(rc)) {
            ac_err_set(e, rc, "planning session %s: %s", s->session_id, se.msg);
            goto failed;
        }
        if (rc != 0)
            ac_log_warn("planning session %s: %s", s->session_id, se.msg);
        nready += status == AC_MATCH_READY;
        nwait += status != AC_MATCH_READY;
        if (rc == 0 && old_status != status) {
            const ac_plan_t *p = ac_planner_find(pl, s->session_id);
            if (p != NULL)
                emit_state(pl, s->session_id, p);
        }
    }
    /* Sessions being recalibrated have no uncalibrated light: planned here. */
    if ((rc = ac_planner_plan_recals(pl, in, e)) != 0 && catalogue_error(rc))
        goto failed;
    ac_log_debug("planning: %zu sessions with uncalibrated lights (%d ready, %d waiting), %zu "
                 "masters",
                 in->sessions.n, nready, nwait, in->masters.n);
    ac_planner_inputs_free(in);
    ac_backoff_reset(&pl->retry);
    return 0;
failed:
    ac_planner_inputs_free(in);
    return ac_planner_failed(pl, e);
}

int ac_planner_failed(ac_planner_t *pl, ac_err_t *e)
{
    int rc = e != NULL && e->code != 0 ? e->code : AC_ESQLITE;

    if (catalogue_error(rc)) {
        double d = ac_backoff_fail(&pl->retry, ac_planner_mono_s(), PLANNER_RETRY_FIRST_S,
                                   PLANNER_RETRY_CAP_S);
        ac_err_prefix(e, "next planning pass in %.0f s", d);
    }
    return rc;
}

static int plan_session(ac_planner_t *pl, const char *session_id, bool force, ac_err_t *e)
{
    struct ac_planner_inputs in;
    int rc, status;

    if ((rc = ac_planner_inputs_load(pl, &in, e)) != 0)
        return rc;
    rc = ac_err_set(e, -ENOENT, "no session '%s' with uncalibrated lights", session_id);
    for (size_t i = 0; i < in.sessions.n; i++) {
        const ac_catalog_session_t *s = &in.sessions.items[i];

        if (strcmp(s->session_id, session_id) != 0)
            continue;
        ac_err_clear(e);
        rc = plan_one(pl, &in, s, force, &status, e);
        break;
    }
    ac_planner_inputs_free(&in);
    return rc;
}

int ac_planner_plan_session(ac_planner_t *pl, const char *session_id, ac_err_t *e)
{
    return plan_session(pl, session_id, true, e);
}

int ac_planner_replan_session(ac_planner_t *pl, const char *session_id, ac_err_t *e)
{
    return plan_session(pl, session_id, false, e);
}
