/*
 * manifest.c - manifest lines (manifest.h).
 */
#include "manifest.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "util.h"

const char *const ac_manifest_master_key[AC_M_COUNT] = {"bias", "dark", "flat", "flat_dark"};

static const char *tri_name(int t)
{
    return t == AC_TRI_YES ? "yes" : t == AC_TRI_NO ? "no" : "auto";
}

json_t *ac_manifest_opts_json(const ac_engine_opts_t *o)
{
    const ac_calib_opts_t *c = &o->calib;
    json_t *ped = c->pedestal_mode == AC_PEDESTAL_FIXED  ? json_real(c->pedestal)
                  : c->pedestal_mode == AC_PEDESTAL_AUTO ? json_string("auto")
                                                         : json_string("none");

    return json_pack("{s:f,s:b,s:f,s:o,s:f,s:s,s:s,s:b,s:f,s:f,s:b,s:f,s:I,s:s,s:s}",
                     "dark_max_scale", c->dark_k_max, "dark_optimize", c->dark_optimize,
                     "flat_floor", c->flat_floor, "pedestal", ped, "pedestal_max_frac",
                     c->pedestal_max_frac, "dark_has_bias", tri_name(c->dark_has_bias),
                     "flat_calibrated", tri_name(c->flat_is_calibrated), "cosmetic",
                     c->cosmetic, "cosmetic_sigma", c->cosmetic_sigma, "max_temp_diff",
                     c->max_temp_diff, "compress", o->out.compress, "quantize",
                     (double)o->out.quantize_level, "job_memory", (json_int_t)o->job_memory,
                     "output_dir", o->output_dir, "suffix", o->suffix);
}

static int need(const json_t *obj, const char *key, json_type t, const json_t **out,
                ac_err_t *e)
{
    const json_t *v = json_object_get(obj, key);

    if (v == NULL || (json_typeof(v) != t && !(t == JSON_REAL && json_is_integer(v)) &&
                      !(t == JSON_TRUE && json_is_boolean(v))))
        return ac_err_set(e, AC_EFORMAT, "options.%s: missing or of the wrong type", key);
    *out = v;
    return 0;
}

static int get_num(const json_t *obj, const char *key, double *d, ac_err_t *e)
{
    const json_t *v = NULL;
    int rc = need(obj, key, JSON_REAL, &v, e);

    if (rc == 0)
        *d = json_number_value(v);
    return rc;
}

static int get_bool(const json_t *obj, const char *key, bool *b, ac_err_t *e)
{
    const json_t *v = NULL;
    int rc = need(obj, key, JSON_TRUE, &v, e);

    if (rc == 0)
        *b = json_is_true(v);
    return rc;
}

static int get_tri(const json_t *obj, const char *key, int *t, ac_err_t *e)
{
    const json_t *v = NULL;
    const char *s;
    int rc = need(obj, key, JSON_STRING, &v, e);

    if (rc != 0)
        return rc;
    s = json_string_value(v);
    if (strcmp(s, "auto") == 0)
        *t = AC_TRI_AUTO;
    else if (strcmp(s, "yes") == 0)
        *t = AC_TRI_YES;
    else if (strcmp(s, "no") == 0)
        *t = AC_TRI_NO;
    else
        return ac_err_set(e, AC_EFORMAT, "options.%s: expected auto, yes or no, got '%s'", key,
                          s);
    return 0;
}

static int get_str(const json_t *obj, const char *key, char *dst, size_t size, ac_err_t *e)
{
    const json_t *v = NULL;
    int rc = need(obj, key, JSON_STRING, &v, e);

    if (rc == 0 && ac_strlcpy(dst, json_string_value(v), size) >= size)
        return ac_err_set(e, AC_EFORMAT, "options.%s: too long", key);
    return rc;
}

int ac_manifest_opts_parse(const json_t *opts, ac_engine_opts_t *o, ac_err_t *e)
{
    ac_calib_opts_t *c;
    const json_t *ped;
    double q = 0, jm = 0;
    int rc = 0;

    ac_engine_opts_default(o);
    c = &o->calib;
    if (!json_is_object(opts))
        return ac_err_set(e, AC_EFORMAT, "options: missing or not an object");
    if ((rc = get_num(opts, "dark_max_scale", &c->dark_k_max, e)) != 0 ||
        (rc = get_bool(opts, "dark_optimize", &c->dark_optimize, e)) != 0 ||
        (rc = get_num(opts, "flat_floor", &c->flat_floor, e)) != 0 ||
        (rc = get_num(opts, "pedestal_max_frac", &c->pedestal_max_frac, e)) != 0 ||
        (rc = get_tri(opts, "dark_has_bias", &c->dark_has_bias, e)) != 0 ||
        (rc = get_tri(opts, "flat_calibrated", &c->flat_is_calibrated, e)) != 0 ||
        (rc = get_bool(opts, "cosmetic", &c->cosmetic, e)) != 0 ||
        (rc = get_num(opts, "cosmetic_sigma", &c->cosmetic_sigma, e)) != 0 ||
        (rc = get_num(opts, "max_temp_diff", &c->max_temp_diff, e)) != 0 ||
        (rc = get_bool(opts, "compress", &o->out.compress, e)) != 0 ||
        (rc = get_num(opts, "quantize", &q, e)) != 0 ||
        (rc = get_num(opts, "job_memory", &jm, e)) != 0 ||
        (rc = get_str(opts, "output_dir", o->output_dir, sizeof o->output_dir, e)) != 0 ||
        (rc = get_str(opts, "suffix", o->suffix, sizeof o->suffix, e)) != 0)
        return rc;
    ped = json_object_get(opts, "pedestal");
    if (json_is_number(ped) && json_number_value(ped) >= 0) {
        c->pedestal_mode = AC_PEDESTAL_FIXED;
        c->pedestal = json_number_value(ped);
    } else if (json_is_string(ped) && strcmp(json_string_value(ped), "auto") == 0) {
        c->pedestal_mode = AC_PEDESTAL_AUTO;
    } else if (json_is_string(ped) && strcmp(json_string_value(ped), "none") == 0) {
        c->pedestal_mode = AC_PEDESTAL_NONE;
    } else {
        return ac_err_set(e, AC_EFORMAT, "options.pedestal: expected none, auto or ADU >= 0");
    }
    if (!(jm >= 1048576.0 && jm <= 65536.0 * 1048576.0) || !(q >= 0 && q <= 1e6) ||
        o->suffix[0] == '\0' || strchr(o->suffix, '/') != NULL)
        return ac_err_set(e, AC_EFORMAT,
                          "options: job_memory, quantize or suffix out of range");
    o->job_memory = (size_t)jm;
    o->out.quantize_level = (float)q;
    o->out.durable = true; /* as the daemon: a file counts only once it is on disk */
    o->hash_output = true;
    return 0;
}

static const char *str_field(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

int ac_manifest_light_parse(const json_t *line, ac_manifest_light_t *m, ac_err_t *e)
{
    const json_t *ms, *v;

    memset(m, 0, sizeof *m);
    if (!json_is_object(line))
        return ac_err_set(e, AC_EFORMAT, "not a JSON object");
    v = json_object_get(line, "v");
    if (!json_is_integer(v) || json_integer_value(v) != AC_MANIFEST_VERSION)
        return ac_err_set(e, AC_EFORMAT, "\"v\": expected %d", AC_MANIFEST_VERSION);
    m->file_id = str_field(line, "file_id");
    m->session_id = str_field(line, "session_id");
    m->light = str_field(line, "light");
    m->output = str_field(line, "output");
    if (m->file_id == NULL || m->light == NULL || m->output == NULL || m->session_id == NULL)
        return ac_err_set(e, AC_EFORMAT,
                          "file_id, session_id, light and output are required strings");
    m->replaces = str_field(line, "replaces");
    if (json_object_get(line, "replaces") != NULL &&
        (m->replaces == NULL || strcmp(m->replaces, m->output) != 0))
        return ac_err_set(e, AC_EFORMAT,
                          "replaces: expected the output's path (a recalibration in place)");
    v = json_object_get(line, "dark_scale");
    if (!json_is_number(v) || !(json_number_value(v) > 0 && isfinite(json_number_value(v))))
        return ac_err_set(e, AC_EFORMAT, "dark_scale: expected a number > 0");
    m->k = json_number_value(v);
    v = json_object_get(line, "bytes");
    m->bytes = json_is_integer(v) ? json_integer_value(v) : 0;
    ms = json_object_get(line, "masters");
    if (!json_is_object(ms))
        return ac_err_set(e, AC_EFORMAT, "masters: expected an object");
    for (int i = 0; i < AC_M_COUNT; i++) {
        const json_t *mo = json_object_get(ms, ac_manifest_master_key[i]);
        if (mo == NULL || json_is_null(mo))
            continue;
        m->mpath[i] = str_field(mo, "path");
        m->md5[i] = str_field(mo, "md5");
        if (m->mpath[i] == NULL || m->md5[i] == NULL || strlen(m->md5[i]) != 32)
            return ac_err_set(e, AC_EFORMAT,
                              "masters.%s: needs a path and a 32-digit md5 (the file's MD5 "
                              "is verified before use)",
                              ac_manifest_master_key[i]);
    }
    if (m->mpath[AC_M_BIAS] == NULL && m->mpath[AC_M_DARK] == NULL &&
        m->mpath[AC_M_FLAT] == NULL)
        return ac_err_set(e, AC_EFORMAT, "masters: none of bias, dark, flat");
    m->options = json_object_get(line, "options");
    if (!json_is_object(m->options))
        return ac_err_set(e, AC_EFORMAT, "options: expected an object");
    return 0;
}

int ac_manifest_line_hash(const json_t *line, char hex[65])
{
    char *s = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
    ac_digest_t *d;

    if (s == NULL || (d = ac_digest_new(AC_DIGEST_SHA256)) == NULL) {
        free(s);
        return -ENOMEM;
    }
    ac_digest_update(d, s, strlen(s));
    ac_digest_final(d, hex, 65);
    free(s);
    return 0;
}
