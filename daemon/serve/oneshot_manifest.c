/*
 * oneshot_manifest.c - `astrocald calibrate --manifest` (oneshot_manifest.h).
 *
 * Steps:
 *  1. read the manifest (every line checked: a bad one stops the run before any work,
 *     naming the line and the field) and the earlier results file, if any;
 *  2. verify, on the pool, the outputs of lights the earlier results say are done with the
 *     same manifest line: the output's SHA-256 must be the one recorded;
 *  3. rewrite the results file atomically with the verified lines only, then append;
 *  4. for each group of lights sharing masters, dark scale and calibration options (a
 *     session, usually), load and MD5-check the masters and prepare them for the dark
 *     scale exactly as the daemon's master cache does (ac_masters_load), then calibrate
 *     the group's lights on the pool, at most --jobs at a time, each result appended (and
 *     flushed) as it completes.
 * A line with "replaces" (export --calibrated-with) recalibrates a light in place: its new
 * output is written as STAGED beside the old one (recalfile.h), which stays untouched
 * until import_results swaps it in; its result names both ("output" and "staged"), and
 * a rerun keeps it when STAGED (or, once imported, the output) has the recorded SHA-256.
 * What is kept is keyed on the manifest line's hash, which covers the masters' MD5s: an
 * output made with other masters is never taken for done.
 */
#include "oneshot_manifest.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "digest.h"
#include "engine.h"
#include "fsutil.h"
#include "log.h"
#include "manifest.h"
#include "masters.h"
#include "oneshot.h"
#include "outfile.h"
#include "poolsetup.h"
#include "proto.h"
#include "recalfile.h"
#include "util.h"

#define EXIT_USAGE 64
#define EXIT_DATAERR 65

enum { ST_TODO, ST_VERIFY, ST_KEPT, ST_DONE };

struct item {
    json_t *line;
    ac_manifest_light_t m;
    char mhash[65];
    json_t *old; /* the earlier result line for this light, or NULL */
    int group;
    int state;
};

struct run {
    const char *manifest, *results;
    int jobs;
    bool quiet;
    struct item *items;
    size_t n, cap;
    char **gkeys;
    int ngroups;
    FILE *out;
    int ok, failed, kept;
    /* the group being calibrated */
    ac_calset_t cs;
    size_t next;
    int group, inflight;
    ac_workbuf_t *wbs;
    ac_workbuf_t **free_wbs;
    int nfree;
};

struct task {
    uv_work_t req;
    struct run *r;
    struct item *it;
    ac_workbuf_t *wb;
    bool verified;
    ac_light_result_t res;
};

bool ac_oneshot_manifest_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--manifest") == 0 || strncmp(argv[i], "--manifest=", 11) == 0)
            return true;
    return false;
}

static int usage(const char *msg, const char *arg)
{
    fprintf(stderr, "astrocald calibrate: %s%s\n(try astrocald calibrate --help)\n", msg, arg);
    return EXIT_USAGE;
}

static int parse_args(struct run *r, int argc, char **argv)
{
    static const struct option opts[] = {
        {"manifest", required_argument, 0, 'm'}, {"results", required_argument, 0, 'r'},
        {"jobs", required_argument, 0, 'j'},     {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0},
    };
    int ch;
    char *end;

    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            r->manifest = optarg;
            break;
        case 'r':
            r->results = optarg;
            break;
        case 'j':
            r->jobs = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || r->jobs < 1 || r->jobs > 256)
                return usage("--jobs expects a whole number from 1 to 256, got ", optarg);
            break;
        case 'q':
            r->quiet = true;
            break;
        case 'h':
            ac_oneshot_usage(stdout);
            return -1;
        default:
            return usage("with --manifest only --results, --jobs and --quiet apply: ",
                         argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage("--manifest takes no light paths: ", argv[optind]);
    if (r->manifest == NULL || r->results == NULL)
        return usage("--manifest needs --results", "");
    return 0;
}

/* group_key: the masters, dark scale and calibration options (not the output's). */
static char *group_key(const json_t *line)
{
    json_t *k = json_pack("{s:O,s:O,s:O}", "masters", json_object_get(line, "masters"),
                          "dark_scale", json_object_get(line, "dark_scale"), "options",
                          json_object_get(line, "options"));
    json_t *o = k ? json_deep_copy(json_object_get(k, "options")) : NULL;
    char *s = NULL;

    if (o != NULL) {
        static const char *const out_keys[] = {"output_dir", "suffix", "compress", "quantize",
                                               "job_memory"};
        for (size_t i = 0; i < sizeof out_keys / sizeof *out_keys; i++)
            json_object_del(o, out_keys[i]);
        json_object_set_new(k, "options", o);
        s = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
    }
    json_decref(k);
    return s;
}

static struct item *find_item(struct run *r, const char *file_id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->items[i].m.file_id, file_id) == 0)
            return &r->items[i];
    return NULL;
}

/* read_manifest reads and checks every line; 0 or EXIT_DATAERR (said on stderr). */
static int read_manifest(struct run *r)
{
    FILE *f = fopen(r->manifest, "r");
    char *buf = NULL;
    size_t bcap = 0;
    long lineno = 0;
    int rc = 0;

    if (f == NULL) {
        fprintf(stderr, "astrocald calibrate: %s: %s\n", r->manifest, strerror(errno));
        return EXIT_DATAERR;
    }
    while (rc == 0 && getline(&buf, &bcap, f) >= 0) {
        json_error_t je;
        ac_err_t e = {0};
        struct item *it;
        char *key;
        int g;

        lineno++;
        if (buf[strspn(buf, " \t\r\n")] == '\0')
            continue;
        if (ac_grow((void **)&r->items, &r->cap, r->n, sizeof *r->items) != 0) {
            rc = EXIT_DATAERR;
            break;
        }
        it = &r->items[r->n];
        memset(it, 0, sizeof *it);
        it->line = json_loads(buf, 0, &je);
        if (it->line == NULL)
            ac_err_set(&e, AC_EFORMAT, "not JSON: %s", je.text);
        else if (ac_manifest_light_parse(it->line, &it->m, &e) == 0 &&
                 find_item(r, it->m.file_id) != NULL)
            ac_err_set(&e, AC_EFORMAT, "file_id %s appears twice", it->m.file_id);
        if (e.code != 0 || ac_manifest_line_hash(it->line, it->mhash) != 0 ||
            (key = group_key(it->line)) == NULL) {
            fprintf(stderr, "astrocald calibrate: %s:%ld: %s\n", r->manifest, lineno,
                    e.code ? e.msg : "out of memory");
            json_decref(it->line);
            rc = EXIT_DATAERR;
            break;
        }
        for (g = 0; g < r->ngroups && strcmp(r->gkeys[g], key) != 0; g++)
            ;
        if (g == r->ngroups) {
            char **nk = realloc(r->gkeys, (size_t)(g + 1) * sizeof *nk);
            if (nk == NULL) {
                free(key);
                json_decref(it->line);
                rc = EXIT_DATAERR;
                break;
            }
            r->gkeys = nk;
            r->gkeys[r->ngroups++] = key;
        } else {
            free(key);
        }
        it->group = g;
        r->n++;
    }
    free(buf);
    fclose(f);
    return rc;
}

/* read_results attaches each earlier result line to its light (the last line wins; a
 * line cut short by a kill, or not ours, is ignored). */
static void read_results(struct run *r)
{
    FILE *f = fopen(r->results, "r");
    char *buf = NULL;
    size_t bcap = 0;

    if (f == NULL)
        return;
    while (getline(&buf, &bcap, f) >= 0) {
        json_t *o = json_loads(buf, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "file_id"));
        struct item *it = id != NULL ? find_item(r, id) : NULL;

        if (it == NULL) {
            json_decref(o);
            continue;
        }
        json_decref(it->old);
        it->old = o;
    }
    free(buf);
    fclose(f);
}

/* verifiable: an earlier success from the same manifest line, for the same output. */
static bool verifiable(const struct item *it)
{
    const char *mh = json_string_value(json_object_get(it->old, "manifest"));
    const char *out = json_string_value(json_object_get(it->old, "output"));
    const char *sha = json_string_value(json_object_get(it->old, "sha256"));

    return it->old != NULL && json_is_true(json_object_get(it->old, "ok")) && mh != NULL &&
           strcmp(mh, it->mhash) == 0 && out != NULL && strcmp(out, it->m.output) == 0 &&
           sha != NULL && strlen(sha) == 64;
}

static void verify_work(uv_work_t *req)
{
    struct task *t = req->data;
    const char *sha = json_string_value(json_object_get(t->it->old, "sha256"));
    char hex[65];
    ac_err_t e = {0};

    t->verified = ac_digest_file(t->it->m.output, AC_DIGEST_SHA256, hex, sizeof hex, &e) == 0 &&
                  strcmp(hex, sha) == 0;
    /* A recalibration waits beside the output until the import swaps it in. */
    if (!t->verified && t->it->m.replaces != NULL) {
        const char *staged = json_string_value(json_object_get(t->it->old, "staged"));
        t->verified = staged != NULL &&
                      ac_digest_file(staged, AC_DIGEST_SHA256, hex, sizeof hex, &e) == 0 &&
                      strcmp(hex, sha) == 0;
    }
}

static void verify_done(uv_work_t *req, int status)
{
    struct task *t = req->data;

    t->it->state = status == 0 && t->verified ? ST_KEPT : ST_TODO;
    free(t);
}

/* verify_outputs hashes the outputs of earlier successes on the pool. */
static void verify_outputs(struct run *r, uv_loop_t *loop)
{
    for (size_t i = 0; i < r->n; i++) {
        struct task *t;
        if (!verifiable(&r->items[i]) || (t = calloc(1, sizeof *t)) == NULL)
            continue;
        t->it = &r->items[i];
        t->it->state = ST_VERIFY;
        t->req.data = t;
        uv_queue_work(loop, &t->req, verify_work, verify_done);
    }
    uv_run(loop, UV_RUN_DEFAULT);
}

static int write_line(FILE *f, int fd, const json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    int rc = -ENOMEM;

    if (s != NULL) {
        size_t len = strlen(s);
        s[len] = '\n';
        if (f != NULL)
            rc = fwrite(s, 1, len + 1, f) == len + 1 && fflush(f) == 0 ? 0 : -errno;
        else
            rc = write(fd, s, len + 1) == (ssize_t)(len + 1) ? 0 : -errno;
        free(s);
    }
    return rc;
}

/* rewrite_results replaces the results file (atomically) by the verified lines, then
 * opens it for appending. */
static int rewrite_results(struct run *r, ac_err_t *e)
{
    char path[4096];
    ac_outfile_t of;
    int rc;

    snprintf(path, sizeof path, "%s%s", strchr(r->results, '/') ? "" : "./", r->results);
    ac_outfile_init(&of);
    if ((rc = ac_outfile_create(&of, path, e)) != 0)
        return rc;
    for (size_t i = 0; i < r->n && rc == 0; i++)
        if (r->items[i].state == ST_KEPT)
            rc = write_line(NULL, of.fd, r->items[i].old);
    if (rc == 0 && fdatasync(of.fd) != 0)
        rc = -errno;
    if (rc != 0) {
        ac_outfile_discard(&of);
        return ac_err_set(e, rc, "%s: %s", path, strerror(-rc));
    }
    if ((rc = ac_outfile_commit(&of, true, e)) != 0)
        return rc;
    r->out = fopen(path, "a");
    if (r->out == NULL)
        return ac_err_set(e, -errno, "%s: %s", path, strerror(errno));
    return 0;
}

/* result_line: the engine's result (oneshot_json.c) with the manifest's ids. */
static json_t *result_line(const struct item *it, const ac_light_result_t *res,
                           const ac_calset_t *cs)
{
    json_t *o = ac_oneshot_result_json(it->m.light, res);
    const bool has[AC_M_COUNT] = {cs->has_bias, cs->has_dark, cs->has_flat, cs->has_flatdark};
    const char *md5[AC_M_COUNT] = {cs->bias_md5, cs->dark_md5, cs->flat_md5, cs->flatdark_md5};

    if (o == NULL)
        return NULL;
    json_object_del(o, "file");
    json_object_set_new(o, "v", json_integer(AC_MANIFEST_VERSION));
    json_object_set_new(o, "file_id", json_string(it->m.file_id));
    json_object_set_new(o, "session_id", json_string(it->m.session_id));
    json_object_set_new(o, "light", json_string(it->m.light));
    json_object_set_new(o, "manifest", json_string(it->mhash));
    if (it->m.replaces != NULL) { /* the new file waits as STAGED until the import */
        json_object_set_new(o, "replaces", json_string(it->m.replaces));
        json_object_set(o, "replaces_sha256", json_object_get(it->line, "replaces_sha256"));
        if (res->status == 0) {
            json_object_set_new(o, "staged", json_string(res->out_path));
            json_object_set_new(o, "output", json_string(it->m.output));
        }
    }
    if (res->status == 0) {
        json_t *ms = json_object();
        for (int i = 0; i < AC_M_COUNT; i++)
            if (has[i])
                json_object_set_new(
                    ms, ac_manifest_master_key[i],
                    json_pack("{s:s,s:s}", "path", it->m.mpath[i], "md5", md5[i]));
        json_object_set_new(o, "masters", ms);
        json_object_set_new(o, "sha256", json_string(res->sha256));
        json_object_set_new(o, "timings",
                            json_pack("{s:f,s:f,s:f,s:f}", "read", res->t_read, "calibrate",
                                      res->t_calib, "write", res->t_write, "total",
                                      res->t_total));
    }
    return o;
}

static void record(struct run *r, struct item *it, const ac_light_result_t *res)
{
    json_t *o = result_line(it, res, &r->cs);

    it->state = ST_DONE;
    if (res->status == 0)
        r->ok++;
    else
        r->failed++;
    if (o == NULL || write_line(r->out, -1, o) != 0)
        fprintf(stderr, "astrocald calibrate: %s: cannot append the result of %s\n", r->results,
                it->m.light);
    if (res->status != 0)
        printf("FAIL %s: %s\n", it->m.light, res->err.msg);
    else if (!r->quiet)
        printf("OK   %s -> %s\n", it->m.light, res->out_path);
    fflush(stdout);
    json_decref(o);
}

static void light_work(uv_work_t *req)
{
    struct task *t = req->data;
    ac_light_result_t *res = &t->res;
    ac_engine_opts_t *eng = malloc(sizeof *eng);
    char out[4096];

    ac_strlcpy(res->light_path, t->it->m.light, sizeof res->light_path);
    if (eng == NULL) {
        res->status = ac_err_set(&res->err, -ENOMEM, "out of memory");
        return;
    }
    if (ac_manifest_opts_parse(t->it->m.options, eng, &res->err) != 0 ||
        (t->it->m.replaces != NULL &&
         ac_recalfile_names(t->it->m.replaces, eng->out_path, out, sizeof out) != 0) ||
        ac_engine_output_path(t->it->m.light, eng, out, sizeof out) != 0) {
        res->status = res->err.code ? res->err.code : AC_EFORMAT;
    } else if (t->it->m.replaces != NULL) { /* beside the output it replaces, untouched */
        ac_fsutil_clean_stale_for(out, NULL);
        ac_engine_calibrate_light(&t->r->cs, t->it->m.light, eng, t->wb, NULL, res);
    } else if (strcmp(out, t->it->m.output) != 0) {
        res->status = ac_err_set(&res->err, AC_EFORMAT,
                                 "%s: the manifest's output %s is not where these options "
                                 "write (%s)",
                                 t->it->m.light, t->it->m.output, out);
    } else {
        if (eng->output_dir[0] != '\0')
            ac_fsutil_mkdirs(eng->output_dir, NULL);
        ac_fsutil_clean_stale_for(out, NULL); /* left by a killed run */
        ac_engine_calibrate_light(&t->r->cs, t->it->m.light, eng, t->wb, NULL, res);
    }
    free(eng);
}

static void submit_lights(struct run *r, uv_loop_t *loop);

static void light_done(uv_work_t *req, int status)
{
    struct task *t = req->data;
    struct run *r = t->r;

    if (status != 0 && t->res.status == 0)
        t->res.status = ac_err_set(&t->res.err, AC_ECANCELED, "cancelled");
    record(r, t->it, &t->res);
    uv_loop_t *loop = req->loop; /* req lives in t */

    r->free_wbs[r->nfree++] = t->wb;
    free(t);
    r->inflight--;
    submit_lights(r, loop);
}

/* fail_now records a failure that needs no pool work. */
static void fail_now(struct run *r, struct item *it, const ac_err_t *e)
{
    ac_light_result_t *res = calloc(1, sizeof *res);

    if (res == NULL)
        return;
    ac_strlcpy(res->light_path, it->m.light, sizeof res->light_path);
    res->err = *e;
    res->status = e->code ? e->code : AC_EFORMAT;
    record(r, it, res);
    free(res);
}

/* submit_lights starts the group's next lights, at most --jobs in flight. */
static void submit_lights(struct run *r, uv_loop_t *loop)
{
    while (r->inflight < r->jobs && r->next < r->n) {
        struct item *it = &r->items[r->next++];
        struct task *t;

        if (it->group != r->group || it->state != ST_TODO)
            continue;
        if ((t = calloc(1, sizeof *t)) == NULL) {
            ac_err_t e = {0};
            ac_err_set(&e, -ENOMEM, "%s: out of memory", it->m.light);
            fail_now(r, it, &e);
            continue;
        }
        t->r = r;
        t->it = it;
        t->wb = r->free_wbs[--r->nfree];
        t->req.data = t;
        r->inflight++;
        uv_queue_work(loop, &t->req, light_work, light_done);
    }
}

/* run_group loads group g's masters as the daemon's cache does (MD5s checked against the
 * manifest's) and calibrates its lights; a set that fails fails them with its reason. */
static void run_group(struct run *r, int g, uv_loop_t *loop)
{
    struct item *first = NULL;
    ac_masters_t ms;
    ac_engine_opts_t *eng;
    ac_err_t e = {0};
    int bad = -1, rc;

    for (size_t i = 0; i < r->n && first == NULL; i++)
        if (r->items[i].group == g && r->items[i].state == ST_TODO)
            first = &r->items[i];
    if (first == NULL)
        return;
    memset(&ms, 0, sizeof ms);
    memset(&r->cs, 0, sizeof r->cs);
    for (int i = 0; i < AC_M_COUNT; i++) {
        ms.path[i] = first->m.mpath[i];
        ms.md5[i] = first->m.md5[i];
    }
    eng = malloc(sizeof *eng);
    if (eng == NULL)
        rc = ac_err_set(&e, -ENOMEM, "out of memory");
    else if ((rc = ac_manifest_opts_parse(first->m.options, eng, &e)) == 0)
        rc = ac_masters_load(&ms, first->m.k, &eng->calib, &r->cs, &bad, &e);
    free(eng);
    ac_masters_free(&ms);
    r->group = g;
    r->next = 0;
    if (rc != 0) {
        for (size_t i = 0; i < r->n; i++)
            if (r->items[i].group == g && r->items[i].state == ST_TODO)
                fail_now(r, &r->items[i], &e);
    } else {
        for (int w = 0; w < r->cs.n_warnings; w++)
            ac_log_warn("%s", r->cs.warnings[w]);
        submit_lights(r, loop);
        uv_run(loop, UV_RUN_DEFAULT);
    }
    ac_calset_free(&r->cs);
}

static void run_free(struct run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        json_decref(r->items[i].line);
        json_decref(r->items[i].old);
    }
    for (int g = 0; g < r->ngroups; g++)
        free(r->gkeys[g]);
    for (int i = 0; r->wbs != NULL && i < r->jobs; i++)
        ac_workbuf_free(&r->wbs[i]);
    free(r->wbs);
    free(r->free_wbs);
    free(r->gkeys);
    free(r->items);
    if (r->out != NULL)
        fclose(r->out);
}

int ac_oneshot_manifest_main(int argc, char **argv)
{
    struct run r;
    uv_loop_t loop;
    ac_err_t e = {0};
    uint64_t t0 = ac_now_ns();
    int rc;

    memset(&r, 0, sizeof r);
    r.jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (r.jobs < 1)
        r.jobs = 1;
    if ((rc = parse_args(&r, argc, argv)) != 0 || (rc = read_manifest(&r)) != 0) {
        run_free(&r);
        return rc < 0 ? 0 : rc;
    }
    ac_pool_setup(r.jobs, r.jobs); /* before libuv's first pool use */
    r.wbs = calloc((size_t)r.jobs, sizeof *r.wbs);
    r.free_wbs = calloc((size_t)r.jobs, sizeof *r.free_wbs);
    if (r.wbs == NULL || r.free_wbs == NULL || uv_loop_init(&loop) != 0) {
        fprintf(stderr, "astrocald calibrate: out of memory\n");
        run_free(&r);
        return 1;
    }
    for (int i = 0; i < r.jobs; i++)
        r.free_wbs[r.nfree++] = &r.wbs[i];
    read_results(&r);
    verify_outputs(&r, &loop);
    if (rewrite_results(&r, &e) != 0) {
        fprintf(stderr, "astrocald calibrate: %s\n", e.msg);
        uv_loop_close(&loop);
        run_free(&r);
        return 1;
    }
    for (size_t i = 0; i < r.n; i++)
        r.kept += r.items[i].state == ST_KEPT;
    for (int g = 0; g < r.ngroups; g++)
        run_group(&r, g, &loop);
    uv_loop_close(&loop);
    if (fsync(fileno(r.out)) != 0)
        r.failed++,
            fprintf(stderr, "astrocald calibrate: %s: %s\n", r.results, strerror(errno));
    printf("%zu light%s: %d calibrated, %d already done (verified), %d failed in %.2f s\n", r.n,
           r.n == 1 ? "" : "s", r.ok, r.kept, r.failed, (double)(ac_now_ns() - t0) / 1e9);
    rc = r.failed == 0 ? 0 : 1;
    run_free(&r);
    return rc;
}
