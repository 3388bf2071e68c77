/* build_spec.c - a build's options, its spec and its result as JSON (see build.h). Pure;
 * any thread. */
#include "build.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stack.h"

void ac_build_opts_default(ac_build_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->min_files = 3;
    o->combine = AC_STACK_SIGMA_CLIP;
    o->kappa_low = 3.0;
    o->kappa_high = 3.0;
    o->iterations = 3;
    o->dark_subtract_bias = false;
    o->max_hot_fraction = 0.01;
    o->hot_sigma = 5.0;
    o->min_flat_level = 1000.0;
    o->max_flat_level = 0.9;
    o->exp_tol_s = 0.5;
    o->exp_tol_pct = 1.0;
    o->job_memory = (size_t)128 << 20;
    o->max_temp_diff = 5.0;
    ac_imgout_opts_default(&o->out);
}

void ac_build_spec_clear(ac_build_spec_t *s)
{
    if (s == NULL)
        return;
    for (int i = 0; s->subs != NULL && i < s->nsubs; i++)
        free(s->subs[i]);
    free(s->subs);
    free(s->key);
    free(s->session_id);
    free(s->session_date);
    free(s->output_path);
    free(s->bias_path);
    free(s->flatdark_path);
    for (int i = 0; i < s->nprobe && i < AC_BUILD_MAX_PROBE; i++)
        free(s->probe_path[i]);
    memset(s, 0, sizeof *s);
}

json_t *ac_build_result_json(const ac_build_result_t *r)
{
    json_t *j = json_object();
    bool flat = isfinite(r->flat_level);

#define NUM(k, v) json_object_set_new(j, k, isfinite(v) ? json_real(v) : json_null())
    if (j == NULL)
        return NULL;
    json_object_set_new(j, "frames", json_integer(r->nsubs));
    json_object_set_new(j, "combined", json_integer(r->nused));
    json_object_set_new(j, "method", json_string(ac_stack_method_name(r->method)));
    if (r->method == AC_STACK_SIGMA_CLIP)
        json_object_set_new(
            j, "sigma",
            json_string(r->sigma_estimator == AC_STACK_SIGMA_MAD ? "mad" : "stddev"));
    NUM("median", r->median);
    NUM("noise", r->noise);
    NUM("rejected_low", r->rej_low);
    NUM("rejected_high", r->rej_high);
    json_object_set_new(j, "nan_pixels", json_integer((json_int_t)r->nan_pixels));
    json_object_set_new(j, "hot_pixels", json_integer((json_int_t)r->hot_pixels));
    NUM("hot_fraction", r->hot_fraction);
    if (flat) {
        NUM("flat_level", r->flat_level);
        NUM("flat_raw_level", r->flat_raw_level);
        NUM("flat_scale", r->flat_scale);
    }
    NUM("score", r->score);
    json_object_set_new(j, "bias_subtracted", json_boolean(r->bias_subtracted));
    json_object_set_new(j, "flatdark_subtracted", json_boolean(r->flatdark_subtracted));
    if (r->dropped[0] != '\0')
        json_object_set_new(j, "dropped", json_string(r->dropped));
    if (r->warning[0] != '\0')
        json_object_set_new(j, "warning", json_string(r->warning));
    if (r->status == AC_BUILD_REJECT)
        json_object_set_new(j, "rejected", json_string(r->reason));
    NUM("t_total", r->t_total);
    NUM("t_read", r->t_read);
    NUM("t_combine", r->t_combine);
    NUM("t_write", r->t_write);
#undef NUM
    return j;
}
