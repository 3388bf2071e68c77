/*
 * test-masters.c - the one master loader (daemon/work/masters.c): a whole set loaded and
 * prepared with the MD5s it expects, a checksum mismatch and a missing file named by
 * master, the steps the one-shot runs apart (pixels, MD5 on its own, two sets from one
 * load), and the frame-type check. Masters are small synthetic AstroFiler-style files
 * (tests/support/fitsgen.h); expected MD5s come from ac_digest_file, which
 * test-digest.c checks against md5sum. Then the one-shot's use of these steps
 * (daemon/serve/oneshot_masters.c): the pixels loaded on a libuv pool, the MD5s on threads
 * of their own handed to light threads that wait for them (md5sum's values), and an MD5
 * that fails: the first in the order bias, dark, flat, named for every light that asks and
 * seen without waiting by ac_osm_failed.
 */
#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "digest.h"
#include "fitsgen.h"
#include "masters.h"
#include "oneshot_masters.h"
#include "test.h"
#include "tools.h"

/* make_masters writes AstroFiler-style bias.fits, dark.fits and flat.fits (64 x 48). */
static void make_masters(void)
{
    ac_gen_camera_t cam;
    ac_err_t e = {0};
    ac_gen_t *g;

    ac_gen_camera_sized(&cam, 5, 64, 48);
    g = ac_gen_new(&cam, &e);
    ASSERT_NOT_NULL(g);
    ASSERT_OK(ac_gen_write_masters(g, AC_GEN_MASTER_ASTROFILER, ".", &e));
    ac_gen_free(g);
}

static void md5_of(const char *path, char out[33])
{
    ac_err_t e = {0};

    ASSERT_OK(ac_digest_file(path, AC_DIGEST_MD5, out, 33, &e));
}

/* md5_all fills the MD5s of bias, dark and flat (the AC_M_* order). */
static void md5_all(char md5[3][33])
{
    md5_of("bias.fits", md5[0]);
    md5_of("dark.fits", md5[1]);
    md5_of("flat.fits", md5[2]);
}

static void set_paths(ac_masters_t *m)
{
    memset(m, 0, sizeof *m);
    m->path[AC_M_BIAS] = "bias.fits";
    m->path[AC_M_DARK] = "dark.fits";
    m->path[AC_M_FLAT] = "flat.fits";
}

/* load runs ac_masters_load on m with k = 1 and the default options into *cs (zeroed
 * first). */
static int load(ac_masters_t *m, ac_calset_t *cs, int *bad, ac_err_t *e)
{
    ac_calib_opts_t o;

    ac_calib_opts_default(&o);
    memset(cs, 0, sizeof *cs);
    return ac_masters_load(m, 1.0, &o, cs, bad, e);
}

TEST(masters_load_set_with_expected_md5s)
{
    char md5[3][33];
    ac_masters_t m;
    ac_calset_t cs;
    ac_err_t e = {0};
    int bad = 99;

    make_masters();
    md5_all(md5);
    set_paths(&m);
    for (int i = 0; i < 3; i++)
        m.md5[i] = md5[i];
    if (load(&m, &cs, &bad, &e) != 0)
        AC_TEST_FAIL("load: %s", e.msg);
    ASSERT_EQ(bad, -1);
    ASSERT(cs.has_bias && cs.has_dark && cs.has_flat && !cs.has_flatdark);
    ASSERT_EQ(cs.w, 64);
    ASSERT_EQ(cs.h, 48);
    ASSERT_STR_EQ(cs.bias_md5, md5[0]);
    ASSERT_STR_EQ(cs.dark_md5, md5[1]);
    ASSERT_STR_EQ(cs.flat_md5, md5[2]);
    for (int i = 0; i < AC_M_COUNT; i++) /* the images are released */
        ASSERT(!m.loaded[i]);
    ac_calset_free(&cs);
}

TEST(masters_errors_name_the_master)
{
    char md5[33], want[200];
    ac_masters_t m;
    ac_calset_t cs;
    ac_err_t e = {0};
    int bad = 99;

    make_masters();
    md5_of("dark.fits", md5);
    /* A checksum mismatch on the dark. */
    set_paths(&m);
    m.md5[AC_M_DARK] = "00000000000000000000000000000000";
    ASSERT_EQ(load(&m, &cs, &bad, &e), AC_EMASTER);
    ASSERT_EQ(bad, AC_M_DARK);
    snprintf(want, sizeof want,
             "master dark: dark.fits: checksum mismatch: file MD5 %s, catalogue hash_value "
             "00000000000000000000000000000000",
             md5);
    ASSERT_STR_EQ(e.msg, want);
    /* A missing flat: the loader's reason, after the master's kind. */
    set_paths(&m);
    m.path[AC_M_FLAT] = "missing.fits";
    memset(&e, 0, sizeof e);
    ASSERT(load(&m, &cs, &bad, &e) != 0);
    ASSERT_EQ(bad, AC_M_FLAT);
    ASSERT_EQ(strncmp(e.msg, "master flat: ", 13), 0);
    ASSERT_CONTAINS(e.msg, "missing.fits");
    /* The same through hash_one. */
    set_paths(&m);
    m.md5[AC_M_BIAS] = "ffffffffffffffffffffffffffffffff";
    memset(&e, 0, sizeof e);
    ASSERT_EQ(ac_masters_hash_one(&m, AC_M_BIAS, &e), AC_EMASTER);
    ASSERT_EQ(strncmp(e.msg, "master bias: bias.fits: checksum mismatch: file MD5 ", 52), 0);
}

TEST(masters_steps_apart_and_two_sets)
{
    char md5[3][33];
    ac_masters_t m;
    ac_calib_opts_t o;
    ac_calset_t cs[2];
    ac_err_t e = {0};

    make_masters();
    md5_all(md5);
    set_paths(&m);
    for (int i = 0; i < 3; i++) {
        ASSERT_OK(ac_masters_load_one(&m, i, AC_MASTERS_HASH_APART, &e));
        ASSERT(m.loaded[i]);
        ASSERT_STR_EQ(m.img[i].md5, ""); /* not hashed in the read */
        ASSERT_OK(ac_masters_hash_one(&m, i, &e));
        ASSERT_STR_EQ(m.hashed[i], md5[i]);
    }
    ASSERT(!m.loaded[AC_M_FLATDARK]);
    ASSERT_NULL(ac_masters_image(&m, AC_M_FLATDARK));
    ASSERT(ac_masters_image(&m, AC_M_DARK) == &m.img[AC_M_DARK]);
    ac_calib_opts_default(&o);
    memset(cs, 0, sizeof cs);
    /* The first set from copies, the second takes the buffers. */
    ASSERT_OK(ac_masters_prepare(&m, 1.0, &o, true, &cs[0], &e));
    ASSERT_NOT_NULL(m.img[AC_M_DARK].px);
    ASSERT_OK(ac_masters_prepare(&m, 1.0, &o, false, &cs[1], &e));
    ASSERT_NULL(m.img[AC_M_DARK].px);
    ASSERT_EQ(memcmp(cs[0].offset, cs[1].offset, 64 * 48 * sizeof(float)), 0);
    ASSERT_STR_EQ(cs[1].dark_md5, "");
    ac_masters_set_md5s(&m, cs, 2);
    for (int g = 0; g < 2; g++) {
        ASSERT_STR_EQ(cs[g].bias_md5, md5[0]);
        ASSERT_STR_EQ(cs[g].dark_md5, md5[1]);
        ASSERT_STR_EQ(cs[g].flat_md5, md5[2]);
        ASSERT_STR_EQ(cs[g].flatdark_md5, "");
        ac_calset_free(&cs[g]);
    }
    ASSERT_STR_EQ(m.img[AC_M_FLAT].md5, md5[2]);
    ac_masters_free(&m);
    ASSERT(!m.loaded[AC_M_BIAS]);
}

TEST(masters_frame_type_check)
{
    ac_masters_t m;
    ac_err_t e = {0};

    make_masters();
    memset(&m, 0, sizeof m);
    m.path[AC_M_DARK] = "bias.fits"; /* a bias given as the dark */
    m.path[AC_M_FLATDARK] = "dark.fits";
    ASSERT_OK(ac_masters_load_one(&m, AC_M_DARK, 0, &e));
    ASSERT_OK(ac_masters_load_one(&m, AC_M_FLATDARK, 0, &e));
    ASSERT_EQ(ac_masters_check_type(&m, AC_M_DARK, false, &e), AC_EMETADATA);
    ASSERT_EQ(strncmp(e.msg, "master dark: bias.fits has IMAGETYP '", 37), 0);
    ASSERT_CONTAINS(e.msg, "' (a bias frame); use --force to use it anyway");
    ASSERT_OK(ac_masters_check_type(&m, AC_M_DARK, true, &e));
    ASSERT_OK(ac_masters_check_type(&m, AC_M_FLATDARK, false, &e)); /* a dark may serve */
    ASSERT_OK(ac_masters_check_type(&m, AC_M_BIAS, false, &e));     /* not loaded */
    ASSERT_STR_EQ(ac_masters_kind_name(AC_M_FLATDARK), "flat-dark");
    ac_masters_free(&m);
}

/* write_plane writes a 64x48 float32 image filled with v, typed as IMAGETYP. */
static void write_plane(const char *path, const char *imagetyp, float v)
{
    fitsfile *f = NULL;
    long naxes[2] = {64, 48};
    float px[64 * 48];
    int status = 0;

    for (int i = 0; i < 64 * 48; i++)
        px[i] = v;
    remove(path);
    fits_create_file(&f, path, &status);
    fits_create_img(f, FLOAT_IMG, 2, naxes, &status);
    fits_update_key(f, TSTRING, "IMAGETYP", (void *)imagetyp, NULL, &status);
    fits_write_img(f, TFLOAT, 1, 64 * 48, px, &status);
    fits_close_file(f, &status);
    ASSERT_EQ(status, 0);
}

TEST(masters_refused_by_preparation_are_named)
{
    ac_masters_t m;
    ac_calset_t cs;
    ac_err_t e = {0};
    int bad = 99;

    /* A NaN-filled dark: the load succeeds, the preparation refuses it and names it, so the
     * daemon can keep exactly that file out of matching. */
    make_masters();
    write_plane("dark.fits", "Dark Frame", NAN);
    set_paths(&m);
    ASSERT_EQ(load(&m, &cs, &bad, &e), AC_EMASTER);
    ASSERT_EQ(bad, AC_M_DARK);
    ASSERT_CONTAINS(e.msg, "NaN-filled");
    /* An all-zero flat. */
    make_masters();
    write_plane("flat.fits", "Flat Field", 0.0f);
    set_paths(&m);
    memset(&e, 0, sizeof e);
    ASSERT_EQ(load(&m, &cs, &bad, &e), AC_EMASTER);
    ASSERT_EQ(bad, AC_M_FLAT);
    ASSERT_CONTAINS(e.msg, "all zero");
}

/* ---- The one-shot's masters (oneshot_masters.h) ---- */

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
