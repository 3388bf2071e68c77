/*
 * oneshot.c - the one-shot calibration mode (see oneshot.h).
 *
 * Steps:
 *  1. parse options; load the masters in parallel on the libuv pool, and compute their
 *     files' MD5s there at the same time (oneshot_masters.h: the MD5s go on during steps
 *     2 to 4, and each light waits for them only before its header is final); the masters
 *     are analysed when prepared. Every step on the masters is the one master loader's
 *     (masters.h), as in the daemon;
 *  2. read each light's header (while the masters load) and decide its dark scale k
 *     (exposure matching); a light that cannot be used with these masters fails here with
 *     its reason;
 *  3. prepare one calibration set per distinct k (usually one): the masters' buffers are
 *     turned in place into the offset and inverse-flat planes, so memory stays at the
 *     masters' size (copies are made only when lights need several k);
 *  4. run the lights on the libuv pool, at most --jobs in flight, each with its own reused
 *     strip buffer; print each result on the loop thread as it completes.
 */
#include "oneshot.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "calib.h"
#include "engine.h"
#include "fsutil.h"
#include "imgio.h"
#include "log.h"
#include "masters.h"
#include "oneshot_manifest.h"
#include "oneshot_masters.h"
#include "poolsetup.h"
#include "proto.h"
#include "oneshot_int.h"
#include "util.h"

#define EXIT_USAGE 64

struct light {
    const char *path;
    int group;      /* calibration set index, -1 when planning failed */
    double exptime; /* from its header (read_lights) */
    double k;
    char plan_warning[256]; /* from exposure matching, shown with the result */
    ac_light_result_t res;
};

struct job {
    uv_work_t req;
    struct oneshot *os;
    struct light *light;
    ac_workbuf_t *wb;
};

struct oneshot {
    ac_engine_opts_t eng;
    ac_masters_t ms; /* paths from the options; images and MD5s written by osm's tasks */
    ac_osm_t osm;
    struct prefetch {
        uv_work_t req;
        const struct light *lights;
        int n, min;       /* lights, and at least this many read */
        long long budget; /* then until this many bytes */
        atomic_bool done; /* or until the sets are prepared */
    } ahead;
    int jobs;
    bool json, quiet, grade;
    struct light *lights;
    int nlights;
    ac_calset_t *sets;
    double *set_k;
    int nsets;
    ac_workbuf_t *wbs;
    ac_workbuf_t **free_wbs;
    int nfree;
    int next, inflight, ok, failed;
    uint64_t out_bytes;
    /* The live progress line on a terminal (stderr a tty, not --json). */
    bool progress;
    uv_timer_t ticker;
    uint64_t t_first; /* when the first light was submitted */
};

/* --json was given: usage errors are JSON objects on stdout too. */
static bool json_errors;

void ac_oneshot_usage(void *stream)
{
    fputs("usage: astrocald calibrate [options] LIGHT...\n"
          "  --bias FILE            master bias\n"
          "  --dark FILE            master dark\n"
          "  --flat FILE            master flat\n"
          "  --flat-dark FILE       master flat-dark (removes the flat's offset)\n"
          "  --output-dir DIR       where outputs go (default: beside each light)\n"
          "  --suffix S             output name suffix (default _calibrated)\n"
          "  --jobs N               frames calibrated in parallel (default: CPUs)\n"
          "  --sync                 fsync each output and its directory before it counts\n"
          "  --force                metadata mismatches (exposure, filter, temperature,\n"
          "                         gain) become warnings; geometry never does\n"
          "  --json                 one JSON object per line\n"
          "  --grade                then measure every output's stars, write them into its\n"
          "                         header, judge the outputs together and mark the\n"
          "                         rejected ones (QREJECT); see docs/grading.md\n"
          "  --quiet                print only failures and the summary\n"
          "  --compress             RICE tile-compressed output (.fits.fz)\n"
          "  --quantize Q           quantisation level for --compress (default 16)\n"
          "  --pedestal none|auto|N keep negatives (default), automatic, or fixed ADU\n"
          "  --dark-optimize        choose the dark scale per light minimising noise\n"
          "  --dark-max-scale K     largest dark exposure scale (default 2)\n"
          "  --dark-has-bias auto|yes|no   does the master dark contain the bias\n"
          "  --flat-calibrated auto|yes|no is the master flat already offset-free\n"
          "  --flat-floor F         normalised flat floor (default 0.05)\n"
          "  --cosmetic[=SIGMA]     replace hot pixels of the dark (default 5 sigma)\n"
          "  --max-temp-diff C      dark temperature tolerance (default 5)\n"
          "  --job-memory MIB       memory per job for strips and writer (default 32)\n"
          "or: astrocald calibrate --manifest SHARD --results OUT [--jobs N] [--quiet]\n"
          "    calibrates an exported shard, idempotently (docs/cluster.md)\n",
          (FILE *)stream);
}

static int parse_tri(const char *s, int *out)
{
    if (strcmp(s, "auto") == 0)
        *out = AC_TRI_AUTO;
    else if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0)
        *out = AC_TRI_YES;
    else if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0)
        *out = AC_TRI_NO;
    else
        return -1;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    char msg[1200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (json_errors)
        ac_proto_print_error(stdout, AC_PROTO_USAGE, msg);
    fprintf(stderr, "astrocald calibrate: %s\n(try astrocald calibrate --help)\n", msg);
    return EXIT_USAGE;
}

/* opt_number parses optarg as a number from lo to hi into *out; otherwise it is a usage
 * error "<name> expects <what>, got '<optarg>'" (*out untouched). */
static int opt_number(const char *name, const char *what, double lo, double hi, double *out)
{
    if (parse_double(optarg, lo, hi, out) == 0)
        return 0;
    return usage_error("%s expects %s, got '%s'", name, what, optarg);
}

/* opt_tri parses optarg as auto, yes or no into *out; otherwise a usage error. */
static int opt_tri(const char *name, int *out)
{
    if (parse_tri(optarg, out) == 0)
        return 0;
    return usage_error("%s expects auto, yes or no, got '%s'", name, optarg);
}

/* parse_args fills os; returns 0, EXIT_USAGE, or -1 after --help. */
static int parse_args(struct oneshot *os, int argc, char **argv)
{
    enum {
        OPT_MASTER = 256, /* + AC_M_*: --bias, --dark, --flat, --flat-dark */
        OPT_OUTDIR = OPT_MASTER + AC_M_COUNT,
        OPT_SUFFIX,
        OPT_JOBS,
        OPT_SYNC,
        OPT_FORCE,
        OPT_JSON,
        OPT_QUIET,
        OPT_COMPRESS,
        OPT_QUANT,
        OPT_PED,
        OPT_DOPT,
        OPT_DMAX,
        OPT_DHB,
        OPT_FCAL,
        OPT_FFLOOR,
        OPT_COSM,
        OPT_TEMP,
        OPT_JOBMEM,
        OPT_HELP,
        OPT_NODIRECT,
        OPT_GRADE
    };
    static const struct option opts[] = {
        {"bias", required_argument, 0, OPT_MASTER + AC_M_BIAS},
        {"dark", required_argument, 0, OPT_MASTER + AC_M_DARK},
        {"flat", required_argument, 0, OPT_MASTER + AC_M_FLAT},
        {"flat-dark", required_argument, 0, OPT_MASTER + AC_M_FLATDARK},
        {"output-dir", required_argument, 0, OPT_OUTDIR},
        {"suffix", required_argument, 0, OPT_SUFFIX},
        {"jobs", required_argument, 0, OPT_JOBS},
        {"sync", no_argument, 0, OPT_SYNC},
        {"force", no_argument, 0, OPT_FORCE},
        {"json", no_argument, 0, OPT_JSON},
        {"quiet", no_argument, 0, OPT_QUIET},
        {"compress", no_argument, 0, OPT_COMPRESS},
        {"quantize", required_argument, 0, OPT_QUANT},
        {"pedestal", required_argument, 0, OPT_PED},
        {"dark-optimize", no_argument, 0, OPT_DOPT},
        {"dark-max-scale", required_argument, 0, OPT_DMAX},
        {"dark-has-bias", required_argument, 0, OPT_DHB},
        {"flat-calibrated", required_argument, 0, OPT_FCAL},
        {"flat-floor", required_argument, 0, OPT_FFLOOR},
        {"cosmetic", optional_argument, 0, OPT_COSM},
        {"max-temp-diff", required_argument, 0, OPT_TEMP},
        {"job-memory", required_argument, 0, OPT_JOBMEM},
        {"no-direct-io", no_argument, 0, OPT_NODIRECT},
        {"grade", no_argument, 0, OPT_GRADE},
        {"help", no_argument, 0, OPT_HELP},
        {0, 0, 0, 0},
    };
    ac_calib_opts_t *c = &os->eng.calib;
    double d;
    int ch, rc = 0;

    optind = 1;
    opterr = 0;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--json") == 0)
            json_errors = true;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch >= OPT_MASTER && ch < OPT_MASTER + AC_M_COUNT) {
            os->ms.path[ch - OPT_MASTER] = optarg;
            continue;
        }
        switch (ch) {
        case OPT_OUTDIR:
            if (ac_strlcpy(os->eng.output_dir, optarg, sizeof os->eng.output_dir) >=
                sizeof os->eng.output_dir)
                return usage_error("--output-dir too long: %s", optarg);
            break;
        case OPT_SUFFIX:
            if (optarg[0] == '\0' ||
                ac_strlcpy(os->eng.suffix, optarg, sizeof os->eng.suffix) >=
                    sizeof os->eng.suffix ||
                strchr(optarg, '/') != NULL)
                return usage_error("--suffix must be a short, non-empty name without '/': "
                                   "'%s'",
                                   optarg);
            break;
        case OPT_JOBS:
            if (parse_double(optarg, 1, 256, &d) != 0 || d != floor(d))
                return usage_error("--jobs expects a whole number from 1 to 256, got '%s'",
                                   optarg);
            os->jobs = (int)d;
            break;
        case OPT_SYNC:
            os->eng.out.durable = true;
            break;
        case OPT_FORCE:
            c->force = true;
            break;
        case OPT_JSON:
            os->json = true;
            break;
        case OPT_QUIET:
            os->quiet = true;
            break;
        case OPT_COMPRESS:
            os->eng.out.compress = true;
            break;
        case OPT_QUANT:
            if ((rc = opt_number("--quantize", "a positive number", 0.5, 1e6, &d)) == 0)
                os->eng.out.quantize_level = (float)d;
            break;
        case OPT_PED:
            if (strcmp(optarg, "none") == 0) {
                c->pedestal_mode = AC_PEDESTAL_NONE;
            } else if (strcmp(optarg, "auto") == 0) {
                c->pedestal_mode = AC_PEDESTAL_AUTO;
            } else if (parse_double(optarg, 0, 1e9, &d) == 0) {
                c->pedestal_mode = AC_PEDESTAL_FIXED;
                c->pedestal = d;
            } else {
                return usage_error("--pedestal expects none, auto or a number >= 0, got '%s'",
                                   optarg);
            }
            break;
        case OPT_DOPT:
            c->dark_optimize = true;
            break;
        case OPT_DMAX:
            rc = opt_number("--dark-max-scale", "a number >= 1", 1, 1000, &c->dark_k_max);
            break;
        case OPT_DHB:
            rc = opt_tri("--dark-has-bias", &c->dark_has_bias);
            break;
        case OPT_FCAL:
            rc = opt_tri("--flat-calibrated", &c->flat_is_calibrated);
            break;
        case OPT_FFLOOR:
            rc = opt_number("--flat-floor", "a number in (0, 1)", 1e-6, 0.999, &c->flat_floor);
            break;
        case OPT_COSM:
            c->cosmetic = true;
            if (optarg != NULL)
                rc = opt_number("--cosmetic", "a sigma >= 0.5", 0.5, 1000, &c->cosmetic_sigma);
            break;
        case OPT_TEMP:
            rc = opt_number("--max-temp-diff", "degrees 0-100", 0, 100, &c->max_temp_diff);
            break;
        case OPT_JOBMEM:
            if ((rc = opt_number("--job-memory", "MiB from 4 to 65536", 4, 65536, &d)) == 0)
                os->eng.job_memory = (size_t)(d * 1048576.0);
            break;
        case OPT_NODIRECT:
            os->eng.out.direct = false;
            break;
        case OPT_GRADE:
            os->grade = true;
            break;
        case OPT_HELP:
            ac_oneshot_usage(stdout);
            return -1;
        default:
            if (optopt == 0) /* getopt_long: 0 for an option it does not know */
                return usage_error("unknown option '%s'", argv[optind - 1]);
            return usage_error("option '%s' %s", argv[optind - 1],
                               strchr(argv[optind - 1], '=') ? "takes no value"
                                                             : "needs a value");
        }
        if (rc != 0)
            return rc;
    }
    os->nlights = argc - optind;
    if (os->nlights <= 0)
        return usage_error("%s", "no light frames given");
    if (os->ms.path[AC_M_BIAS] == NULL && os->ms.path[AC_M_DARK] == NULL &&
        os->ms.path[AC_M_FLAT] == NULL)
        return usage_error("%s", "give at least one of --bias, --dark, --flat");
    if (os->ms.path[AC_M_FLATDARK] != NULL && os->ms.path[AC_M_FLAT] == NULL)
        return usage_error("%s", "--flat-dark needs --flat");
    if (c->cosmetic && os->ms.path[AC_M_DARK] == NULL)
        return usage_error("%s", "--cosmetic finds hot pixels in the master dark: give --dark");
    os->lights = calloc((size_t)os->nlights, sizeof *os->lights);
    if (os->lights == NULL)
        return usage_error("%s", "out of memory");
    for (int i = 0; i < os->nlights; i++) {
        os->lights[i].path = argv[optind + i];
        os->lights[i].group = -1;
    }
    return 0;
}

/* fail_light records a planning failure for light i. */
static void fail_light(struct light *l, const ac_err_t *e)
{
    ac_strlcpy(l->res.light_path, l->path, sizeof l->res.light_path);
    l->res.status = e->code ? e->code : AC_EFORMAT;
    l->res.err = *e;
    l->group = -1;
}

/* progress_line shows "[37/500] 7.9 frames/s ETA 0:59" on stderr, over the last one
 * (final: cleared). Only on a terminal, never with --json. */
static void progress_line(struct oneshot *os, bool clear)
{
    int done = os->ok + os->failed;
    double secs = os->t_first ? (double)(ac_now_ns() - os->t_first) / 1e9 : 0;
    double fps = secs > 0 ? os->ok / secs : 0;
    char eta[32];

    if (!os->progress)
        return;
    if (clear) {
        fputs("\r\x1b[K", stderr);
        return;
    }
    ac_format_clock(eta, sizeof eta, fps > 0 ? (os->nlights - done) / fps : NAN);
    fprintf(stderr, "\r\x1b[K[%d/%d] %.1f frames/s ETA %s", done, os->nlights, fps, eta);
}

static void on_tick(uv_timer_t *t)
{
    progress_line(t->data, false);
}

static void print_result(struct oneshot *os, struct light *l)
{
    ac_light_result_t *r = &l->res;

    progress_line(os, true);
    if (l->plan_warning[0] != '\0' && r->status == 0) {
        char w[sizeof r->warning];
        snprintf(w, sizeof w, "%s%s%s", l->plan_warning, r->warning[0] ? "; " : "", r->warning);
        ac_strlcpy(r->warning, w, sizeof r->warning);
    }

    if (os->json) {
        json_t *o = ac_oneshot_result_json(l->path, r);
        char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s != NULL)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    } else if (r->status == 0) {
        if (!os->quiet) {
            printf("OK   %s -> %s  [%s]  bg=%.1f noise=%.2f neg=%.3f%% sat=%.3f%% dead=%.4f%% "
                   "score=%.0f  %.2fs\n",
                   l->path, r->out_path, r->steps, r->quality.background, r->quality.noise,
                   100 * r->quality.frac_negative, 100 * r->quality.frac_saturated,
                   100 * r->quality.frac_dead, r->quality.score, r->t_total);
            if (r->warning[0])
                printf("     warning: %s\n", r->warning);
        }
    } else {
        /* Messages usually start with the file's path already. */
        if (strncmp(r->err.msg, l->path, strlen(l->path)) == 0)
            printf("FAIL %s\n", r->err.msg);
        else
            printf("FAIL %s: %s\n", l->path, r->err.msg);
    }
    fflush(stdout);
    progress_line(os, false);
}

static void submit_next(struct oneshot *os, uv_loop_t *loop);

static void work_cb(uv_work_t *req)
{
    struct job *j = req->data;
    struct light *l = j->light;

    ac_engine_calibrate_light(&j->os->sets[l->group], l->path, &j->os->eng, j->wb, NULL,
                              &l->res);
}

static void after_cb(uv_work_t *req, int status)
{
    struct job *j = req->data;
    struct oneshot *os = j->os;
    struct light *l = j->light;

    if (status != 0 && l->res.status == 0) {
        l->res.status = AC_ECANCELED;
        ac_err_set(&l->res.err, AC_ECANCELED, "%s: cancelled", l->path);
    }
    if (l->res.status == 0) {
        os->ok++;
        os->out_bytes += l->res.out_bytes;
    } else {
        os->failed++;
    }
    print_result(os, l);
    os->free_wbs[os->nfree++] = j->wb;
    os->inflight--;
    uv_loop_t *loop = req->loop; /* req lives in j */
    free(j);
    submit_next(os, loop);
}

static void submit_next(struct oneshot *os, uv_loop_t *loop)
{
    if (os->t_first == 0)
        os->t_first = ac_now_ns();
    while (os->inflight < os->jobs && os->next < os->nlights) {
        struct light *l = &os->lights[os->next++];
        struct job *j;
        ac_err_t e = {0};

        if (l->group >= 0 && os->eng.late_md5s != NULL && ac_osm_failed(&os->osm, &e)) {
            ac_err_prefix(&e, "%s", l->path); /* a master could not be hashed: no output */
            fail_light(l, &e);
        }
        if (l->group < 0) {
            os->failed++;
            print_result(os, l);
            continue;
        }
        j = calloc(1, sizeof *j);
        if (j == NULL) {
            ac_err_set(&l->res.err, -ENOMEM, "%s: out of memory", l->path);
            l->res.status = -ENOMEM;
            os->failed++;
            print_result(os, l);
            continue;
        }
        j->os = os;
        j->light = l;
        j->wb = os->free_wbs[--os->nfree];
        j->req.data = j;
        os->inflight++;
        /* uv_queue_work cannot fail for a valid callback (libuv 1.44). */
        uv_queue_work(loop, &j->req, work_cb, after_cb);
    }
    if (os->progress && os->inflight == 0 && os->next >= os->nlights &&
        !uv_is_closing((uv_handle_t *)&os->ticker)) {
        progress_line(os, true);
        uv_close((uv_handle_t *)&os->ticker, NULL);
    }
}

/* prefetch_work reads the first lights ahead into the page cache (ac_fsutil_prefetch). */
static void prefetch_work(uv_work_t *req)
{
    struct prefetch *p = req->data;
    long long got = 0;

    for (int i = 0; i < p->n && (i < p->min || (got < p->budget && !atomic_load(&p->done)));
         i++) {
        long long size = ac_fsutil_prefetch(p->lights[i].path);
        got += size > 0 ? size : 0;
    }
}

/* start_prefetch has the disk read the first lights while the sets are prepared, when it
 * would otherwise idle: at least one light per job, then more until the sets are ready
 * (ahead.done), at most twice the bytes the masters take in memory (the preparation of a
 * set lasts about as long as reading it, twice as long on a fast disk), so that what is
 * read ahead is still in the page cache when its light comes. */
static void start_prefetch(struct oneshot *os, uv_loop_t *loop)
{
    struct prefetch *p = &os->ahead;

    p->lights = os->lights;
    p->n = os->nlights;
    p->min = os->jobs;
    p->budget = 0;
    for (int i = 0; i < AC_M_COUNT; i++) {
        const ac_image_t *m = ac_masters_image(&os->ms, i);
        if (m != NULL)
            p->budget += 2 * (long long)m->w * m->h * (long long)sizeof(float);
    }
    atomic_store(&p->done, false);
    p->req.data = p;
    /* No completion callback: nothing to hand back (libuv skips a NULL one). uv_queue_work
     * cannot fail for a valid work callback (libuv 1.44). */
    uv_queue_work(loop, &p->req, prefetch_work, NULL);
}

static ac_image_t *master(struct oneshot *os, int i)
{
    return ac_masters_image(&os->ms, i);
}

/* read_lights reads each light's header for its exposure, while the masters load (later
 * the read-ahead of the first lights would hold these small reads up). */
static void read_lights(struct oneshot *os)
{
    for (int i = 0; i < os->nlights; i++) {
        struct light *l = &os->lights[i];
        ac_hdr_t hdr;
        ac_meta_t meta;
        ac_err_t e = {0};

        ac_hdr_init(&hdr);
        if (ac_imgio_read_header(l->path, &hdr, &meta, &e) != 0)
            fail_light(l, &e);
        else
            l->exptime = meta.exptime;
        ac_hdr_free(&hdr);
    }
}

/* plan_lights decides each light's dark scale (its set). */
static void plan_lights(struct oneshot *os, bool dark_has_bias)
{
    ac_image_t *dark = master(os, AC_M_DARK);
    bool bias = master(os, AC_M_BIAS) != NULL;

    os->set_k = calloc((size_t)os->nlights, sizeof *os->set_k);
    for (int i = 0; i < os->nlights && os->set_k != NULL; i++) {
        struct light *l = &os->lights[i];
        ac_err_t e = {0};
        char warn[256] = "";
        int g;

        if (l->res.status != 0)
            continue; /* its header could not be read (fail_light) */
        l->k = 1.0;
        if (dark != NULL && !os->eng.calib.dark_optimize &&
            ac_calib_dark_scale(l->exptime, dark, bias, dark_has_bias, &os->eng.calib, &l->k,
                                warn, sizeof warn, &e) != 0) {
            ac_err_prefix(&e, "%s", l->path);
            fail_light(l, &e);
            continue;
        }
        ac_strlcpy(l->plan_warning, warn, sizeof l->plan_warning);
        for (g = 0; g < os->nsets; g++)
            if (fabs(os->set_k[g] - l->k) < 1e-9)
                break;
        if (g == os->nsets)
            os->set_k[os->nsets++] = l->k;
        l->group = g;
    }
}

/* prepare_sets builds one calibration set per distinct k. The last set takes the masters'
 * own buffers; earlier ones take copies. A set that fails fails its lights. */
static void prepare_sets(struct oneshot *os)
{
    os->sets = calloc((size_t)(os->nsets > 0 ? os->nsets : 1), sizeof *os->sets);
    for (int g = 0; g < os->nsets && os->sets != NULL; g++) {
        ac_err_t e = {0};
        int rc = ac_masters_prepare(&os->ms, os->set_k[g], &os->eng.calib, g < os->nsets - 1,
                                    &os->sets[g], &e);

        for (int w = 0; w < os->sets[g].n_warnings; w++)
            ac_log_warn("%s", os->sets[g].warnings[w]);
        if (rc != 0) {
            for (int i = 0; i < os->nlights; i++)
                if (os->lights[i].group == g)
                    fail_light(&os->lights[i], &e);
        }
    }
}

static void print_summary(struct oneshot *os, double secs)
{
    double fps = secs > 0 ? os->ok / secs : 0;
    double mbs = secs > 0 ? (double)os->out_bytes / 1e6 / secs : 0;

    if (os->json) {
        json_t *o = json_pack("{s:{s:i,s:i,s:i,s:f,s:f,s:f}}", "summary", "files", os->nlights,
                              "ok", os->ok, "failed", os->failed, "seconds", secs,
                              "frames_per_second", fps, "output_mb_per_second", mbs);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s != NULL)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        printf("%d file%s: %d calibrated, %d failed in %.2f s (%.2f frames/s, %.1f MB/s "
               "written)\n",
               os->nlights, os->nlights == 1 ? "" : "s", os->ok, os->failed, secs, fps, mbs);
    }
}

static void oneshot_free(struct oneshot *os)
{
    ac_osm_free(&os->osm);
    ac_masters_free(&os->ms);
    for (int g = 0; os->sets != NULL && g < os->nsets; g++)
        ac_calset_free(&os->sets[g]);
    for (int i = 0; os->wbs != NULL && i < os->jobs; i++)
        ac_workbuf_free(&os->wbs[i]);
    free(os->sets);
    free(os->set_k);
    free(os->wbs);
    free(os->free_wbs);
    free(os->lights);
}

int ac_oneshot_main(int argc, char **argv)
{
    struct oneshot os;
    ac_err_t e = {0};
    uv_loop_t loop;
    uint64_t t0 = ac_now_ns();
    char why[256] = "";
    bool dark_has_bias = true;
    int rc, ntasks;

    if (ac_oneshot_manifest_wanted(argc, argv))
        return ac_oneshot_manifest_main(argc, argv);
    memset(&os, 0, sizeof os);
    ac_engine_opts_default(&os.eng);
    os.eng.out.durable = false; /* --sync turns it on; the daemon always syncs */
    os.jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (os.jobs < 1)
        os.jobs = 1;
    rc = parse_args(&os, argc, argv);
    if (rc != 0) {
        oneshot_free(&os);
        return rc < 0 ? 0 : rc;
    }
    if (os.eng.output_dir[0] != '\0' && ac_fsutil_mkdirs(os.eng.output_dir, &e) != 0) {
        if (os.json)
            ac_proto_print_error(stdout, ac_proto_code_from_err(e.code), e.msg);
        fprintf(stderr, "astrocald calibrate: %s\n", e.msg);
        oneshot_free(&os);
        return 1;
    }
    /* The pool size must be set before libuv's first pool use (style-anchors §9.2-1). The
     * masters are read at once, so the pool has a thread for each (their MD5s have threads
     * of their own: oneshot_masters.h), and one more for the read-ahead; at most --jobs
     * lights run at a time whatever its size (submit_next). */
    ntasks = ac_osm_tasks(&os.ms);
    ac_pool_setup((os.jobs > ntasks ? os.jobs : ntasks) + 1, os.jobs);
    os.wbs = calloc((size_t)os.jobs, sizeof *os.wbs);
    os.free_wbs = calloc((size_t)os.jobs, sizeof *os.free_wbs);
    if (os.wbs == NULL || os.free_wbs == NULL || uv_loop_init(&loop) != 0) {
        fprintf(stderr, "astrocald calibrate: out of memory\n");
        oneshot_free(&os);
        return 1;
    }
    rc = 0;
    if (ntasks > 0 && (rc = ac_osm_start(&os.osm, &os.ms, &loop)) != 0)
        ac_err_set(&e, rc, "out of memory starting the masters");
    read_lights(&os);
    if (rc == 0 && ntasks > 0)
        rc = ac_osm_wait_loads(&os.osm, &loop, os.eng.calib.force, &e);
    if (rc != 0) {
        for (int i = 0; i < os.nlights; i++)
            fail_light(&os.lights[i], &e);
    } else {
        if (master(&os, AC_M_DARK) != NULL) {
            dark_has_bias = ac_calib_dark_bias_decision(
                master(&os, AC_M_DARK), master(&os, AC_M_BIAS), &os.eng.calib, why, sizeof why);
            ac_log_info("master dark: %s", why);
        }
        start_prefetch(&os, &loop);
        plan_lights(&os, dark_has_bias);
        prepare_sets(&os);
        atomic_store(&os.ahead.done, true);
        if (ntasks > 0) { /* the MD5s go on beside the first lights */
            os.eng.late_md5s = ac_osm_md5s;
            os.eng.late_md5s_ud = &os.osm;
        }
    }
    for (int i = 0; i < os.jobs; i++)
        os.free_wbs[os.nfree++] = &os.wbs[i];
    /* The progress line: on a terminal only, never in pipes or with --json. */
    os.progress = !os.json && isatty(STDERR_FILENO) && uv_timer_init(&loop, &os.ticker) == 0;
    if (os.progress) {
        os.ticker.data = &os;
        uv_timer_start(&os.ticker, on_tick, 500, 500);
    }
    submit_next(&os, &loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    print_summary(&os, (double)(ac_now_ns() - t0) / 1e9);
    rc = os.failed == 0 && os.ok == os.nlights ? 0 : 1;
    if (os.grade && os.ok > 0) { /* after calibration: docs/grading.md, "The one-shot mode" */
        const char **outs = calloc((size_t)os.ok, sizeof *outs);
        int n = 0;
        for (int i = 0; outs != NULL && i < os.nlights; i++)
            if (os.lights[i].res.status == 0)
                outs[n++] = os.lights[i].res.out_path;
        if (outs == NULL || ac_oneshot_grade(&loop, outs, n, os.jobs, os.json, os.quiet) != 0)
            rc = 1;
        free(outs);
    }
    uv_loop_close(&loop);
    oneshot_free(&os);
    return rc;
}
