/*
 * buildmaster.c - builds one master frame from N subs exactly as the daemon's pool thread
 * does, and prints how long each part took (bench/run-masters.sh; results in
 * bench/masters.md).
 *
 * It links astrocald's own static libraries (ac_daemon, ac_io, ac_core, ac_common from a
 * CMake build directory) and calls ac_build_run with the options the daemon gives a build
 * (ac_sched_build_opts in sched_build.c: the builder's defaults, job memory
 * job_memory_mib x 4 = 128 MiB, durable output), so the time measured is the time one
 * build job takes in the daemon, without the catalogue around it.
 *
 *   buildmaster [--kind bias|dark|flatdark] [--job-memory-mib N] [--no-durable]
 *               [--kappa K] [--iterations N] [--prefetch] -o OUTPUT SUB...
 *       One build. Prints one JSON line: wall time, the builder's own split of it (read,
 *       combine, write; the rest is opening, the pilot pass, quality and the MD5), strip
 *       rows, rejection figures, CPU time.
 *       --prefetch is an experiment, not astrocald: a second thread asks the kernel for the
 *       pilot's sampled rows of every sub at once (posix_fadvise WILLNEED), then reads the
 *       subs' data into the page cache strip by strip, in the builder's order, while the
 *       build runs. That is what asynchronous read-ahead in the builder would give (it
 *       reads its rows one pread at a time and combines on the same thread).
 *
 *   buildmaster --kernel [--threads N] [--rows R] [--reps K] SUB...
 *       The combination alone: reads R rows from the middle of every sub into memory, then
 *       times ac_stack_rows (sigma clipping as the builder sets it up for these subs) on
 *       them, split over N threads (each with its own work area), K times. Prints the best
 *       and median ns per output pixel and what that makes for a whole frame.
 *
 * Exit status: 0 when the master was built (or the kernel ran), 1 otherwise, 64 on usage
 * errors. Ownership: everything is freed before exit. Thread: single-threaded except the
 * kernel's workers, which share only read-only inputs.
 */
#include <errno.h>
#include <fcntl.h>
#include <fitsio.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "build.h"
#include "imgio.h"
#include "log.h"
#include "stack.h"
#include "util.h"

#define EX_USAGE 64

struct args {
    const char *out;
    const char **subs;
    int nsubs;
    ac_cal_kind_t kind;
    size_t job_mib;
    bool durable;
    double kappa;
    int iterations;
    bool kernel, prefetch;
    int threads, rows, reps;
};

static void usage(void)
{
    fputs("usage: buildmaster [--kind bias|dark|flatdark] [--job-memory-mib N] [--no-durable]\n"
          "                   [--kappa K] [--iterations N] [--prefetch] -o OUTPUT SUB...\n"
          "       buildmaster --kernel [--threads N] [--rows R] [--reps K] SUB...\n",
          stderr);
}

static double cpu_seconds(bool user)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    if (user)
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    return (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int parse(int argc, char **argv, struct args *a)
{
    memset(a, 0, sizeof *a);
    a->kind = AC_CAL_DARK;
    a->job_mib = 128;
    a->durable = true;
    a->kappa = 3.0;
    a->iterations = 3;
    a->threads = 1;
    a->rows = 256;
    a->reps = 5;
    a->subs = calloc((size_t)argc, sizeof *a->subs);
    if (a->subs == NULL)
        return -ENOMEM;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--kernel") == 0) {
            a->kernel = true;
        } else if (strcmp(o, "--prefetch") == 0) {
            a->prefetch = true;
        } else if (strcmp(o, "--no-durable") == 0) {
            a->durable = false;
        } else if (o[0] == '-' && o[1] != '\0' && v == NULL) {
            return -EINVAL;
        } else if (strcmp(o, "-o") == 0) {
            a->out = argv[++i];
        } else if (strcmp(o, "--kind") == 0) {
            i++;
            if (strcmp(v, "bias") == 0)
                a->kind = AC_CAL_BIAS;
            else if (strcmp(v, "dark") == 0)
                a->kind = AC_CAL_DARK;
            else if (strcmp(v, "flatdark") == 0)
                a->kind = AC_CAL_FLATDARK;
            else
                return -EINVAL;
        } else if (strcmp(o, "--job-memory-mib") == 0) {
            a->job_mib = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(o, "--kappa") == 0) {
            a->kappa = strtod(argv[++i], NULL);
        } else if (strcmp(o, "--iterations") == 0) {
            a->iterations = atoi(argv[++i]);
        } else if (strcmp(o, "--threads") == 0) {
            a->threads = atoi(argv[++i]);
        } else if (strcmp(o, "--rows") == 0) {
            a->rows = atoi(argv[++i]);
        } else if (strcmp(o, "--reps") == 0) {
            a->reps = atoi(argv[++i]);
        } else if (o[0] == '-') {
            return -EINVAL;
        } else {
            a->subs[a->nsubs++] = o;
        }
    }
    if (a->nsubs < 2 || a->job_mib < 1 || a->threads < 1 || a->threads > 64 || a->rows < 1 ||
        a->reps < 1 || (!a->kernel && a->out == NULL))
        return -EINVAL;
    return 0;
}

/* ---- The prefetch experiment ---- */

struct prefetch {
    pthread_t th;
    const struct args *a;
    const ac_build_opts_t *o;
    atomic_int stop;
};

/* Reads rows [y0, y0 + rows) of every sub, strip after strip, into a scratch buffer (the
 * data only matter as page cache). 16-bit data; the data start from cfitsio. */
static void *prefetch_run(void *arg)
{
    struct prefetch *pf = arg;
    const struct args *a = pf->a;
    long long *start = calloc((size_t)a->nsubs, sizeof *start);
    int *fd = calloc((size_t)a->nsubs, sizeof *fd);
    char *buf = NULL;
    long w = 0, h = 0;
    int rows;

    for (int i = 0; start != NULL && fd != NULL && i < a->nsubs; i++) {
        fitsfile *f = NULL;
        int st = 0;
        long long hs = 0, de = 0;
        long ax[2] = {0, 0};
        fits_open_diskfile(&f, a->subs[i], READONLY, &st);
        fits_get_img_size(f, 2, ax, &st);
        fits_get_hduaddrll(f, &hs, &start[i], &de, &st);
        if (f != NULL)
            fits_close_file(f, &st);
        fd[i] = open(a->subs[i], O_RDONLY | O_CLOEXEC);
        w = ax[0];
        h = ax[1];
    }
    rows = ac_build_strip_rows(pf->o, a->nsubs, 0, (int)w);
    /* The pilot's sampled rows (build.c next_runs: every step-th row, step =
     * ceil(pixels / 1 Mi)) first, all asked for at once: the kernel queues them. */
    if (w > 0 && h > 0) {
        long step = (long)(((size_t)w * (size_t)h + (1u << 20) - 1) / (1u << 20));
        for (int i = 0; i < a->nsubs; i++)
            for (long y = 0; fd[i] > 0 && y < h; y += step)
                posix_fadvise(fd[i], (off_t)(start[i] + y * w * 2), (off_t)(w * 2),
                              POSIX_FADV_WILLNEED);
    }
    if (w > 0 && (buf = malloc((size_t)rows * (size_t)w * 2)) != NULL)
        for (long y0 = 0; y0 < h && !atomic_load(&pf->stop); y0 += rows) {
            long n = y0 + rows <= h ? rows : h - y0;
            for (int i = 0; i < a->nsubs; i++)
                if (fd[i] >= 0 &&
                    pread(fd[i], buf, (size_t)(n * w * 2), (off_t)(start[i] + y0 * w * 2)) < 0)
                    break;
        }
    for (int i = 0; fd != NULL && i < a->nsubs; i++)
        if (fd[i] > 0)
            close(fd[i]);
    free(buf);
    free(fd);
    free(start);
    return NULL;
}

/* ---- One build, as the daemon runs it ---- */

static int build(const struct args *a)
{
    ac_build_spec_t sp;
    ac_build_result_t *res = calloc(1, sizeof *res);
    atomic_int cancel = 0;
    uint64_t t0;
    double wall, u0 = cpu_seconds(true), s0 = cpu_seconds(false);
    int rc = 1;

    if (res == NULL)
        return 1;
    memset(&sp, 0, sizeof sp);
    ac_build_opts_default(&sp.opts);
    ac_path_dir(a->out, sp.opts.masters_dir, sizeof sp.opts.masters_dir);
    sp.opts.combine = AC_STACK_SIGMA_CLIP;
    sp.opts.kappa_low = sp.opts.kappa_high = a->kappa;
    sp.opts.iterations = a->iterations;
    sp.opts.job_memory = a->job_mib << 20;
    sp.opts.out.durable = a->durable;
    sp.key = "bench";
    sp.session_id = "bench";
    sp.kind = a->kind;
    sp.subs = (char **)a->subs;
    sp.nsubs = a->nsubs;
    sp.output_path = (char *)a->out;

    t0 = ac_now_ns();
    struct prefetch pf = {.a = a, .o = &sp.opts};
    if (a->prefetch)
        pthread_create(&pf.th, NULL, prefetch_run, &pf);
    ac_build_run(&sp, res, &cancel);
    wall = (double)(ac_now_ns() - t0) / 1e9;
    if (a->prefetch) {
        atomic_store(&pf.stop, 1);
        pthread_join(pf.th, NULL);
    }
    if (res->status == AC_BUILT) {
        double other = res->t_total - res->t_read - res->t_combine - res->t_write;
        printf("{\"ok\":true,\"frames\":%d,\"nused\":%d,\"wall_s\":%.4f,\"fps\":%.4f,"
               "\"t_total\":%.4f,\"t_read\":%.4f,\"t_combine\":%.4f,\"t_write\":%.4f,"
               "\"t_other\":%.4f,\"user_s\":%.3f,\"sys_s\":%.3f,\"strip_rows\":%zu,"
               "\"method\":\"%s\",\"estimator\":\"%s\",\"rej_low\":%.6f,\"rej_high\":%.6f,"
               "\"hot_pixels\":%llu,\"median\":%.3f,\"noise\":%.4f,\"in_bytes\":%llu,"
               "\"file_size\":%lld,\"md5\":\"%s\",\"job_memory_mib\":%zu,\"durable\":%s,"
               "\"prefetch\":%s}\n",
               res->nsubs, res->nused, wall, res->nused / wall, res->t_total, res->t_read,
               res->t_combine, res->t_write, other, cpu_seconds(true) - u0,
               cpu_seconds(false) - s0, res->strip_rows, ac_stack_method_name(res->method),
               res->sigma_estimator == AC_STACK_SIGMA_MAD ? "mad" : "stddev", res->rej_low,
               res->rej_high, (unsigned long long)res->hot_pixels, res->median, res->noise,
               (unsigned long long)res->in_bytes, (long long)res->file_size, res->md5,
               a->job_mib, a->durable ? "true" : "false", a->prefetch ? "true" : "false");
        rc = 0;
    } else {
        json_t *o = json_pack(
            "{s:b,s:s,s:f}", "ok", 0, res->status == AC_BUILD_REJECT ? "rejected" : "error",
            res->status == AC_BUILD_REJECT ? res->reason : res->err.msg, "wall_s", wall);
        char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        printf("%s\n", text != NULL ? text : "{\"ok\":false}");
        free(text);
        json_decref(o);
    }
    if (res->dropped[0] != '\0')
        fprintf(stderr, "buildmaster: dropped: %s\n", res->dropped);
    free(res);
    return rc;
}

/* ---- The combination alone ---- */

struct part {
    pthread_t th;
    const ac_stack_opts_t *so;
    const float **subs; /* this part's pointers into the shared strips */
    int nsubs;
    size_t npix;
    float *out;
    ac_stack_work_t *work;
    ac_stack_stats_t st;
    ac_err_t err;
    int rc;
};

static void *part_run(void *arg)
{
    struct part *p = arg;

    p->rc = ac_stack_rows(p->so, (const float *const *)p->subs, p->nsubs, p->npix, NULL, NULL,
                          p->out, &p->st, p->work, &p->err);
    return NULL;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;

    return (a > b) - (a < b);
}

static int kernel(const struct args *a)
{
    ac_imgin_t **in = calloc((size_t)a->nsubs, sizeof *in);
    float **strip = calloc((size_t)a->nsubs, sizeof *strip), *out = NULL;
    struct part *parts = calloc((size_t)a->threads, sizeof *parts);
    double *ns = calloc((size_t)a->reps, sizeof *ns);
    ac_stack_opts_t so;
    ac_err_t e = {0};
    size_t npix = 0, chunk;
    int w = 0, h = 0, rows = a->rows, y0, rc = 1;

    if (in == NULL || strip == NULL || parts == NULL || ns == NULL)
        goto out;
    for (int i = 0; i < a->nsubs; i++) {
        if (ac_imgio_open(a->subs[i], &in[i], &e) != 0) {
            fprintf(stderr, "buildmaster: %s\n", e.msg);
            goto out;
        }
    }
    w = ac_imgio_meta(in[0])->width;
    h = ac_imgio_meta(in[0])->height;
    if (rows > h)
        rows = h;
    y0 = (h - rows) / 2;
    npix = (size_t)rows * (size_t)w;
    for (int i = 0; i < a->nsubs; i++) {
        if ((strip[i] = malloc(npix * sizeof(float))) == NULL)
            goto out;
        if (ac_imgio_read_rows(in[i], y0, rows, strip[i], &e) != 0) {
            fprintf(stderr, "buildmaster: %s\n", e.msg);
            goto out;
        }
    }
    if ((out = malloc(npix * sizeof(float))) == NULL)
        goto out;
    /* The builder's set-up for these subs (build.c setup()). */
    ac_stack_opts_default(&so);
    so.method = AC_STACK_SIGMA_CLIP;
    so.kappa_low = so.kappa_high = a->kappa;
    so.iterations = a->iterations;
    so.sigma_estimator = a->nsubs <= 10 ? AC_STACK_SIGMA_MAD : AC_STACK_SIGMA_STDDEV;
    chunk = (npix + (size_t)a->threads - 1) / (size_t)a->threads;
    for (int t = 0; t < a->threads; t++) {
        struct part *p = &parts[t];
        size_t first = (size_t)t * chunk;
        p->so = &so;
        p->nsubs = a->nsubs;
        p->npix = first >= npix ? 0 : (npix - first < chunk ? npix - first : chunk);
        p->out = out + first;
        if ((p->subs = calloc((size_t)a->nsubs, sizeof *p->subs)) == NULL ||
            (p->work = ac_stack_work_new(a->nsubs)) == NULL)
            goto out;
        for (int i = 0; i < a->nsubs; i++)
            p->subs[i] = strip[i] + first;
    }
    for (int r = 0; r < a->reps; r++) {
        uint64_t t0 = ac_now_ns();
        for (int t = 0; t < a->threads; t++)
            pthread_create(&parts[t].th, NULL, part_run, &parts[t]);
        for (int t = 0; t < a->threads; t++)
            pthread_join(parts[t].th, NULL);
        ns[r] = (double)(ac_now_ns() - t0) / (double)npix;
        for (int t = 0; t < a->threads; t++)
            if (parts[t].rc != 0) {
                fprintf(stderr, "buildmaster: %s\n", parts[t].err.msg);
                goto out;
            }
    }
    qsort(ns, (size_t)a->reps, sizeof ns[0], cmp_double);
    {
        double best = ns[0], med = ns[a->reps / 2];
        double frame_s = med * (double)w * (double)h / 1e9;
        ac_stack_stats_t st = {0};
        for (int t = 0; t < a->threads; t++)
            ac_stack_stats_add(&st, &parts[t].st);
        printf("{\"ok\":true,\"kernel\":true,\"threads\":%d,\"subs\":%d,\"rows\":%d,"
               "\"width\":%d,\"height\":%d,\"ns_per_pixel_best\":%.3f,"
               "\"ns_per_pixel_median\":%.3f,\"ns_per_value_median\":%.4f,"
               "\"frame_combine_s\":%.4f,\"combine_only_fps\":%.3f,\"rej_low\":%.6f,"
               "\"rej_high\":%.6f,\"estimator\":\"%s\"}\n",
               a->threads, a->nsubs, rows, w, h, best, med, med / a->nsubs, frame_s,
               a->nsubs / frame_s, st.values ? (double)st.rejected_low / (double)st.values : 0,
               st.values ? (double)st.rejected_high / (double)st.values : 0,
               so.sigma_estimator == AC_STACK_SIGMA_MAD ? "mad" : "stddev");
    }
    rc = 0;
out:
    for (int t = 0; parts != NULL && t < a->threads; t++) {
        free(parts[t].subs);
        ac_stack_work_free(parts[t].work);
    }
    for (int i = 0; i < a->nsubs; i++) {
        if (in != NULL)
            ac_imgio_close(in[i]);
        if (strip != NULL)
            free(strip[i]);
    }
    free(in);
    free(strip);
    free(out);
    free(parts);
    free(ns);
    return rc;
}

int main(int argc, char **argv)
{
    struct args a;
    int rc;

    if (parse(argc, argv, &a) != 0) {
        usage();
        free(a.subs);
        return EX_USAGE;
    }
    ac_log_set_level(AC_LOG_WARNING);
    rc = a.kernel ? kernel(&a) : build(&a);
    free(a.subs);
    return rc;
}
