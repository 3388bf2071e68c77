/*
 * test-manifest.c - `astrocald calibrate --manifest SHARD --results OUT` on generated data:
 * pixels identical to the one-shot's with the same masters, result lines whose SHA-256 is
 * the output's (hashed here independently), a second run that skips every light and
 * changes nothing, a tampered or missing output calibrated again, a results line cut short
 * by a kill ignored, a master whose MD5 is not the manifest's refused with the reason, and
 * a malformed manifest refused with its line.
 */
#include <jansson.h>
#include <sys/stat.h>

#include "digest.h"
#include "fitsgen.h"
#include "harness.h"
#include "support.h"

#define W 96
#define H 64
#define N 4

static void make_night(void)
{
    ac_gen_camera_t cam;
    ac_gen_night_t night;
    ac_err_t e = {0};
    ac_gen_t *g;

    ac_gen_camera_sized(&cam, 7, W, H);
    g = ac_gen_new(&cam, &e);
    ASSERT_NOT_NULL(g);
    ac_gen_night_default(&night, &cam);
    night.n_lights = N;
    night.masters = AC_GEN_MASTER_ASTROFILER;
    if (ac_gen_write_night(g, &night, "night", &e) != 0)
        AC_TEST_FAIL("write night: %s", e.msg);
    ac_gen_free(g);
}

static char cwd[2048];

static json_t *master(const char *kind, const char *md5_override)
{
    char path[4096], md5[65];
    ac_err_t e = {0};

    snprintf(path, sizeof path, "%s/night/masters/master_%s.fits", cwd, kind);
    ASSERT_OK(ac_digest_file(path, AC_DIGEST_MD5, md5, sizeof md5, &e));
    return json_pack("{s:s,s:s}", "path", path, "md5", md5_override ? md5_override : md5);
}

static void light_path(int i, char *out, size_t size)
{
    snprintf(out, size, "%s/night/lights/M_31_L_300s_%04d.fits", cwd, i);
}

static void output_path(int i, char *out, size_t size)
{
    snprintf(out, size, "%s/out/M_31_L_300s_%04d_calibrated.fits", cwd, i);
}

/* write_manifest writes lights 1..N (the dark's MD5 replaced by bad_dark_md5 if given). */
static void write_manifest(const char *path, const char *bad_dark_md5)
{
    FILE *f = fopen(path, "w");
    char outdir[4096];

    ASSERT_NOT_NULL(f);
    snprintf(outdir, sizeof outdir, "%s/out", cwd);
    for (int i = 1; i <= N; i++) {
        char light[4096], out[4096], id[32];
        json_t *opts =
            json_pack("{s:f,s:b,s:f,s:s,s:f,s:s,s:s,s:b,s:f,s:f,s:b,s:f,s:I,s:s,s:s}",
                      "dark_max_scale", 2.0, "dark_optimize", 0, "flat_floor", 0.05, "pedestal",
                      "none", "pedestal_max_frac", 1e-4, "dark_has_bias", "auto",
                      "flat_calibrated", "auto", "cosmetic", 0, "cosmetic_sigma", 5.0,
                      "max_temp_diff", 5.0, "compress", 0, "quantize", 16.0, "job_memory",
                      (json_int_t)32 << 20, "output_dir", outdir, "suffix", "_calibrated");
        json_t *line;
        char *s;

        light_path(i, light, sizeof light);
        output_path(i, out, sizeof out);
        snprintf(id, sizeof id, "raw-%d", i);
        line = json_pack("{s:i,s:s,s:s,s:s,s:I,s:{s:o,s:o,s:o},s:f,s:o,s:s}", "v", 1, "file_id",
                         id, "session_id", "sess-1", "light", light, "bytes", (json_int_t)1000,
                         "masters", "bias", master("bias", NULL), "dark",
                         master("dark", bad_dark_md5), "flat", master("flat", NULL),
                         "dark_scale", 1.0, "options", opts, "output", out);
        ASSERT_NOT_NULL(line);
        s = json_dumps(line, JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
        json_decref(line);
    }
    fclose(f);
}

static int run_shard(char **out)
{
    char *const argv[] = {AC_ASTROCALD_BIN, "calibrate", "--manifest",
                          "shard.jsonl",    "--results", "res.jsonl",
                          "--jobs",         "2",         NULL};
    int rc = run_capture(argv, out);

    printf("%s", *out);
    return rc;
}

/* results_lines reads the results file's lines (objects), at most max. */
static int results_lines(json_t **lines, int max)
{
    FILE *f = fopen("res.jsonl", "r");
    char buf[65536];
    int n = 0;

    ASSERT_NOT_NULL(f);
    while (fgets(buf, sizeof buf, f) != NULL && n < max) {
        lines[n] = json_loads(buf, 0, NULL);
        ASSERT_NOT_NULL(lines[n]);
        n++;
    }
    fclose(f);
    return n;
}

/* cut_last_line_of rewrites the results file with the line of file_id last and cut in its
 * middle, as a run killed while appending it leaves it. */
static void cut_last_line_of(const char *file_id)
{
    json_t *lines[2 * N];
    int n = results_lines(lines, 2 * N);
    FILE *f = fopen("res.jsonl", "w");
    char *cut = NULL;

    ASSERT_NOT_NULL(f);
    for (int k = 0; k < n; k++) {
        char *s = json_dumps(lines[k], JSON_COMPACT);
        if (strcmp(json_string_value(json_object_get(lines[k], "file_id")), file_id) == 0) {
            cut = s;
        } else {
            fprintf(f, "%s\n", s);
            free(s);
        }
        json_decref(lines[k]);
    }
    ASSERT_NOT_NULL(cut);
    fwrite(cut, 1, strlen(cut) / 2, f);
    free(cut);
    fclose(f);
}

static int64_t mtime_ns(const char *path)
{
    struct stat st;

    ASSERT_OK(stat(path, &st));
    return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

TEST(manifest_run_matches_oneshot_and_is_idempotent)
{
    char *out = NULL, path[4096], ref[4096];
    json_t *lines[2 * N];
    int64_t mt[N + 1];
    int n;

    ASSERT_NOT_NULL(getcwd(cwd, sizeof cwd));
    make_night();
    write_manifest("shard.jsonl", NULL);
    ASSERT_EQ(run_shard(&out), 0);
    ASSERT_CONTAINS(out, "4 lights: 4 calibrated, 0 already done (verified), 0 failed");
    free(out);

    /* The one-shot with the same masters: the same pixels, bit for bit. */
    {
        char *const argv[] = {AC_ASTROCALD_BIN,
                              "calibrate",
                              "--bias",
                              "night/masters/master_bias.fits",
                              "--dark",
                              "night/masters/master_dark.fits",
                              "--flat",
                              "night/masters/master_flat.fits",
                              "--output-dir",
                              "ref",
                              "night/lights/M_31_L_300s_0001.fits",
                              "night/lights/M_31_L_300s_0002.fits",
                              "night/lights/M_31_L_300s_0003.fits",
                              "night/lights/M_31_L_300s_0004.fits",
                              NULL};
        ASSERT_EQ(run_capture(argv, &out), 0);
        free(out);
    }
    n = results_lines(lines, 2 * N);
    ASSERT_EQ(n, N);
    for (int k = 0; k < n; k++) {
        const char *op = json_string_value(json_object_get(lines[k], "output"));
        const char *id = json_string_value(json_object_get(lines[k], "file_id"));
        char sha[65];
        ac_err_t e = {0};
        int i, w, h, w2, h2;
        double *a, *b;

        ASSERT(json_is_true(json_object_get(lines[k], "ok")));
        ASSERT_NOT_NULL(op);
        ASSERT_EQ(sscanf(id, "raw-%d", &i), 1);
        output_path(i, path, sizeof path);
        ASSERT_STR_EQ(op, path);
        ASSERT_STR_EQ(json_string_value(json_object_get(lines[k], "session_id")), "sess-1");
        ASSERT_OK(ac_digest_file(op, AC_DIGEST_SHA256, sha, sizeof sha, &e));
        ASSERT_STR_EQ(json_string_value(json_object_get(lines[k], "sha256")), sha);
        ASSERT_EQ(strlen(json_string_value(json_object_get(
                      json_object_get(json_object_get(lines[k], "masters"), "dark"), "md5"))),
                  32);
        snprintf(ref, sizeof ref, "ref/M_31_L_300s_%04d_calibrated.fits", i);
        a = read_image(op, &w, &h);
        b = read_image(ref, &w2, &h2);
        ASSERT_EQ(w, W);
        ASSERT_EQ(w2, W);
        ASSERT_EQ(h2, H);
        ASSERT_OK(memcmp(a, b, sizeof(double) * W * H));
        free(a);
        free(b);
        mt[i] = mtime_ns(op);
        json_decref(lines[k]);
    }
    ASSERT_EQ(count_tmp_files("out"), 0);

    /* Run twice: everything verified and skipped, nothing rewritten. */
    ASSERT_EQ(run_shard(&out), 0);
    ASSERT_CONTAINS(out, "4 lights: 0 calibrated, 4 already done (verified), 0 failed");
    free(out);
    ASSERT_EQ(results_lines(lines, 2 * N), N);
    for (int k = 0; k < N; k++)
        json_decref(lines[k]);
    for (int i = 1; i <= N; i++) {
        output_path(i, path, sizeof path);
        ASSERT_EQ(mtime_ns(path), mt[i]);
    }

    /* Light 2's output damaged, light 3's gone, the last result line cut short (a kill
     * while appending): those three are calibrated again, light 1 is not. */
    output_path(2, path, sizeof path);
    {
        FILE *f = fopen(path, "r+b");
        ASSERT_NOT_NULL(f);
        fseek(f, 2880 + 100, SEEK_SET);
        fputc('X', f);
        fclose(f);
    }
    output_path(3, path, sizeof path);
    ASSERT_OK(unlink(path));
    cut_last_line_of("raw-4");
    ASSERT_EQ(run_shard(&out), 0);
    ASSERT_CONTAINS(out, "4 lights: 3 calibrated, 1 already done (verified), 0 failed");
    free(out);
    ASSERT_EQ(results_lines(lines, 2 * N), N);
    for (int k = 0; k < N; k++)
        json_decref(lines[k]);
    output_path(1, path, sizeof path);
    ASSERT_EQ(mtime_ns(path), mt[1]);
    output_path(2, path, sizeof path);
    snprintf(ref, sizeof ref, "ref/M_31_L_300s_0002_calibrated.fits");
    {
        int w, h;
        double *a = read_image(path, &w, &h), *b = read_image(ref, &w, &h);
        ASSERT_OK(memcmp(a, b, sizeof(double) * W * H));
        free(a);
        free(b);
    }
}

TEST(manifest_master_md5_mismatch_and_bad_lines_refused)
{
    char *out = NULL;
    json_t *lines[N];
    FILE *f;

    ASSERT_NOT_NULL(getcwd(cwd, sizeof cwd));
    make_night();
    write_manifest("shard.jsonl", "0123456789abcdef0123456789abcdef");
    ASSERT_EQ(run_shard(&out), 1);
    ASSERT_CONTAINS(out, "checksum mismatch");
    ASSERT_CONTAINS(out, "4 lights: 0 calibrated, 0 already done (verified), 4 failed");
    free(out);
    ASSERT_EQ(results_lines(lines, N), N);
    for (int k = 0; k < N; k++) {
        json_t *err = json_object_get(lines[k], "error");
        ASSERT(json_is_false(json_object_get(lines[k], "ok")));
        ASSERT_STR_EQ(json_string_value(json_object_get(err, "code")), "bad_master");
        ASSERT_CONTAINS(json_string_value(json_object_get(err, "message")), "master dark");
        json_decref(lines[k]);
    }
    ASSERT(!file_exists("out/M_31_L_300s_0001_calibrated.fits"));

    /* A malformed line stops the run before any work, naming the line and field. */
    write_manifest("shard.jsonl", NULL);
    f = fopen("shard.jsonl", "a");
    ASSERT_NOT_NULL(f);
    fputs("{\"v\":1,\"file_id\":\"x\",\"session_id\":\"s\",\"light\":\"/l.fits\"}\n", f);
    fclose(f);
    ASSERT_EQ(run_shard(&out), 65);
    ASSERT_CONTAINS(out, "shard.jsonl:5:");
    ASSERT_CONTAINS(out, "output are required");
    free(out);
    ASSERT(!file_exists("out/M_31_L_300s_0001_calibrated.fits"));
}
