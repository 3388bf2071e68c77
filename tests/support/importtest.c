/*
 * importtest.c - the fixture of the import tests; the contract is in importtest.h.
 */
#include "importtest.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "fsutil.h"
#include "test.h"

int n_checks;

void on_done(void *ud, const ac_import_result_t *res)
{
    struct run *run = ud;

    run->calls++;
    run->r = *res;
    run->r.error_list = NULL;
    run->r.skip_list = NULL;
    for (size_t i = 0; i < res->n_error_list && i < IMPORTTEST_MAX_KEPT; i++, run->n_err++) {
        snprintf(run->err_path[i], sizeof run->err_path[i], "%s", res->error_list[i].path);
        snprintf(run->err_msg[i], sizeof run->err_msg[i], "%s", res->error_list[i].message);
    }
    for (size_t i = 0; i < res->n_skip_list && i < IMPORTTEST_MAX_KEPT; i++, run->n_skip++) {
        snprintf(run->skip_path[i], sizeof run->skip_path[i], "%s", res->skip_list[i].path);
        snprintf(run->skip_msg[i], sizeof run->skip_msg[i], "%s", res->skip_list[i].message);
    }
}

static void on_check(uv_check_t *c)
{
    n_checks++;
}

struct run *run_import(ac_db_t *db, const char *dir, const ac_import_opts_t *opts)
{
    static struct run run;
    uv_loop_t loop;
    uv_check_t check;
    ac_err_t e = {0};
    char abs[1024];

    memset(&run, 0, sizeof run);
    snprintf(abs, sizeof abs, "%s/%s", ac_test_tmpdir(), dir);
    ASSERT_OK(uv_loop_init(&loop));
    ASSERT_OK(uv_check_init(&loop, &check));
    ASSERT_OK(uv_check_start(&check, on_check));
    uv_unref((uv_handle_t *)&check);
    n_checks = 0;
    if (ac_import_start(&loop, db, abs, opts, on_done, &run, &e) != 0)
        AC_TEST_FAIL("ac_import_start: %s", e.msg);
    ASSERT_EQ(run.calls, 0); /* never from inside the call */
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(run.calls, 1);
    uv_close((uv_handle_t *)&check, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&loop));
    return &run;
}

ac_db_t *open_db(const char *name, afdb_variant_t v)
{
    return dbtest_open(afdb_create(name, v), name);
}

ac_gen_t *camera_ex(ac_gen_camera_t *cam, uint64_t seed, double sitelong, int keys, int names)
{
    ac_gen_camera_t own;
    ac_err_t e = {0};
    ac_gen_t *g;

    if (cam == NULL)
        cam = &own;
    ac_gen_camera_sized(cam, seed, 64, 48);
    cam->n_stars = 5;
    cam->sitelong = sitelong;
    cam->keys = keys;
    cam->typenames = names;
    g = ac_gen_new(cam, &e);
    if (g == NULL)
        AC_TEST_FAIL("ac_gen_new: %s", e.msg);
    return g;
}

ac_gen_t *camera(ac_gen_camera_t *cam, uint64_t seed)
{
    return camera_ex(cam, seed, 11.0, AC_GEN_KEYS_STANDARD, AC_GEN_NAMES_LONG);
}

void import_fx_init(struct import_fx *x, uint64_t seed)
{
    x->g = camera(&x->cam, seed);
    ac_gen_night_default(&x->n, &x->cam);
    x->db = open_db("af.db", AFDB_MIGRATED);
}

void import_fx_free(struct import_fx *x)
{
    ac_db_close(x->db);
    ac_gen_free(x->g);
}

void write_raw_night(struct import_fx *x, int n_lights, const char *dir)
{
    x->n.n_lights = n_lights;
    x->n.masters = AC_GEN_RAW;
    write_night(x->g, &x->n, dir);
}

void frame_obj(ac_gen_t *g, ac_gen_type_t type, const char *path, const char *date,
               const char *filter, double exptime, const char *object, int index)
{
    ac_gen_frame_t f;
    ac_err_t e = {0};
    char dir[512], *slash;

    snprintf(dir, sizeof dir, "%s", path);
    if ((slash = strrchr(dir, '/')) != NULL) {
        *slash = '\0';
        ac_fsutil_mkdirs(dir, NULL);
    }
    ac_gen_frame_default(&f, type);
    f.date_obs = date;
    f.filter = filter;
    f.exptime = exptime;
    f.index = index;
    if (object != NULL)
        f.object = object;
    if (ac_gen_write_frame(g, &f, path, &e) != 0)
        AC_TEST_FAIL("write %s: %s", path, e.msg);
}

void frame(ac_gen_t *g, ac_gen_type_t type, const char *path, const char *date,
           const char *filter, double exptime, int index)
{
    frame_obj(g, type, path, date, filter, exptime, NULL, index);
}

void write_night(ac_gen_t *g, ac_gen_night_t *n, const char *dir)
{
    ac_err_t e = {0};

    if (ac_gen_write_night(g, n, dir, &e) != 0)
        AC_TEST_FAIL("write night %s: %s", dir, e.msg);
}

const char *col(ac_db_t *db, const char *table, const char *keycol, const char *c,
                const char *key)
{
    char sql[1024];

    snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE %s = ?1", c, table, keycol);
    return q_text(db, sql, key);
}

const char *abspath(const char *rel)
{
    static char buf[8][1024];
    static int k;

    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", ac_test_tmpdir(), rel);
    return buf[k];
}

long long count(ac_db_t *db, const char *from, const char *where, const char *arg)
{
    char sql[512];

    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s", from, where);
    return q_int(db, sql, arg);
}
