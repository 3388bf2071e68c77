/*
 * buildtest.c - helpers of the master-building tests; the contract is in buildtest.h.
 */
#include "buildtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fitsread.h"
#include "test.h"
#include "util.h"

#define W BUILDTEST_W
#define H BUILDTEST_H

ac_gen_t *build_camera(double read_noise, double col_sd, double flat_level, double hot_frac)
{
    ac_gen_camera_t cam;
    ac_gen_t *g;

    ac_gen_camera_sized(&cam, 42, W, H);
    cam.read_noise = read_noise;
    cam.bias_col_sd = col_sd;
    cam.bias_fpn_sd = col_sd > 0 ? 0.5 : 0.0;
    cam.flat_level = flat_level;
    cam.hot_fraction = hot_frac;
    cam.n_stars = 0;
    ac_strlcpy(cam.telescop, "C14", sizeof cam.telescop);
    ac_strlcpy(cam.instrume, "ZWO ASI294MM Pro", sizeof cam.instrume);
    g = ac_gen_new(&cam, NULL);
    ASSERT_NOT_NULL(g);
    return g;
}

void frame_of(ac_gen_frame_t *f, ac_gen_type_t type, int index)
{
    ac_gen_frame_default(f, type);
    f->index = index;
    if (type == AC_GEN_FLAT)
        f->filter = "L";
}

void write_frames(ac_gen_t *g, ac_gen_type_t type, const char *prefix, int n, char paths[][256])
{
    ac_gen_frame_t f;
    ac_err_t e = {0};

    for (int i = 0; i < n; i++) {
        frame_of(&f, type, i + 1);
        snprintf(paths[i], 256, "%s/%s_%d.fits", ac_test_tmpdir(), prefix, i + 1);
        if (ac_gen_write_frame(g, &f, paths[i], &e) != 0)
            AC_TEST_FAIL("write %s: %s", paths[i], e.msg);
    }
}

static char *xdup(const char *s)
{
    char *d = s != NULL ? strdup(s) : NULL;

    ASSERT(s == NULL || d != NULL);
    return d;
}

void spec_init(ac_build_spec_t *sp, ac_cal_kind_t kind, char paths[][256], int n,
               const char *out_name, const char *bias, const char *fd)
{
    char out[512];

    memset(sp, 0, sizeof *sp);
    ac_build_opts_default(&sp->opts);
    snprintf(sp->opts.masters_dir, sizeof sp->opts.masters_dir, "%s/Masters", ac_test_tmpdir());
    sp->opts.out.durable = false;
    snprintf(out, sizeof out, "%s/%s", sp->opts.masters_dir, out_name);
    sp->kind = kind;
    sp->key = xdup("K");
    sp->session_id = xdup("S");
    sp->output_path = xdup(out);
    sp->bias_path = xdup(bias);
    sp->flatdark_path = xdup(fd);
    sp->nsubs = n;
    sp->subs = calloc((size_t)n, sizeof *sp->subs);
    ASSERT_NOT_NULL(sp->subs);
    for (int i = 0; i < n; i++)
        sp->subs[i] = xdup(paths[i]);
}

void run_ok(const ac_build_spec_t *sp, ac_build_result_t *res)
{
    ac_build_run(sp, res, NULL);
    if (res->status != AC_BUILT)
        AC_TEST_FAIL("build %s: status %d: %s%s", sp->output_path, res->status, res->err.msg,
                     res->reason);
}

bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

void key_text(const char *path, const char *key, char *value)
{
    if (!ac_fitsread_card(path, key, value))
        AC_TEST_FAIL("%s: keyword %s missing", path, key);
}
