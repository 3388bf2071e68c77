/*
 * ctlcmd_preview.c - the `preview` control command (docs/protocol.md): one light
 * calibrated in memory with the masters its session's plan would use (or those given),
 * returned as a PNG, base64 in the reply; astrocalctl writes the file with the user's own
 * rights, so the daemon never writes where a client asks (it runs as another user).
 *
 * On the loop thread: the arguments, the light and its session (catalogue and queue
 * reads, each trying briefly), the masters (the plan's, else the queue's record of the
 * session, then the ones given: a Masters id or a path registered in Masters, so that a
 * reader can only look at what the catalogue holds and every master's MD5 is checked).
 * The work (ac_preview_job_run: reading, calibrating, encoding) runs on a pool thread;
 * the reply follows in the completion callback. One preview at a time (another gets
 * `busy`). Nothing is written to the catalogue or to disk.
 *
 * Thread: loop thread only (the job itself on a pool thread).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "preview_job.h"
#include "proto.h"
#include "util.h"

#define DEFAULT_WIDTH 1600
#define MIN_WIDTH 64
#define MAX_WIDTH 4096

struct preview_req {
    uv_work_t req;
    ac_ctlsrv_client_t *c;
    json_t *id;
    char session[256], file_id[256];
    const char *source[AC_M_COUNT]; /* "plan", "session", "given" or NULL */
    ac_preview_job_t job;
};

static int running;

static void work_cb(uv_work_t *req)
{
    struct preview_req *r = req->data;

    ac_preview_job_run(&r->job);
}

static json_t *str_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* stf_json gives a half's stretch: one object for mono, one per colour (red, green, blue). */
static json_t *stf_json(const ac_stf_t *s, bool colour)
{
    json_t *arr = json_array();

    for (int c = 0; c < (colour ? 3 : 1); c++)
        json_array_append_new(arr, json_pack("{s:f,s:f,s:f,s:f,s:f}", "median", s[c].median,
                                             "madn", s[c].madn, "shadows", s[c].c0, "white",
                                             s[c].white, "midtones", s[c].m));
    return arr;
}

static void after_cb(uv_work_t *req, int status)
{
    struct preview_req *r = req->data;
    ac_preview_job_t *j = &r->job;
    const ac_quality_t *q = &j->res.quality;
    char *b64 = NULL;
    json_t *masters;

    running--;
    if (status == UV_ECANCELED && j->status == 0)
        ac_err_set(&j->err, j->status = AC_ECANCELED, "cancelled");
    if (j->status != 0) {
        ac_ctlsrv_reply_error(r->c, r->id, ac_proto_code_from_err(j->status), "%s",
                              j->err.msg[0] ? j->err.msg : ac_strerror(j->status));
        goto out;
    }
    b64 = ac_base64_encode(j->png, j->png_len);
    if (b64 == NULL) {
        ac_ctlsrv_reply_error(r->c, r->id, AC_PROTO_INTERNAL, "out of memory");
        goto out;
    }
    masters = json_object();
    for (int i = 0; i < AC_M_COUNT; i++)
        json_object_set_new(masters, i == AC_M_FLATDARK ? "flatdark" : ac_masters_kind_name(i),
                            j->master[i][0] ? json_pack("{s:s,s:s}", "path", j->master[i],
                                                        "source", r->source[i])
                                            : json_null());
    ac_ctlsrv_reply_ok(
        r->c, r->id,
        json_pack("{s:s,s:o,s:o,s:o,s:f,s:f,s:s,s:o,s:{s:f,s:f,s:f,s:f,s:f,s:f},s:{s:o,s:o},"
                  "s:i,s:b,s:s,s:i,s:i,s:I,s:s}",
                  "light", j->light, "file_id", str_or_null(r->file_id), "session",
                  str_or_null(r->session), "masters", masters, "dark_scale", j->res.k,
                  "pedestal", j->res.pedestal, "steps", j->res.steps, "warning",
                  str_or_null(j->res.warning), "quality", "background", q->background, "noise",
                  q->noise, "score", q->score, "frac_negative", q->frac_negative,
                  "frac_saturated", q->frac_saturated, "frac_dead", q->frac_dead, "stretch",
                  "raw", stf_json(j->stf_raw, j->colour), "calibrated",
                  stf_json(j->stf_cal, j->colour), "bin", j->bin, "colour", j->colour,
                  "caption", j->caption, "width", j->width, "height", j->height, "png_bytes",
                  (json_int_t)j->png_len, "png_base64", b64));
    ac_log_info("preview of %s: %dx%d PNG, %zu bytes, %.2f s", j->light, j->width, j->height,
                j->png_len, j->res.t_total);
out:
    free(b64);
    ac_preview_job_clear(j);
    ac_ctlsrv_client_unref(r->c);
    json_decref(r->id);
    free(r);
}

/* find_light fills the job's light (and file id, session) from a fitsfile id or a path
 * registered in the catalogue. */
static int find_light(ac_daemon_t *d, struct preview_req *r, const char *light, ac_err_t *e)
{
    ac_catalog_file_t f = {0};
    int rc = light[0] == '/' ? ac_catalog_file_by_path(d->db, light, &f, e)
                             : ac_catalog_file_get(d->db, light, &f, e);

    if (rc == -ENOENT && light[0] == '/') {
        ac_err_clear(e);
        ac_err_set(e, -ENOENT, "%s is not in the catalogue (preview shows catalogued lights)",
                   light);
    }
    if (rc == 0) {
        ac_strlcpy(r->job.light, f.path, sizeof r->job.light);
        ac_strlcpy(r->file_id, f.file_id, sizeof r->file_id);
        ac_strlcpy(r->session, f.session_id ? f.session_id : "", sizeof r->session);
    }
    ac_catalog_file_clear(&f);
    return rc;
}

/* first_light picks the session's first light in the queue, else in the catalogue. */
static int first_light(ac_daemon_t *d, struct preview_req *r, const char *sid, ac_err_t *e)
{
    ac_qfile_list_t ql = {0};
    ac_file_list_t fl = {0};
    int rc = -ENOENT;

    ac_strlcpy(r->session, sid, sizeof r->session);
    if (ac_queue_files(&d->queue, sid, &ql, e) == 0 && ql.n > 0) {
        ac_strlcpy(r->job.light, ql.items[0].path, sizeof r->job.light);
        ac_strlcpy(r->file_id, ql.items[0].file_id, sizeof r->file_id);
        rc = 0;
    } else if (ac_catalog_session_files(d->db, sid, &fl, e) == 0) {
        for (size_t i = 0; i < fl.n && rc != 0; i++) {
            const ac_catalog_file_t *f = &fl.items[i];
            if (f->original_file == NULL && f->path != NULL && f->type != NULL &&
                strcasestr(f->type, "light") != NULL) {
                ac_strlcpy(r->job.light, f->path, sizeof r->job.light);
                ac_strlcpy(r->file_id, f->file_id, sizeof r->file_id);
                rc = 0;
            }
        }
    }
    ac_queue_files_free(&ql);
    ac_catalog_files_free(&fl);
    if (rc != 0)
        ac_err_set(e, -ENOENT, "no light in session '%s'", sid);
    return rc;
}

/* planned_masters takes the masters the session's plan uses (with its k), else those the
 * queue recorded for it. */
static void planned_masters(ac_daemon_t *d, struct preview_req *r)
{
    const ac_plan_t *p = r->session[0] ? ac_planner_find(&d->planner, r->session) : NULL;
    ac_qsession_t s = {0};

    if (p != NULL && p->status == AC_MATCH_READY) {
        for (int i = 0; i < AC_M_COUNT; i++) {
            ac_strlcpy(r->job.master[i], p->key.path[i], sizeof r->job.master[i]);
            ac_strlcpy(r->job.md5[i], p->key.md5[i], sizeof r->job.md5[i]);
            r->source[i] = p->key.path[i][0] ? "plan" : NULL;
        }
        r->job.have_k = true;
        r->job.k = p->key.k;
        return;
    }
    if (r->session[0] && ac_queue_session(&d->queue, r->session, &s, NULL) == 0) {
        const char *m[AC_M_COUNT] = {s.bias_master, s.dark_master, s.flat_master,
                                     s.flatdark_master};
        for (int i = 0; i < AC_M_COUNT; i++) {
            ac_strlcpy(r->job.master[i], m[i] ? m[i] : "", sizeof r->job.master[i]);
            r->source[i] = m[i] && m[i][0] ? "session" : NULL;
        }
    }
    ac_queue_session_clear(&s);
}

/* given_master sets master kind i from a Masters id, a registered path, or "none". */
static int given_master(struct preview_req *r, int i, const char *arg,
                        const ac_master_list_t *ml, ac_err_t *e)
{
    char *end;
    long long id = strtoll(arg, &end, 10);

    r->job.have_k = false; /* decided again from the files */
    if (strcmp(arg, "none") == 0) {
        r->job.master[i][0] = r->job.md5[i][0] = '\0';
        r->source[i] = NULL;
        return 0;
    }
    for (size_t k = 0; k < ml->n; k++) {
        const ac_catalog_master_t *m = &ml->items[k];
        bool hit = arg[0] == '/' ? m->path != NULL && strcmp(m->path, arg) == 0
                                 : (*end == '\0' && m->rowid == id) ||
                                       (m->master_id != NULL && strcmp(m->master_id, arg) == 0);
        if (hit && m->path != NULL) {
            ac_strlcpy(r->job.master[i], m->path, sizeof r->job.master[i]);
            ac_strlcpy(r->job.md5[i], m->hash_md5 ? m->hash_md5 : "", sizeof r->job.md5[i]);
            r->source[i] = "given";
            return 0;
        }
    }
    return ac_err_set(e, -ENOENT,
                      "%s '%s': no such master in the catalogue (Masters id or path)",
                      i == AC_M_FLATDARK ? "flatdark" : ac_masters_kind_name(i), arg);
}

/* resolve fills r from the arguments; 0 or an error in e. */
static int resolve(ac_daemon_t *d, struct preview_req *r, const char *light, const char *sid,
                   const char *given[AC_M_COUNT], ac_err_t *e)
{
    ac_master_list_t ml = {0};
    int rc = light != NULL ? find_light(d, r, light, e) : first_light(d, r, sid, e);
    bool any = false;

    if (rc != 0)
        return rc;
    planned_masters(d, r);
    if ((rc = ac_catalog_masters(d->db, &ml, e)) != 0)
        return rc;
    /* The queue's record has no checksums: take them from Masters. */
    for (int i = 0; i < AC_M_COUNT && rc == 0; i++)
        if (r->source[i] != NULL && strcmp(r->source[i], "session") == 0)
            for (size_t k = 0; k < ml.n; k++)
                if (ml.items[k].path != NULL && ml.items[k].hash_md5 != NULL &&
                    strcmp(ml.items[k].path, r->job.master[i]) == 0)
                    ac_strlcpy(r->job.md5[i], ml.items[k].hash_md5, sizeof r->job.md5[i]);
    for (int i = 0; i < AC_M_COUNT && rc == 0; i++)
        if (given[i] != NULL)
            rc = given_master(r, i, given[i], &ml, e);
    ac_catalog_masters_free(&ml);
    for (int i = 0; i < AC_M_COUNT; i++) {
        char copy[sizeof r->job.master[i]];
        any = any || r->job.master[i][0] != '\0';
        /* A master only in the cloud is read from its downloaded copy (fetch.h). */
        if (ac_daemon_cloud_master_copy(d, r->job.master[i], copy, sizeof copy) == 1)
            ac_strlcpy(r->job.master[i], copy, sizeof r->job.master[i]);
    }
    if (rc == 0 && !any)
        rc = ac_err_set(e, -EINVAL,
                        "no masters for %s: session '%s' has no plan with masters; give "
                        "--bias, --dark or --flat",
                        r->job.light, r->session);
    return rc;
}

void ac_ctlcmd_preview(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    const char *light = NULL, *sid = NULL, *given[AC_M_COUNT] = {NULL};
    json_int_t width = DEFAULT_WIDTH;
    json_error_t jerr;
    struct preview_req *r;
    ac_err_t e = {0};

    if (json_unpack_ex(args, &jerr, JSON_STRICT, "{s?s,s?s,s?s,s?s,s?s,s?s,s?I}", "light",
                       &light, "session", &sid, "bias", &given[AC_M_BIAS], "dark",
                       &given[AC_M_DARK], "flat", &given[AC_M_FLAT], "flatdark",
                       &given[AC_M_FLATDARK], "width", &width) != 0) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS, "bad arguments: %s", jerr.text);
        return;
    }
    if ((light == NULL) == (sid == NULL)) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS, "give exactly one of light or session");
        return;
    }
    if (width < MIN_WIDTH || width > MAX_WIDTH) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS, "width must be from %d to %d pixels",
                              MIN_WIDTH, MAX_WIDTH);
        return;
    }
    if (running > 0) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BUSY, "a preview is being computed; try again");
        return;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_INTERNAL, "out of memory");
        return;
    }
    if (resolve(d, r, light, sid, given, &e) != 0) {
        ac_ctlsrv_reply_error(c, id, ac_proto_code_from_err(e.code), "%s", e.msg);
        free(r);
        return;
    }
    ac_sched_engine_opts(&d->cfg, &r->job.eng);
    r->job.max_w = r->job.max_h = (int)(width - 8) / 2;
    r->c = c;
    r->id = json_incref(id);
    r->req.data = r;
    ac_ctlsrv_client_ref(c);
    running++;
    if (uv_queue_work(d->loop, &r->req, work_cb, after_cb) != 0) {
        running--;
        ac_ctlsrv_reply_error(c, id, AC_PROTO_INTERNAL, "cannot start the preview");
        ac_ctlsrv_client_unref(c);
        json_decref(r->id);
        free(r);
    }
}
