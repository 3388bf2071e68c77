/*
 * test-mcache.c - the master cache's memory of failures (daemon/serve/mcache.c): a set
 * whose dark is NaN-filled fails once, names the dark, is not transient and is not loaded
 * again while the file is unchanged; a new file under the same name is loaded again and
 * used; a master whose header is unreadable fails at once, naming it, without a load. A
 * master whose file is missing is loaded from the copy the owner's resolve names (a cloud
 * download), the set keeping the catalogue's path in its key. The MD5s, run beside the
 * preparation, decide before the set is ready; a master the process hashed a moment before
 * is not hashed again while its file is unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "fitsgen.h"
#include "gentest.h"
#include "mcache.h"
#include "test.h"
#include "tools.h"

static int loaded;

static void on_loaded(void *ud, ac_mset_t *set)
{
    (void)ud;
    (void)set;
    loaded++;
}

/* load_key acquires key and runs the loop until its load ends; returns acquire's code. */
static int load_key(ac_mcache_t *mc, uv_loop_t *loop, const ac_mkey_t *key, ac_mset_t **set)
{
    ac_calib_opts_t o;
    ac_err_t e = {0};
    int before = loaded, rc;

    ac_calib_opts_default(&o);
    rc = ac_mcache_acquire(mc, key, &o, 0, set, &e);
    if (rc == AC_EBUSY) {
        while (loaded == before)
            uv_run(loop, UV_RUN_ONCE);
    }
    return rc;
}

TEST(mcache_failed_set_not_reloaded_until_the_file_changes)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f;
    ac_gen_t *g;
    ac_err_t e = {0};
    uv_loop_t loop;
    ac_mcache_t mc;
    ac_mkey_t key;
    ac_mset_t *set = NULL;
    ac_calib_opts_t o;
    int rc;

    small_cam(&cam, 5);
    g = gen_new(&cam);
    ac_gen_frame_default(&f, AC_GEN_BIAS);
    f.master = AC_GEN_MASTER_FLOAT;
    write_frame(g, &f, "bias.fits");
    ASSERT_OK(ac_gen_write_bad(g, AC_GEN_BAD_NAN_MASTER, "dark.fits", &e));
    FILE *txt = fopen("notfits.fits", "w");
    fputs("not a FITS file\n", txt);
    fclose(txt);
    ASSERT_OK(uv_loop_init(&loop));
    ac_mcache_init(&mc, &loop, 256u << 20, on_loaded, NULL);
    memset(&key, 0, sizeof key);
    snprintf(key.path[AC_M_BIAS], sizeof key.path[0], "bias.fits");
    snprintf(key.path[AC_M_DARK], sizeof key.path[0], "dark.fits");
    key.k = 1;

    ASSERT_EQ(load_key(&mc, &loop, &key, &set), AC_EBUSY);
    ASSERT_EQ(loaded, 1);
    ASSERT_EQ(set->state, AC_MSET_FAILED);
    ASSERT_EQ(set->bad_master, AC_M_DARK);
    ASSERT(!set->transient);
    ASSERT_CONTAINS(set->err.msg, "NaN-filled");
    /* Asked again and again: the error at once, no load. */
    ac_calib_opts_default(&o);
    for (int i = 0; i < 5; i++) {
        rc = ac_mcache_acquire(&mc, &key, &o, 0, &set, &e);
        ASSERT_EQ(rc, AC_EMASTER);
        ASSERT_EQ(mc.loading, 0);
    }
    ASSERT_EQ(loaded, 1);
    /* A good dark under the same name (another inode): loaded again, ready. */
    ac_gen_frame_default(&f, AC_GEN_DARK);
    f.master = AC_GEN_MASTER_FLOAT;
    write_frame(g, &f, "dark.new.fits");
    ASSERT_OK(rename("dark.new.fits", "dark.fits"));
    ASSERT_EQ(load_key(&mc, &loop, &key, &set), AC_EBUSY);
    ASSERT_EQ(loaded, 2);
    ASSERT_EQ(set->state, AC_MSET_READY);
    ASSERT_OK(ac_mcache_acquire(&mc, &key, &o, 0, &set, &e));
    ac_mcache_release(&mc, set);
    /* An unreadable header: failed at once, naming the master, no load. */
    snprintf(key.path[AC_M_DARK], sizeof key.path[0], "notfits.fits");
    memset(&e, 0, sizeof e);
    rc = ac_mcache_acquire(&mc, &key, &o, 0, &set, &e);
    ASSERT(rc != 0 && rc != AC_EBUSY);
    ASSERT_NOT_NULL(set);
    ASSERT_EQ(set->state, AC_MSET_FAILED);
    ASSERT_EQ(set->bad_master, AC_M_DARK);
    ASSERT_CONTAINS(e.msg, "master dark");
    ASSERT_EQ(mc.loading, 0);
    ASSERT_EQ(ac_mcache_acquire(&mc, &key, &o, 0, &set, &e), rc);
    ASSERT_EQ(loaded, 2);
    ASSERT(ac_mcache_transient(-ENOMEM));
    ASSERT(ac_mcache_transient(AC_ECANCELED));
    ASSERT(!ac_mcache_transient(AC_EMASTER));
    ASSERT_EQ(ac_mcache_close(&mc), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&loop));
    ac_gen_free(g);
}

/* resolve_copy: the cloud copy of "gone/dark.fits" is "copy/dark.fits". */
static int resolve_copy(void *ud, const char *path, char *out, size_t size)
{
    ++*(int *)ud;
    if (strcmp(path, "gone/dark.fits") != 0)
        return 0;
    snprintf(out, size, "copy/dark.fits");
    return 1;
}

TEST(mcache_loads_a_missing_master_from_its_resolved_copy)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t f;
    ac_gen_t *g;
    ac_err_t e = {0};
    uv_loop_t loop;
    ac_mcache_t mc;
    ac_mkey_t key;
    ac_mset_t *set = NULL;
    ac_calib_opts_t o;
    int asked = 0;

    small_cam(&cam, 6);
    g = gen_new(&cam);
    ASSERT_EQ(mkdir("copy", 0700), 0);
    ac_gen_frame_default(&f, AC_GEN_DARK);
    f.master = AC_GEN_MASTER_FLOAT;
    write_frame(g, &f, "copy/dark.fits");
    ASSERT_OK(uv_loop_init(&loop));
    ac_mcache_init(&mc, &loop, 256u << 20, on_loaded, NULL);
    memset(&key, 0, sizeof key);
    snprintf(key.path[AC_M_DARK], sizeof key.path[0], "gone/dark.fits");
    key.k = 1;
    /* Without resolve the missing file fails the set, naming the dark. */
    ac_calib_opts_default(&o);
    ASSERT(ac_mcache_acquire(&mc, &key, &o, 0, &set, &e) != AC_EBUSY);
    ASSERT_EQ(set->state, AC_MSET_FAILED);
    ASSERT_EQ(set->bad_master, AC_M_DARK);
    ac_mcache_forget_failures(&mc);
    /* With it: read from the copy, ready, the key as given. */
    mc.resolve = resolve_copy;
    mc.resolve_ud = &asked;
    loaded = 0;
    ASSERT_EQ(load_key(&mc, &loop, &key, &set), AC_EBUSY);
    ASSERT_EQ(loaded, 1);
    ASSERT_EQ(set->state, AC_MSET_READY);
    ASSERT(asked > 0);
    ASSERT_STR_EQ(set->key.path[AC_M_DARK], "gone/dark.fits");
    ASSERT_STR_EQ(set->files.path[AC_M_DARK], "copy/dark.fits");
    ASSERT(set->cs.has_dark);
    ASSERT_OK(ac_mcache_acquire(&mc, &key, &o, 0, &set, &e));
    ac_mcache_release(&mc, set);
    ASSERT_EQ(ac_mcache_close(&mc), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&loop));
    ac_gen_free(g);
}

/* bias_and_flat writes float masters bias.fits and flat.fits, their MD5s (md5sum's) and a
 * key (k = 1) for both expecting those MD5s. */
static void bias_and_flat(ac_gen_t *g, ac_mkey_t *key, char bias_md5[33], char flat_md5[33])
{
    ac_gen_frame_t f;

    ac_gen_frame_default(&f, AC_GEN_BIAS);
    f.master = AC_GEN_MASTER_FLOAT;
    write_frame(g, &f, "bias.fits");
    ac_gen_frame_default(&f, AC_GEN_FLAT);
    f.master = AC_GEN_MASTER_FLOAT;
    write_frame(g, &f, "flat.fits");
    snprintf(bias_md5, 33, "%s", ac_tools_hash("md5sum", "bias.fits"));
    snprintf(flat_md5, 33, "%s", ac_tools_hash("md5sum", "flat.fits"));
    memset(key, 0, sizeof *key);
    snprintf(key->path[AC_M_BIAS], sizeof key->path[0], "bias.fits");
    snprintf(key->path[AC_M_FLAT], sizeof key->path[0], "flat.fits");
    snprintf(key->md5[AC_M_BIAS], sizeof key->md5[0], "%s", bias_md5);
    snprintf(key->md5[AC_M_FLAT], sizeof key->md5[0], "%s", flat_md5);
    key->k = 1;
}

/* The MD5s run beside the preparation: a ready set carries every master's MD5 (its
 * provenance, as `md5sum` gives it); an MD5 that does not match the catalogue's fails the
 * set, naming that master, even though the set was prepared meanwhile; and a set whose
 * read fails is never prepared. */
TEST(mcache_md5s_beside_the_preparation_checked_before_ready)
{
    ac_gen_camera_t cam;
    ac_gen_t *g;
    uv_loop_t loop;
    ac_mcache_t mc;
    ac_mkey_t key;
    ac_mset_t *set = NULL;
    ac_calib_opts_t o;
    char bias_md5[33], flat_md5[33];

    small_cam(&cam, 7);
    g = gen_new(&cam);
    bias_and_flat(g, &key, bias_md5, flat_md5);
    memset(key.md5[AC_M_FLAT], 0, sizeof key.md5[0]);
    ASSERT_OK(uv_loop_init(&loop));
    ac_mcache_init(&mc, &loop, 256u << 20, on_loaded, NULL);
    ac_calib_opts_default(&o);
    loaded = 0;
    ASSERT_EQ(load_key(&mc, &loop, &key, &set), AC_EBUSY);
    ASSERT_EQ(set->state, AC_MSET_READY);
    ASSERT_STR_EQ(set->cs.bias_md5, bias_md5);
    ASSERT_STR_EQ(set->cs.flat_md5, flat_md5); /* no MD5 expected: still its provenance */
    /* The catalogue expects another MD5 for the flat: prepared, then failed on it. */
    snprintf(key.md5[AC_M_FLAT], sizeof key.md5[0], "0123456789abcdef0123456789abcdef");
    ASSERT_EQ(load_key(&mc, &loop, &key, &set), AC_EBUSY);
    ASSERT_EQ(set->state, AC_MSET_FAILED);
    ASSERT_EQ(set->bad_master, AC_M_FLAT);
    ASSERT_CONTAINS(set->err.msg, "master flat");
    ASSERT_CONTAINS(set->err.msg, "checksum mismatch");
    ASSERT_EQ(set->bytes, 0u);
    ASSERT_EQ(mc.loading, 0);
    /* Both wrong: the bias is named (bias before flat). */
    snprintf(key.md5[AC_M_BIAS], sizeof key.md5[0], "fedcba9876543210fedcba9876543210");
    ASSERT_EQ(load_key(&mc, &loop, &key, &set), AC_EBUSY);
    ASSERT_EQ(set->state, AC_MSET_FAILED);
    ASSERT_EQ(set->bad_master, AC_M_BIAS);
    ASSERT_EQ(loaded, 3);
    ASSERT_EQ(ac_mcache_close(&mc), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&loop));
    ac_gen_free(g);
}

/* reload trims the cache (no set in use) and loads key again; returns the set. */
static ac_mset_t *reload(ac_mcache_t *mc, uv_loop_t *loop, const ac_mkey_t *key)
{
    ac_mset_t *set = NULL;

    ac_mcache_trim(mc);
    ac_mcache_forget_failures(mc);
    ASSERT_EQ(load_key(mc, loop, key, &set), AC_EBUSY);
    return set;
}

/* A master the process hashed itself a moment before (the import, ac_mcache_vouch) is not
 * read again for its MD5, but only while its file is the same (device, inode, size,
 * modification and change times), within vouch_s, and when the catalogue expects that
 * MD5: a flat rewritten in place after the vouch, even with its modification time set
 * back, is read and fails its check. */
TEST(mcache_takes_a_vouched_md5_only_while_the_file_is_unchanged)
{
    ac_gen_camera_t cam;
    ac_gen_t *g;
    uv_loop_t loop;
    ac_mcache_t mc;
    ac_mkey_t key;
    ac_mset_t *set;
    struct stat bias_st, flat_st, st;
    char bias_md5[33], flat_md5[33];

    small_cam(&cam, 8);
    g = gen_new(&cam);
    bias_and_flat(g, &key, bias_md5, flat_md5);
    ASSERT_OK(stat("bias.fits", &bias_st));
    ASSERT_OK(stat("flat.fits", &flat_st));
    ASSERT_OK(uv_loop_init(&loop));
    ac_mcache_init(&mc, &loop, 256u << 20, on_loaded, NULL);
    /* Both vouched for: no MD5 read, the set's provenance is theirs. */
    ac_mcache_vouch(&mc, "bias.fits", &bias_st, bias_md5);
    ac_mcache_vouch(&mc, "flat.fits", &flat_st, flat_md5);
    set = reload(&mc, &loop, &key);
    ASSERT_EQ(set->state, AC_MSET_READY);
    ASSERT_EQ(mc.md5s_vouched, 2u);
    ASSERT_STR_EQ(set->cs.bias_md5, bias_md5);
    ASSERT_STR_EQ(set->cs.flat_md5, flat_md5);
    /* A vouch for another MD5 than the catalogue's is not taken: the file is read. */
    ac_mcache_vouch(&mc, "flat.fits", &flat_st, "0123456789abcdef0123456789abcdef");
    set = reload(&mc, &loop, &key);
    ASSERT_EQ(set->state, AC_MSET_READY);
    ASSERT_EQ(mc.md5s_vouched, 3u); /* the bias only */
    ASSERT_STR_EQ(set->cs.flat_md5, flat_md5);
    /* The flat rewritten in place (same inode, same size), its modification time set back:
     * the change time differs, so the file is read, and its MD5 fails the check. */
    ac_mcache_vouch(&mc, "flat.fits", &flat_st, flat_md5);
    ASSERT_OK(stat("flat.fits", &st));
    {
        FILE *fp = fopen("flat.fits", "r+b");
        ASSERT_NOT_NULL(fp);
        ASSERT_OK(fseek(fp, st.st_size - 8, SEEK_SET));
        ASSERT_EQ(fwrite("\x41\x42\x43\x44\x41\x42\x43\x44", 1, 8, fp), 8u);
        ASSERT_OK(fclose(fp));
        struct timespec ts[2] = {st.st_atim, st.st_mtim};
        ASSERT_OK(utimensat(AT_FDCWD, "flat.fits", ts, 0));
    }
    set = reload(&mc, &loop, &key);
    ASSERT_EQ(set->state, AC_MSET_FAILED);
    ASSERT_EQ(set->bad_master, AC_M_FLAT);
    ASSERT_CONTAINS(set->err.msg, "checksum mismatch");
    ASSERT_EQ(mc.md5s_vouched, 4u); /* the bias only */
    /* Past vouch_s nothing is taken. */
    mc.vouch_s = 0;
    memset(key.md5[AC_M_FLAT], 0, sizeof key.md5[0]);
    set = reload(&mc, &loop, &key);
    ASSERT_EQ(set->state, AC_MSET_READY);
    ASSERT_EQ(mc.md5s_vouched, 4u);
    ASSERT_STR_EQ(set->cs.bias_md5, bias_md5);
    ASSERT_EQ(ac_mcache_close(&mc), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&loop));
    ac_gen_free(g);
}
