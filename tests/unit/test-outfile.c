/*
 * test-outfile.c - creating outputs in folders others may write to (daemon/io/outfile.c,
 * through ac_imgout and a master build): the rename, the folder checks, and a hostile
 * tester's plants: dangling and pointing symbolic links, regular files and directories at
 * the temporary names (the old predictable ".NAME.actmp-PID-N" ones, handed to the writer
 * through the name hook), a symbolic link or directory at the final name, the temporary
 * file or the folder swapped during the write. Every case checks that nothing is created
 * outside the folder, that an output is a regular file, that a refusal names the path, and
 * that no planted temporary name makes a write fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"
#include "fitsgen.h"
#include "fsutil.h"
#include "imgout-util.h"
#include "outfile.h"
#include "test.h"
#include "util.h"

static void put(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* content returns the first bytes of path (static buffer). */
static const char *content(const char *path)
{
    static char buf[64];
    int fd = open(path, O_RDONLY);
    ssize_t n;

    ASSERT(fd >= 0);
    n = read(fd, buf, sizeof buf - 1);
    ASSERT(n >= 0);
    buf[n] = '\0';
    close(fd);
    return buf;
}

static bool is_kind(const char *path, mode_t kind)
{
    struct stat st;

    return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == kind;
}

/* outside_untouched asserts that the folder "outside" holds only victim.fits, unchanged. */
static void outside_untouched(void)
{
    ASSERT_EQ(imgt_count_entries("outside"), 1);
    ASSERT_STR_EQ(content("outside/victim.fits"), "victim");
}

static void setup_folders(void)
{
    ASSERT_OK(mkdir("out", 0755));
    ASSERT_OK(mkdir("outside", 0755));
    put("outside/victim.fits", "victim");
}

/* The names the first versions gave: ".<base>.actmp-<pid>-<counter>". */
static void old_name(const char *base, int n, char *out, size_t size)
{
    snprintf(out, size, ".%s.actmp-%ld-%d", base, (long)getpid(), n);
}

/* Name hook: an attacker predicted the first four names; then random ones. */
static int predicted_first(const char *base, int try, char *out, size_t size)
{
    if (try >= 4)
        return ac_fsutil_tmpname(base, out, size);
    old_name(base, try, out, size);
    return 0;
}

/* Name hook: every name is the one planted. */
static int always_planted(const char *base, int try, char *out, size_t size)
{
    (void)try;
    old_name(base, 0, out, size);
    return 0;
}

/* plant_at_old_names puts, in out/, a dangling link into outside/, a link to the victim,
 * a regular file and a directory at the old names 0-3 of base, and dangling links at 4-63. */
static void plant_at_old_names(const char *base)
{
    char name[300], path[400], target[400];

    for (int n = 0; n < 64; n++) {
        old_name(base, n, name, sizeof name);
        snprintf(path, sizeof path, "out/%s", name);
        snprintf(target, sizeof target, "../outside/created-%d", n);
        if (n == 1)
            ASSERT_OK(symlink("../outside/victim.fits", path));
        else if (n == 2)
            put(path, "planted");
        else if (n == 3)
            ASSERT_OK(mkdir(path, 0755));
        else
            ASSERT_OK(symlink(target, path));
    }
}

/* check_plants_intact asserts the plants of plant_at_old_names are as they were. */
static void check_plants_intact(const char *base)
{
    char name[300], path[400];

    for (int n = 0; n < 64; n++) {
        old_name(base, n, name, sizeof name);
        snprintf(path, sizeof path, "out/%s", name);
        ASSERT(is_kind(path, n == 2 ? S_IFREG : n == 3 ? S_IFDIR : S_IFLNK));
    }
    old_name(base, 2, name, sizeof name);
    snprintf(path, sizeof path, "out/%s", name);
    ASSERT_STR_EQ(content(path), "planted");
}

/* write_image writes a 37 x 23 test image to path (compressed or not) and checks it. */
static int write_image(const char *path, bool compress, ac_err_t *e)
{
    const int w = 37, h = 23;
    ac_imgout_opts_t o;
    float *img = imgt_make_image(w, h), *back;
    int rc;

    imgt_opts_small(&o);
    o.compress = compress;
    if (compress)
        for (int i = 0; i < w * h; i++)
            img[i] = 1000.0f + (float)(i % 97);
    rc = imgt_write_file(path, w, h, img, NULL, 0, NULL, &o, NULL, e);
    if (rc == 0) {
        ASSERT(is_kind(path, S_IFREG));
        back = imgt_read_back(path, compress ? 2 : 1, w, h);
        if (!compress)
            imgt_assert_same_bits(back, img, (size_t)w * h);
        free(back);
    }
    free(img);
    return rc;
}

TEST(outfile_commit_renames_and_replaces)
{
    ac_outfile_t f;
    ac_err_t e = {0};

    ASSERT_OK(ac_outfile_create(&f, "t.fits", &e));
    ASSERT_EQ(imgt_count_tmp("."), 1);
    ASSERT_EQ(write(f.fd, "x", 1), 1);
    ASSERT_OK(ac_outfile_commit(&f, true, &e));
    ASSERT_EQ(f.fd, -1);
    ASSERT_EQ(f.dirfd, -1);
    ASSERT_EQ(imgt_count_tmp("."), 0);
    ASSERT_STR_EQ(content("t.fits"), "x");
    ASSERT_OK(ac_outfile_create(&f, "t.fits", &e));
    ASSERT_EQ(write(f.fd, "y", 1), 1);
    ASSERT_OK(ac_outfile_commit(&f, false, NULL)); /* replaces the earlier regular file */
    ASSERT_STR_EQ(content("t.fits"), "y");
    ASSERT_EQ(imgt_count_entries("."), 1);
    /* The temporary file removed by someone else: named in the error. */
    ASSERT_OK(ac_outfile_create(&f, "none.fits", &e));
    {
        char tmp[300];
        snprintf(tmp, sizeof tmp, "%s", f.tmp);
        ASSERT_OK(unlink(tmp));
        ASSERT_EQ(ac_outfile_commit(&f, true, &e), -ENOENT);
        ASSERT_CONTAINS(e.msg, tmp);
    }
    ASSERT_CONTAINS(e.msg, "none.fits");
    ASSERT(!is_kind("none.fits", S_IFREG));
    /* Discard removes the temporary file; twice is harmless. */
    ASSERT_OK(ac_outfile_create(&f, "d.fits", &e));
    ac_outfile_discard(&f);
    ac_outfile_discard(&f);
    ac_outfile_discard(NULL);
    ASSERT_EQ(imgt_count_entries("."), 1);
}

TEST(outfile_create_in_folders)
{
    ac_outfile_t f;
    ac_err_t e = {0};

    ASSERT_OK(mkdir("sub", 0755));
    ASSERT_OK(ac_outfile_create(&f, "sub/file.fits", &e));
    ASSERT_OK(ac_outfile_commit(&f, true, &e));
    ASSERT(is_kind("sub/file.fits", S_IFREG));
    ASSERT_OK(ac_outfile_create(&f, "file.fits", &e)); /* the current directory */
    ASSERT_OK(ac_outfile_commit(&f, true, &e));
    ASSERT_EQ(ac_outfile_create(&f, "nosuch/file.fits", &e), -ENOENT);
    ASSERT_CONTAINS(e.msg, "nosuch");
    ASSERT_EQ(f.fd, -1);
    /* A folder reached through a symbolic link (the administrator's /data -> /mnt/disk) is
     * the folder it names: the file is created there, as a regular file. */
    ASSERT_OK(mkdir("real", 0755));
    ASSERT_OK(symlink("real", "linked"));
    memset(&e, 0, sizeof e);
    ASSERT_OK(ac_outfile_create(&f, "linked/x.fits", &e));
    ASSERT_OK(ac_outfile_commit(&f, true, &e));
    ASSERT(is_kind("real/x.fits", S_IFREG));
}

TEST(outfile_planted_temporary_names_are_skipped)
{
    /* The reported attack: with compression, a dangling link at the predictable
     * temporary name made root create files outside the folder and the output itself
     * became that link; without, planted names failed every file with "File exists". */
    for (int compress = 0; compress <= 1; compress++) {
        const char *base = compress ? "L.fits.fz" : "L.fits";
        char path[64];
        ac_err_t e = {0};

        ASSERT_OK(system("rm -rf out outside"));
        setup_folders();
        snprintf(path, sizeof path, "out/%s", base);
        plant_at_old_names(base);
        /* The names of this version are random: the plants are never even tried. */
        ASSERT_OK(write_image(path, compress, &e));
        outside_untouched();
        check_plants_intact(base);
        ASSERT_EQ(imgt_count_tmp("out"), 64);
        /* An attacker who predicted the first four names only costs four tries. */
        ac_outfile_set_name_hook(predicted_first);
        ASSERT_OK(write_image(path, compress, &e));
        ac_outfile_set_name_hook(NULL);
        outside_untouched();
        check_plants_intact(base);
        ASSERT_EQ(imgt_count_entries("out"), 65);
    }
}

TEST(outfile_every_name_planted_fails_cleanly)
{
    ac_err_t e = {0};

    setup_folders();
    plant_at_old_names("L.fits");
    ac_outfile_set_name_hook(always_planted);
    ASSERT_EQ(write_image("out/L.fits", false, &e), -EEXIST);
    ac_outfile_set_name_hook(NULL);
    ASSERT_CONTAINS(e.msg, "out/L.fits");
    ASSERT_CONTAINS(e.msg, "every name tried is taken");
    outside_untouched();
    check_plants_intact("L.fits");
    ASSERT_EQ(imgt_count_entries("out"), 64);
}

TEST(outfile_final_name_symlink_or_directory_refused)
{
    for (int compress = 0; compress <= 1; compress++) {
        const char *path = compress ? "out/L.fits.fz" : "out/L.fits";
        ac_err_t e = {0};

        ASSERT_OK(system("rm -rf out outside"));
        setup_folders();
        ASSERT_OK(symlink("../outside/victim.fits", path));
        ASSERT_EQ(write_image(path, compress, &e), -ELOOP);
        ASSERT_CONTAINS(e.msg, path);
        ASSERT_CONTAINS(e.msg, "symbolic link");
        outside_untouched();
        ASSERT(is_kind(path, S_IFLNK)); /* refused, left for the operator */
        ASSERT_EQ(imgt_count_entries("out"), 1);
        /* A dangling one too: nothing may appear where it points. */
        ASSERT_OK(unlink(path));
        ASSERT_OK(symlink("../outside/created.fits", path));
        ASSERT_EQ(write_image(path, compress, &e), -ELOOP);
        outside_untouched();
        ASSERT_OK(unlink(path));
        ASSERT_OK(mkdir(path, 0755));
        memset(&e, 0, sizeof e);
        ASSERT_EQ(write_image(path, compress, &e), -EISDIR);
        ASSERT_CONTAINS(e.msg, path);
        ASSERT_EQ(imgt_count_entries("out"), 1);
        /* The regular file of an earlier run is replaced. */
        ASSERT_OK(rmdir(path));
        put(path, "old");
        ASSERT_OK(write_image(path, compress, &e));
        ASSERT_EQ(imgt_count_entries("out"), 1);
    }
}

/* find_tmp copies the name of the one temporary file in out/ into name. */
static void find_tmp(char *name, size_t size)
{
    FILE *p = popen("ls -A out", "r");
    char line[300];

    ASSERT_NOT_NULL(p);
    name[0] = '\0';
    while (fgets(line, sizeof line, p) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (ac_fsutil_is_tmpname(line))
            snprintf(name, size, "%s", line);
    }
    pclose(p);
    ASSERT(name[0] != '\0');
}

TEST(outfile_swaps_during_the_write_are_refused)
{
    for (int compress = 0; compress <= 1; compress++) {
        const char *path = compress ? "out/L.fits.fz" : "out/L.fits";
        float px[4] = {1, 2, 3, 4};
        char tmp[300], tpath[400];
        ac_imgout_opts_t o;
        ac_imgout_t *wr = NULL;
        ac_err_t e = {0};

        ASSERT_OK(system("rm -rf out outside out.real"));
        setup_folders();
        ac_imgout_opts_default(&o);
        o.compress = compress;
        /* The temporary file moved away and a link put at its name. */
        ASSERT_OK(ac_imgout_open(path, 2, 2, NULL, 0, &o, &wr, &e));
        ASSERT_OK(ac_imgout_write_rows(wr, px, 2, &e));
        find_tmp(tmp, sizeof tmp);
        snprintf(tpath, sizeof tpath, "out/%s", tmp);
        ASSERT_OK(rename(tpath, "out/moved"));
        ASSERT_OK(symlink("../outside/victim.fits", tpath));
        ASSERT_EQ(ac_imgout_commit(wr, NULL, NULL, &e), -ESTALE);
        ASSERT_CONTAINS(e.msg, path);
        ASSERT(!is_kind(path, S_IFLNK) && !is_kind(path, S_IFREG));
        ASSERT(is_kind(tpath, S_IFLNK)); /* not ours: left alone */
        outside_untouched();
        /* The folder replaced by a link to another one. */
        memset(&e, 0, sizeof e);
        ASSERT_OK(ac_imgout_open(path, 2, 2, NULL, 0, &o, &wr, &e));
        ASSERT_OK(ac_imgout_write_rows(wr, px, 2, &e));
        ASSERT_OK(rename("out", "out.real"));
        ASSERT_OK(symlink("outside", "out"));
        ASSERT_EQ(ac_imgout_commit(wr, NULL, NULL, &e), -ESTALE);
        ASSERT_CONTAINS(e.msg, path);
        ASSERT_CONTAINS(e.msg, "replaced");
        outside_untouched();
        ASSERT_EQ(imgt_count_tmp("out.real"), 1); /* the planted link only */
        ASSERT_OK(unlink("out"));
    }
}

/* ---- A master build ---- */

/* build_bias builds a master bias from three frames into Masters/Master-Bias.fits. */
static void build_bias(ac_build_result_t *res)
{
    ac_gen_camera_t cam;
    ac_gen_frame_t fr;
    ac_build_spec_t sp;
    ac_gen_t *g;
    char paths[3][300], out[600];
    ac_err_t e = {0};

    ac_gen_camera_sized(&cam, 7, 64, 48);
    cam.n_stars = 0;
    ASSERT_NOT_NULL(g = ac_gen_new(&cam, &e));
    memset(&sp, 0, sizeof sp);
    ac_build_opts_default(&sp.opts);
    snprintf(sp.opts.masters_dir, sizeof sp.opts.masters_dir, "%s/out", ac_test_tmpdir());
    snprintf(out, sizeof out, "%s/Master-Bias.fits", sp.opts.masters_dir);
    sp.kind = AC_CAL_BIAS;
    sp.key = strdup("K");
    sp.session_id = strdup("S");
    sp.output_path = strdup(out);
    sp.nsubs = 3;
    sp.subs = calloc(3, sizeof *sp.subs);
    ASSERT_NOT_NULL(sp.subs);
    for (int i = 0; i < 3; i++) {
        ac_gen_frame_default(&fr, AC_GEN_BIAS);
        fr.index = i + 1;
        snprintf(paths[i], sizeof paths[i], "%s/bias_%d.fits", ac_test_tmpdir(), i + 1);
        if (ac_gen_write_frame(g, &fr, paths[i], &e) != 0)
            AC_TEST_FAIL("%s: %s", paths[i], e.msg);
        sp.subs[i] = strdup(paths[i]);
    }
    ac_build_run(&sp, res, NULL);
    ac_build_spec_clear(&sp);
    ac_gen_free(g);
}

TEST(outfile_master_build_skips_plants_and_refuses_a_linked_name)
{
    ac_build_result_t *res = calloc(1, sizeof *res);

    ASSERT_NOT_NULL(res);
    setup_folders();
    plant_at_old_names("Master-Bias.fits");
    ac_outfile_set_name_hook(predicted_first);
    build_bias(res);
    ac_outfile_set_name_hook(NULL);
    if (res->status != AC_BUILT)
        AC_TEST_FAIL("build: %d %s", res->status, res->err.msg);
    ASSERT(is_kind("out/Master-Bias.fits", S_IFREG));
    free(imgt_read_back("out/Master-Bias.fits", 1, 64, 48));
    outside_untouched();
    check_plants_intact("Master-Bias.fits");
    /* A link at the master's name: refused with the path, nothing written through it. */
    ASSERT_OK(unlink("out/Master-Bias.fits"));
    ASSERT_OK(symlink("../outside/victim.fits", "out/Master-Bias.fits"));
    build_bias(res);
    ASSERT_EQ(res->status, AC_BUILD_ERROR);
    ASSERT_EQ(res->err.code, -ELOOP);
    ASSERT_CONTAINS(res->err.msg, "out/Master-Bias.fits");
    ASSERT(is_kind("out/Master-Bias.fits", S_IFLNK));
    outside_untouched();
    ASSERT_EQ(imgt_count_tmp("out"), 64); /* the plants; no temporary of ours left */
    free(res);
}
