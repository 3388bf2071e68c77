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
 * A line with "replaces" is a recalibration in place (export --calibrated-with): the light
 * must still be done with that output, and the catalogue's hash of it still the one the
 * export saw ("replaces_sha256"); the new file (STAGED beside the output) is checked and
 * swapped in on the pool, the existing rows updated (ac_queue_record_recalibrated) and
 * the old file removed afterwards, as the daemon's own recalibration (sched_recal.c),
 * with recal_output set meanwhile so a crash brings the old output back. A line whose
 * sha256 the catalogue already has is "already"; a failure leaves the light done with
 * its previous calibration and the reason (failed_kept). Once the request is dealt with,
 * each session with a recalibration recorded is planned again (ac_planner_note_recal), so
 * that its row names the masters now used, as after the daemon's own recalibration.
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
#include "recalfile.h"
#include "util.h"

struct ir_item {
    uv_work_t req;
    struct ir_req *r;
    json_t *line; /* borrowed from r->results */
    char path[4096];
    char want[65], got[65];
    int rc;
    ac_err_t err;
    /* a recalibration in place: path is STAGED, swapped in over final on the pool */
    bool recal, kept;
    bool swap_tried; /* the swap ran: even failed, it may have renamed (the mark stays) */
    char final[4096], backup[4096];
};

struct ir_req {
    ac_daemon_t *d;
    ac_ctlsrv_client_t *c;
    json_t *id, *results, *refused;
    json_t *recal_sessions; /* {session_id: true}: sessions with a recalibration recorded */
    int pending, recorded, already, failed_back, failed_kept;
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

/* record_success: the scheduler's record (sched.c record_success), from the line; for a
 * recalibration (it) the record of sched_recal.c (the existing rows updated). */
static int record_success(struct ir_req *r, const json_t *line, const struct ir_item *it,
                          ac_err_t *e)
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
    if (it != NULL && it->recal)
        rc = ac_queue_record_recalibrated(&r->d->queue, &rec, it->kept ? it->backup : NULL, e);
    else
        rc = ac_queue_record_calibrated(&r->d->queue, &rec, r->d->cfg.preserve_original_files,
                                        NULL, e);
    free(q);
    return rc;
}

static void finish(struct ir_req *r)
{
    const char *sid;
    json_t *v;

    if (--r->pending > 0)
        return;
    json_object_foreach(r->recal_sessions, sid, v)
    {
        ac_err_t e = {0};
        if (ac_planner_note_recal(&r->d->planner, sid, &e) != 0) /* planned again later */
            ac_log_warn("session %s, recalibrated on a cluster: %s", sid, e.msg);
    }
    if (ac_ctlsrv_client_alive(r->c))
        ac_ctlsrv_reply_ok(r->c, r->id,
                           json_pack("{s:i,s:i,s:i,s:i,s:O}", "recorded", r->recorded,
                                     "already", r->already, "failed_back", r->failed_back,
                                     "failed_kept", r->failed_kept, "refused", r->refused));
    if (r->recorded + r->failed_back > 0)
        ac_sched_kick(&r->d->sched);
    ac_ctlsrv_client_unref(r->c);
    json_decref(r->id);
    json_decref(r->results);
    json_decref(r->refused);
    json_decref(r->recal_sessions);
    free(r);
}

static void hash_work(uv_work_t *req)
{
    struct ir_item *it = req->data;

    it->rc = ac_digest_file(it->path, AC_DIGEST_SHA256, it->got, sizeof it->got, &it->err);
    /* A recalibration: the verified new file replaces the old one, kept as BACKUP. */
    if (it->rc == 0 && it->recal && strcmp(it->got, it->want) == 0) {
        it->swap_tried = true;
        it->rc = ac_recalfile_swap(it->final, &it->kept, &it->err);
    }
}

static void hash_done(uv_work_t *req, int status)
{
    struct ir_item *it = req->data;
    struct ir_req *r = it->r;
    char why[1200];
    ac_err_t e = {0};

    const char *fid = str(it->line, "file_id");

    if (status != 0 || it->rc != 0) {
        snprintf(why, sizeof why, "output missing or unreadable: %s",
                 status ? "cancelled" : it->err.msg);
        refuse(r, it->line, why);
    } else if (strcmp(it->got, it->want) != 0) {
        snprintf(why, sizeof why, "%s: SHA-256 %s, the result says %s", it->path, it->got,
                 it->want);
        refuse(r, it->line, why);
    } else if (record_success(r, it->line, it, &e) != 0 ||
               ac_handout_release(r->d->db, fid, &e) != 0) {
        refuse(r, it->line, e.msg); /* a swapped output goes back at the next start */
    } else {
        r->recorded++;
        if (it->recal && it->kept)
            ac_sched_recal_drop_backup(&r->d->sched, fid, it->final);
        if (it->recal && str(it->line, "session_id") != NULL)
            json_object_set_new(r->recal_sessions, str(it->line, "session_id"), json_true());
    }
    /* Nothing renamed: no longer being replaced. After a swap (even one that failed
     * after its rename) the mark stays, and the next start puts the old output back
     * unless the swap was recorded (which clears the mark). */
    if (it->recal && !it->swap_tried)
        ac_queue_recal_mark(&r->d->queue, fid, it->final, false, NULL);
    free(it);
    finish(r);
}

/* fail_line ends the hand-out of a failed light (ac_handout_fail), counted in *count, or
 * as already when an earlier import ended it. */
static void fail_line(struct ir_req *r, const json_t *line, int *count)
{
    const char *msg = str(json_object_get(line, "error"), "message");
    char why[1200];
    ac_err_t e = {0};
    bool changed = false;

    snprintf(why, sizeof why, "on the cluster: %s", msg ? msg : "failed");
    if (ac_handout_fail(r->d->db, str(line, "file_id"), why, &changed, &e) != 0)
        refuse(r, line, e.msg);
    else if (changed)
        (*count)++;
    else
        r->already++;
}

/* one_recal deals with the result of a recalibration in place (export --calibrated-with;
 * f: the light's queue row): recorded once, over the very output the export saw. */
static void one_recal(struct ir_req *r, json_t *line, const ac_qfile_t *f)
{
    const char *fid = str(line, "file_id"), *final = str(line, "replaces"),
               *staged = str(line, "staged"), *sha = str(line, "sha256"),
               *was = str(line, "replaces_sha256");
    char cur[129], want_staged[4096], backup[4096], why[1400];
    ac_err_t e = {0};
    struct ir_item *it;

    if (f->state != AC_FILE_DONE) {
        snprintf(why, sizeof why,
                 "the light is %s: the daemon is calibrating it again (export again once it "
                 "is done)",
                 ac_queue_file_state_name(f->state));
        refuse(r, line, why);
    } else if (f->output_path == NULL || strcmp(f->output_path, final) != 0) {
        snprintf(why, sizeof why, "the light's output is now %s, not %s",
                 f->output_path ? f->output_path : "none", final);
        refuse(r, line, why);
    } else if (ac_handout_output_hash(r->d->db, fid, cur, sizeof cur, &e) != 0) {
        refuse(r, line, e.msg);
    } else if (json_is_true(json_object_get(line, "ok")) && sha != NULL &&
               strcmp(cur, sha) == 0) {
        r->already++; /* recorded by an earlier import */
        ac_handout_release(r->d->db, fid, &e);
    } else if (!json_is_true(json_object_get(line, "ok"))) {
        fail_line(r, line, &r->failed_kept);
    } else if (was == NULL || strcmp(cur, was) != 0) {
        snprintf(why, sizeof why,
                 "%s changed since the export (catalogue hash %s, the export saw %s): not "
                 "replaced",
                 final, cur, was ? was : "none");
        refuse(r, line, why);
    } else if (sha == NULL || strlen(sha) != 64 || staged == NULL ||
               !json_is_object(json_object_get(line, "quality")) ||
               ac_recalfile_names(final, want_staged, backup, sizeof backup) != 0 ||
               strcmp(staged, want_staged) != 0 ||
               strcmp(str(line, "output") ? str(line, "output") : "", final) != 0) {
        refuse(r, line,
               "a recalibration's success needs sha256, quality, output = replaces and "
               "staged beside it");
    } else if (ac_queue_recal_mark(&r->d->queue, fid, final, true, &e) != 0) {
        refuse(r, line, e.msg);
    } else if ((it = calloc(1, sizeof *it)) == NULL) {
        ac_queue_recal_mark(&r->d->queue, fid, final, false, NULL);
        refuse(r, line, "out of memory");
    } else {
        it->r = r;
        it->line = line;
        it->recal = true;
        ac_strlcpy(it->path, staged, sizeof it->path);
        ac_strlcpy(it->final, final, sizeof it->final);
        ac_strlcpy(it->backup, backup, sizeof it->backup);
        ac_strlcpy(it->want, sha, sizeof it->want);
        it->req.data = it;
        uv_queue_work(r->d->loop, &it->req, hash_work, hash_done);
        return;
    }
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
    bool held = false;
    double until = NAN;
    struct ir_item *it;

    r->pending++;
    if (!json_is_integer(v) || json_integer_value(v) != AC_MANIFEST_VERSION || fid == NULL ||
        !json_is_boolean(json_object_get(line, "ok"))) {
        refuse(r, line, "not a result line (v 1, file_id, ok)");
    } else if (ac_queue_file(&r->d->queue, fid, &f, &e) != 0) {
        refuse(r, line, e.msg);
    } else if (json_object_get(line, "replaces") != NULL) {
        if (str(line, "replaces") == NULL)
            refuse(r, line, "replaces: expected the output's path");
        else
            one_recal(r, line, &f);
        ac_queue_file_clear(&f);
        if (str(line, "replaces") != NULL)
            return; /* one_recal calls finish */
        finish(r);
        return;
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
        fail_line(r, line, &r->failed_back);
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
    r->recal_sessions = json_object();
    ac_handout_expire(d->db, ac_export_now(), NULL, NULL);
    r->pending = 1; /* this call's own: the reply waits for it too */
    json_array_foreach(results, i, line)
    {
        one(r, line);
    }
    finish(r);
}
