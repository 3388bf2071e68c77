/*
 * import_results.c - the control command `import_results` (export.h, docs/protocol.md):
 * results of cluster shards recorded exactly as the daemon records its own calibrations.
 *
 * For each result line (docs/cluster.md):
 *  - a light unknown to the queue, or not handed out and not pending: refused (listed);
 *  - already done: counted "already", nothing written (exactly once, however often the
 *    results are imported);
 *  - a failure: back in the queue with its reason (ac_handout_fail: pending, one attempt);
 *  - a success: the output's SHA-256 is computed on a pool thread; a missing output or a
 *    SHA-256 other than the line's is refused; otherwise the same record as the
 *    scheduler's (ac_queue_record_calibrated with the masters, MD5s, steps, dark scale,
 *    pedestal, quality and timings; sched.c record_success) and the mark released.
 * The reply comes once every line of the request is dealt with.
 *
 * Thread: loop thread, except hash_work (pool), which touches only its own item.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest.h"
#include "export.h"
#include "handout.h"
#include "log.h"
#include "manifest.h"
#include "util.h"

struct ir_item {
    uv_work_t req;
    struct ir_req *r;
    json_t *line; /* borrowed from r->results */
    char path[4096];
    char want[65], got[65];
    int rc;
    ac_err_t err;
};

struct ir_req {
    ac_daemon_t *d;
    ac_ctlsrv_client_t *c;
    json_t *id, *results, *refused;
    int pending, recorded, already, failed_back;
};

static void refuse(struct ir_req *r, const json_t *line, const char *why)
{
    const char *fid = json_string_value(json_object_get(line, "file_id"));

    json_array_append_new(r->refused,
                          json_pack("{s:s,s:s}", "file_id", fid ? fid : "", "reason", why));
}

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* record_success: the scheduler's record (sched.c record_success), from the line. */
static int record_success(struct ir_req *r, const json_t *line, ac_err_t *e)
{
    const json_t *ms = json_object_get(line, "masters"), *t = json_object_get(line, "timings");
    const char *mp[AC_M_COUNT] = {0}, *md[AC_M_COUNT] = {0};
    char *q = json_dumps(json_object_get(line, "quality"), JSON_COMPACT);
    ac_calibrated_rec_t rec;
    int rc;

    for (int i = 0; i < AC_M_COUNT; i++) {
        const json_t *m = json_object_get(ms, ac_manifest_master_key[i]);
        mp[i] = str(m, "path");
        md[i] = str(m, "md5");
    }
    memset(&rec, 0, sizeof rec);
    rec.raw_file_id = str(line, "file_id");
    rec.output_path = str(line, "output");
    rec.output_sha256 = str(line, "sha256");
    rec.bias_path = mp[AC_M_BIAS];
    rec.bias_md5 = md[AC_M_BIAS];
    rec.dark_path = mp[AC_M_DARK];
    rec.dark_md5 = md[AC_M_DARK];
    rec.flat_path = mp[AC_M_FLAT];
    rec.flat_md5 = md[AC_M_FLAT];
    rec.flatdark_path = mp[AC_M_FLATDARK];
    rec.flatdark_md5 = md[AC_M_FLATDARK];
    rec.steps = str(line, "steps");
    rec.dark_scale = num(line, "dark_scale");
    rec.pedestal = num(line, "pedestal");
    rec.quality_json = q;
    rec.t_read = num(t, "read");
    rec.t_calib = num(t, "calibrate");
    rec.t_write = num(t, "write");
    rec.t_total = num(t, "total");
    rc = ac_queue_record_calibrated(&r->d->queue, &rec, r->d->cfg.preserve_original_files, NULL,
                                    e);
    free(q);
    return rc;
}

static void finish(struct ir_req *r)
{
    if (--r->pending > 0)
        return;
    if (ac_ctlsrv_client_alive(r->c))
        ac_ctlsrv_reply_ok(r->c, r->id,
                           json_pack("{s:i,s:i,s:i,s:O}", "recorded", r->recorded, "already",
                                     r->already, "failed_back", r->failed_back, "refused",
                                     r->refused));
    if (r->recorded + r->failed_back > 0)
        ac_sched_kick(&r->d->sched);
    ac_ctlsrv_client_unref(r->c);
    json_decref(r->id);
    json_decref(r->results);
    json_decref(r->refused);
    free(r);
}

static void hash_work(uv_work_t *req)
{
    struct ir_item *it = req->data;

    it->rc = ac_digest_file(it->path, AC_DIGEST_SHA256, it->got, sizeof it->got, &it->err);
}

static void hash_done(uv_work_t *req, int status)
{
    struct ir_item *it = req->data;
    struct ir_req *r = it->r;
    char why[1200];
    ac_err_t e = {0};

    if (status != 0 || it->rc != 0) {
        snprintf(why, sizeof why, "output missing or unreadable: %s",
                 status ? "cancelled" : it->err.msg);
        refuse(r, it->line, why);
    } else if (strcmp(it->got, it->want) != 0) {
        snprintf(why, sizeof why, "%s: SHA-256 %s, the result says %s", it->path, it->got,
                 it->want);
        refuse(r, it->line, why);
    } else if (record_success(r, it->line, &e) != 0 ||
               ac_handout_release(r->d->db, str(it->line, "file_id"), &e) != 0) {
        refuse(r, it->line, e.msg);
    } else {
        r->recorded++;
    }
    free(it);
    finish(r);
}

/* one deals with one result line (finish is called for it, now or after its hash). */
static void one(struct ir_req *r, json_t *line)
{
    const char *fid = str(line, "file_id"), *out = str(line, "output"),
               *sha = str(line, "sha256");
    const json_t *v = json_object_get(line, "v");
    ac_qfile_t f = {0};
    ac_err_t e = {0};
    bool held = false, changed = false;
    double until = NAN;
    struct ir_item *it;

    r->pending++;
    if (!json_is_integer(v) || json_integer_value(v) != AC_MANIFEST_VERSION || fid == NULL ||
        !json_is_boolean(json_object_get(line, "ok"))) {
        refuse(r, line, "not a result line (v 1, file_id, ok)");
    } else if (ac_queue_file(&r->d->queue, fid, &f, &e) != 0) {
        refuse(r, line, e.msg);
    } else if (f.state == AC_FILE_DONE) {
        r->already++;
        ac_handout_release(r->d->db, fid, &e);
    } else if (ac_handout_get(r->d->db, fid, &held, &until, &e) != 0) {
        refuse(r, line, e.msg);
    } else if (f.state != AC_FILE_PENDING) {
        refuse(r, line,
               f.state == AC_FILE_RUNNING
                   ? "the daemon is calibrating this light now (hand-out expired)"
                   : "the light is no longer waiting in the queue");
    } else if (!json_is_true(json_object_get(line, "ok"))) {
        const char *msg = str(json_object_get(line, "error"), "message");
        char why[1200];
        snprintf(why, sizeof why, "on the cluster: %s", msg ? msg : "failed");
        if (ac_handout_fail(r->d->db, fid, why, &changed, &e) != 0)
            refuse(r, line, e.msg);
        else if (changed)
            r->failed_back++;
        else
            r->already++;
    } else if (out == NULL || sha == NULL || strlen(sha) != 64 ||
               !json_is_object(json_object_get(line, "quality"))) {
        refuse(r, line, "a success needs output, sha256 and quality");
    } else if ((it = calloc(1, sizeof *it)) == NULL) {
        refuse(r, line, "out of memory");
    } else {
        it->r = r;
        it->line = line;
        ac_strlcpy(it->path, out, sizeof it->path);
        ac_strlcpy(it->want, sha, sizeof it->want);
        it->req.data = it;
        uv_queue_work(r->d->loop, &it->req, hash_work, hash_done);
        ac_queue_file_clear(&f);
        return;
    }
    ac_queue_file_clear(&f);
    finish(r);
}

void ac_import_results_cmd(ac_daemon_t *d, ac_ctlsrv_client_t *c, json_t *id, json_t *args)
{
    json_t *results = NULL, *line;
    json_error_t je;
    struct ir_req *r;
    size_t i;

    if (args == NULL ||
        json_unpack_ex(args, &je, JSON_STRICT, "{s:o}", "results", &results) != 0 ||
        !json_is_array(results)) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_BAD_ARGS, "bad arguments: results: [lines]");
        return;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_INTERNAL, "out of memory");
        return;
    }
    r->d = d;
    r->c = c;
    ac_ctlsrv_client_ref(c);
    r->id = json_incref(id);
    r->results = json_incref(results);
    r->refused = json_array();
    ac_handout_expire(d->db, ac_export_now(), NULL, NULL);
    r->pending = 1; /* this call's own: the reply waits for it too */
    json_array_foreach(results, i, line)
    {
        one(r, line);
    }
    finish(r);
}
