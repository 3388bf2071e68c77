/*
 * test-oneshot-masters.c - the one-shot's masters (daemon/serve/oneshot_masters.c): every
 * master's pixels loaded on a libuv pool, the MD5s on threads of their own handed to a
 * light thread that waits for them (md5sum's values), and an MD5 that fails: the first in
 * the order bias, dark, flat, named, for every light that asks, and seen without waiting
 * by ac_osm_failed. Masters are small synthetic AstroFiler-style files (fitsgen.h).
 */
#include <string.h>
#include <uv.h>

#include "fitsgen.h"
#include "oneshot_masters.h"
#include "test.h"
#include "tools.h"

static void make_masters(void)
{
    ac_gen_camera_t cam;
    ac_err_t e = {0};
    ac_gen_t *g;

    ac_gen_camera_sized(&cam, 9, 64, 48);
    g = ac_gen_new(&cam, &e);
    ASSERT_NOT_NULL(g);
    ASSERT_OK(ac_gen_write_masters(g, AC_GEN_MASTER_ASTROFILER, ".", &e));
    ac_gen_free(g);
}

static void set_paths(ac_masters_t *m)
{
    memset(m, 0, sizeof *m);
    m->path[AC_M_BIAS] = "bias.fits";
    m->path[AC_M_DARK] = "dark.fits";
    m->path[AC_M_FLAT] = "flat.fits";
}

/* A light's thread asking for the MD5s, as the engine does before its header is final. */
struct asker {
    ac_osm_t *osm;
    char md5[4][33];
    int rc;
    ac_err_t err;
};

static void ask(void *arg)
{
    struct asker *a = arg;

    a->rc = ac_osm_md5s(a->osm, a->md5, &a->err);
}

/* run starts the masters of m on a fresh loop, waits for the loads and has two threads
 * ask for the MD5s; returns the loads' result. */
static int run(ac_masters_t *m, struct asker a[2], ac_err_t *e)
{
    uv_loop_t loop;
    uv_thread_t t[2];
    ac_osm_t osm;
    int rc;

    memset(&osm, 0, sizeof osm);
    ASSERT_OK(uv_loop_init(&loop));
    ASSERT_EQ(ac_osm_tasks(m), 3); /* a load per master on the pool */
    ASSERT_OK(ac_osm_start(&osm, m, &loop));
    rc = ac_osm_wait_loads(&osm, &loop, false, e);
    for (int i = 0; i < 2; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].osm = &osm;
        ASSERT_OK(uv_thread_create(&t[i], ask, &a[i]));
    }
    for (int i = 0; i < 2; i++)
        uv_thread_join(&t[i]);
    if (a[0].rc != 0) {
        ac_err_t f = {0};
        ASSERT(ac_osm_failed(&osm, &f)); /* all ended: seen without waiting */
        ASSERT_STR_EQ(f.msg, a[0].err.msg);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    ac_osm_free(&osm);
    ASSERT_OK(uv_loop_close(&loop));
    return rc;
}

TEST(osm_loads_and_md5s_handed_to_the_lights)
{
    static const char *const file[3] = {"bias.fits", "dark.fits", "flat.fits"};
    struct asker a[2];
    ac_masters_t m;
    ac_err_t e = {0};

    make_masters();
    set_paths(&m);
    ASSERT_OK(run(&m, a, &e));
    for (int i = 0; i < 3; i++) {
        ASSERT(m.loaded[i]);
        ASSERT_EQ(m.img[i].w, 64);
    }
    for (int k = 0; k < 2; k++) {
        ASSERT_OK(a[k].rc);
        for (int i = 0; i < 3; i++)
            ASSERT_STR_EQ(a[k].md5[i], ac_tools_hash("md5sum", file[i]));
        ASSERT_STR_EQ(a[k].md5[AC_M_FLATDARK], ""); /* not given */
    }
    ac_masters_free(&m);
}

TEST(osm_failed_md5_fails_every_light_with_the_first_master)
{
    static const char zeros[] = "00000000000000000000000000000000";
    struct asker a[2];
    ac_masters_t m;
    ac_err_t e = {0};

    make_masters();
    set_paths(&m);
    m.md5[AC_M_DARK] = zeros; /* a checksum mismatch, found by the MD5 */
    m.md5[AC_M_FLAT] = zeros;
    ASSERT_OK(run(&m, a, &e)); /* the pixels load */
    for (int k = 0; k < 2; k++) {
        ASSERT_EQ(a[k].rc, AC_EMASTER);
        ASSERT_CONTAINS(a[k].err.msg, "master dark: dark.fits");
        ASSERT_CONTAINS(a[k].err.msg, "checksum mismatch");
    }
    ac_masters_free(&m);
}
