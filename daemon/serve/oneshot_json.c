/*
 * oneshot_json.c - the --json line of one light in `astrocald calibrate` (oneshot.h).
 */
#include <jansson.h>

#include "engine.h"
#include "oneshot.h"
#include "proto.h"

json_t *ac_oneshot_result_json(const char *path, const ac_light_result_t *r)
{
    json_t *o = json_object();

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "file", json_string(path));
    json_object_set_new(o, "ok", json_boolean(r->status == 0));
    if (r->status == 0) {
        json_t *q = json_object();
        json_object_set_new(o, "output", json_string(r->out_path));
        json_object_set_new(o, "steps", json_string(r->steps));
        json_object_set_new(o, "dark_scale", json_real(r->k));
        json_object_set_new(o, "pedestal", json_real(r->pedestal));
        json_object_set_new(q, "background", json_real(r->quality.background));
        json_object_set_new(q, "noise", json_real(r->quality.noise));
        json_object_set_new(q, "dynamic_range", json_real(r->quality.dynamic_range));
        json_object_set_new(q, "negative_fraction", json_real(r->quality.frac_negative));
        json_object_set_new(q, "zero_fraction", json_real(r->quality.frac_zero));
        json_object_set_new(q, "saturated_fraction", json_real(r->quality.frac_saturated));
        json_object_set_new(q, "dead_fraction", json_real(r->quality.frac_dead));
        json_object_set_new(q, "score", json_real(r->quality.score));
        json_object_set_new(o, "quality", q);
        json_object_set_new(o, "seconds", json_real(r->t_total));
        if (r->warning[0])
            json_object_set_new(o, "warning", json_string(r->warning));
    } else {
        json_object_set_new(o, "error",
                            json_pack("{s:s,s:o}", "code",
                                      ac_proto_code_name(ac_proto_code_from_err(r->status)),
                                      "message", ac_proto_string(r->err.msg)));
    }
    return o;
}
