/*
 * oneshot_grade.c - `astrocald calibrate --grade` (docs/grading.md, "The one-shot mode"):
 * after every light is calibrated, each output's stars are measured on the pool (at most
 * --jobs at a time) and the cards written into its header; the outputs are then judged
 * together as one session under the [QUALITY] defaults, and the rejected ones get their
 * QREJECT card. Grading after calibration, not inside the strips: calibration keeps its
 * speed (and the benchmark its meaning), and the judgement needs every light measured.
 *
 * Thread: the main thread (the one-shot's loop); measurements on the libuv pool.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grade.h"
#include "grading.h"
#include "oneshot_int.h"
#include "util.h"

struct gjob {
    uv_work_t req;
    const char *path;
    ac_grading_res_t r;
    int rc;
    ac_err_t err;
};

struct gctx {
    struct gjob *jobs;
    int n, next, inflight, max;
};

static void gwork(uv_work_t *req)
{
    struct gjob *j = req->data;

    j->rc = ac_grading_measure(j->path, NULL, true, &j->r, &j->err);
}

static void gsubmit(struct gctx *c, uv_loop_t *loop);

static void gafter(uv_work_t *req, int status)
{
    struct gctx *c = req->loop->data;

    (void)status;
    c->inflight--;
    gsubmit(c, req->loop);
}

static void gsubmit(struct gctx *c, uv_loop_t *loop)
{
    while (c->inflight < c->max && c->next < c->n) {
        struct gjob *j = &c->jobs[c->next++];
        j->req.data = j;
        c->inflight++;
        uv_queue_work(loop, &j->req, gwork, gafter);
    }
}

static void print_one(const struct gjob *j, const ac_grade_verdict_t *v, bool json, bool quiet)
{
    const ac_grade_fig_t *f = &j->r.fig;

    if (json) {
        json_t *o = json_pack("{s:s,s:b}", "graded", j->path, "ok", j->rc == 0);
        if (j->rc == 0) {
            json_object_set_new(o, "fwhm",
                                isfinite(f->fwhm) ? json_real(f->fwhm) : json_null());
            json_object_set_new(o, "hfr", isfinite(f->hfr) ? json_real(f->hfr) : json_null());
            json_object_set_new(o, "eccentricity",
                                isfinite(f->ecc) ? json_real(f->ecc) : json_null());
            json_object_set_new(o, "stars", json_integer(f->stars));
            json_object_set_new(o, "snr", isfinite(f->snr) ? json_real(f->snr) : json_null());
            json_object_set_new(o, "flat_residual",
                                isfinite(f->flat_residual) ? json_real(f->flat_residual)
                                                           : json_null());
            json_object_set_new(o, "score", json_real(v->score));
            json_object_set_new(o, "verdict",
                                json_string(v->rejected ? "rejected" : "accepted"));
            json_object_set_new(o, "reasons",
                                v->rejected ? json_string(v->reasons) : json_null());
        } else {
            json_object_set_new(o, "error", json_string(j->err.msg));
        }
        char *s = json_dumps(o, JSON_COMPACT);
        if (s != NULL)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    } else if (j->rc != 0) {
        printf("FAIL grading %s: %s\n", j->path, j->err.msg);
    } else if (!quiet || v->rejected) {
        printf(
            "%-6s %s  FWHM %.2f px  HFR %.2f px  e %.2f  %d stars  SNR %.0f  score %.0f%s%s\n",
            v->rejected ? "REJECT" : "GRADE", j->path, f->fwhm, f->hfr, f->ecc, f->stars,
            f->snr, v->score, v->rejected ? "  " : "", v->rejected ? v->reasons : "");
    }
}

int ac_oneshot_grade(uv_loop_t *loop, const char *const *outputs, int n, int jobs, bool json,
                     bool quiet)
{
    struct gctx c = {.n = n, .max = jobs > 0 ? jobs : 1};
    ac_grade_fig_t *figs = calloc((size_t)n + 1, sizeof *figs);
    ac_grade_verdict_t *v = calloc((size_t)n + 1, sizeof *v);
    int *idx = calloc((size_t)n + 1, sizeof *idx);
    ac_grade_rules_t rules;
    int m = 0, rejected = 0, failed = 0;

    c.jobs = calloc((size_t)n + 1, sizeof *c.jobs);
    if (c.jobs == NULL || figs == NULL || v == NULL || idx == NULL) {
        fprintf(stderr, "astrocald calibrate: out of memory for grading\n");
        free(c.jobs), free(figs), free(v), free(idx);
        return 1;
    }
    for (int i = 0; i < n; i++)
        c.jobs[i].path = outputs[i];
    loop->data = &c;
    gsubmit(&c, loop);
    uv_run(loop, UV_RUN_DEFAULT);
    for (int i = 0; i < n; i++)
        if (c.jobs[i].rc == 0) {
            idx[m] = i;
            figs[m++] = c.jobs[i].r.fig;
        }
    ac_grade_rules_default(&rules);
    ac_grade_judge(figs, (size_t)m, &rules, v);
    for (int k = 0, i = 0; i < n; i++) {
        struct gjob *j = &c.jobs[i];
        ac_grade_verdict_t none = {0}, *vi = k < m && idx[k] == i ? &v[k++] : &none;
        if (j->rc == 0 && vi->rejected) {
            char sha[65];
            ac_err_t e = {0};
            if (ac_grading_mark(j->path, vi->reasons, NULL, sha, sizeof sha, &e) != 0) {
                j->rc = e.code ? e.code : -1;
                j->err = e;
            }
            rejected++;
        }
        failed += j->rc != 0;
        print_one(j, vi, json, quiet);
    }
    if (!json)
        printf("%d output%s graded: %d rejected, %d could not be measured\n", n,
               n == 1 ? "" : "s", rejected, failed);
    fflush(stdout);
    free(c.jobs), free(figs), free(v), free(idx);
    return failed > 0 ? 1 : 0;
}
