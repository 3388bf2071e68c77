/*
 * iofloor.c - the I/O floor for the calibration benchmark (bench/run-engine.sh).
 *
 * Does the least work any calibrator must do for a batch of 16-bit lights: read each light
 * with cfitsio (fits_read_pix TUSHORT, one large read, BZERO applied by cfitsio) and write a
 * float32 FITS image of the same size (the pixel values converted to big-endian float, no
 * calibration, no statistics, no checksum). The writer is the fastest this machine offers
 * (bench/README.md has the comparison): O_DIRECT from aligned 8 MiB buffers filled by the
 * conversion, written at aligned offsets, the last buffer padded to 4096 bytes, the file
 * truncated to its exact FITS length. With --sync each file is fdatasync'ed and its directory
 * fsync'ed, the same durability as astrocald's committed outputs.
 *
 * Optionally (--masters B D F) it first reads three float32 masters into memory with one
 * fits_read_pix TFLOAT call each, the way a calibrator must before its first light; the
 * time is reported separately so the floor can be quoted with and without it.
 *
 * Usage: iofloor [-j THREADS] [--sync] [--buffered] [--buf-mib N] [--fallocate]
 *                [--masters BIAS DARK FLAT] -o OUTDIR LIGHT...
 * Output (stdout, flushed per line): "masters SECONDS MB", one "OK LIGHT SECONDS" per frame as
 * it completes, then "summary frames=N wall=S lights=S in_mb=X out_mb=Y".
 * Exit status 0 when every frame was written, 1 otherwise, 64 on usage errors.
 *
 * Ownership: every thread owns its input buffer and write buffer for the whole run (fresh
 * memory is expensive to touch on these machines, so they are allocated once).
 * Thread: worker threads take the next light from an atomic counter; stdout is written
 * under a mutex.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fitsio.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ALIGN 4096
#define FITS_BLOCK 2880

static struct {
    int threads;
    bool sync, buffered, falloc;
    size_t buf_bytes;
    const char *outdir;
    char **lights;
    int nlights;
    const char *masters[3];
} opt = {.threads = 2, .buf_bytes = 8u << 20};

static atomic_int next_light;
static atomic_int failures;
static atomic_bool no_direct; /* the output filesystem refused O_DIRECT */
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static double t_start;
static double in_bytes_total, out_bytes_total;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&out_mu);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
}

struct worker {
    pthread_t tid;
    unsigned short *px; /* one whole light, reused */
    size_t px_cap;
    unsigned char *buf; /* aligned write buffer, reused */
};

/* header fills the 2880-byte primary header of a w x h float32 image. */
static void header(unsigned char *dst, long w, long h)
{
    char card[81];
    int i = 0;

    memset(dst, ' ', FITS_BLOCK);
#define CARD(...)                                                                              \
    do {                                                                                       \
        int n_ = snprintf(card, sizeof card, __VA_ARGS__);                                     \
        memcpy(dst + 80 * i++, card, (size_t)n_);                                              \
    } while (0)
    CARD("SIMPLE  = %20s", "T");
    CARD("BITPIX  = %20d", -32);
    CARD("NAXIS   = %20d", 2);
    CARD("NAXIS1  = %20ld", w);
    CARD("NAXIS2  = %20ld", h);
    CARD("END");
#undef CARD
}

/* convert stores n pixels as big-endian float32 at dst. */
static void convert(unsigned char *restrict dst, const unsigned short *restrict src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float f = (float)src[i];
        uint32_t u;
        memcpy(&u, &f, 4);
        u = __builtin_bswap32(u);
        memcpy(dst + 4 * i, &u, 4);
    }
}

static int write_all(int fd, const unsigned char *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
        off += k;
    }
    return 0;
}

/* write_image streams header + data + padding from w->buf, O_DIRECT unless --buffered. */
static int write_image(struct worker *wk, const char *path, long w, long h, double *bytes)
{
    uint64_t data = (uint64_t)w * (uint64_t)h * 4u;
    uint64_t total = FITS_BLOCK + (data + FITS_BLOCK - 1) / FITS_BLOCK * FITS_BLOCK;
    size_t B = opt.buf_bytes, fill = FITS_BLOCK, npx = (size_t)w * (size_t)h, done = 0;
    off_t off = 0;
    bool buffered = opt.buffered || atomic_load(&no_direct);
    int fd, rc = 0;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (buffered ? 0 : O_DIRECT), 0644);
    if (fd < 0 && errno == EINVAL && !buffered) {
        /* The filesystem refuses O_DIRECT (tmpfs): say so once and write buffered. */
        if (!atomic_exchange(&no_direct, true))
            fprintf(stderr, "iofloor: %s refuses O_DIRECT; writing buffered\n", opt.outdir);
        buffered = true;
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    }
    if (fd < 0)
        return -errno;
    if (opt.falloc && posix_fallocate(fd, 0, (off_t)total) != 0) {
        rc = -EIO;
        goto out;
    }
    header(wk->buf, w, h);
    while (done < npx) {
        size_t room = (B - fill) / 4, n = npx - done < room ? npx - done : room;
        convert(wk->buf + fill, wk->px + done, n);
        fill += 4 * n;
        done += n;
        if (fill + 4 > B || done == npx) {
            size_t len = fill;
            if (done == npx) {
                /* Zero padding to the FITS block, then to the O_DIRECT alignment. */
                uint64_t end = total - (uint64_t)off;
                len = (size_t)(end + ALIGN - 1) / ALIGN * ALIGN;
                if (buffered)
                    len = (size_t)end;
                memset(wk->buf + fill, 0, len - fill);
            } else if (fill % ALIGN) {
                /* Keep every write aligned: carry the unaligned tail to the next buffer. */
                size_t keep = fill % ALIGN;
                len = fill - keep;
                if ((rc = write_all(fd, wk->buf, len, off)) != 0)
                    goto out;
                memmove(wk->buf, wk->buf + len, keep);
                off += (off_t)len;
                fill = keep;
                continue;
            }
            if ((rc = write_all(fd, wk->buf, len, off)) != 0)
                goto out;
            off += (off_t)len;
            fill = 0;
        }
    }
    if (ftruncate(fd, (off_t)total) != 0) {
        rc = -errno;
        goto out;
    }
    if (opt.sync && fdatasync(fd) != 0)
        rc = -errno;
    *bytes = (double)total;
out:
    close(fd);
    return rc;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

static void *work(void *arg)
{
    struct worker *wk = arg;
    int i;

    while ((i = atomic_fetch_add(&next_light, 1)) < opt.nlights) {
        const char *in = opt.lights[i];
        char out[4096], base[1024];
        fitsfile *f = NULL;
        int st = 0, naxis = 0, anynul = 0, rc;
        long naxes[3] = {0, 0, 0};
        double t0 = now(), wrote = 0;
        size_t n;

        snprintf(base, sizeof base, "%s", in);
        char *stem = basename(base), *dot = strrchr(stem, '.');
        if (dot != NULL && dot != stem)
            *dot = '\0';
        snprintf(out, sizeof out, "%s/%s_floor.fits", opt.outdir, stem);
        if (fits_open_diskfile(&f, in, READONLY, &st) || fits_get_img_dim(f, &naxis, &st) ||
            fits_get_img_size(f, 3, naxes, &st) || naxis != 2) {
            say("FAIL %s: cannot open as a 2-D image (cfitsio %d)\n", in, st);
            atomic_fetch_add(&failures, 1);
            if (f)
                fits_close_file(f, &st);
            continue;
        }
        n = (size_t)naxes[0] * (size_t)naxes[1];
        if (n > wk->px_cap) {
            free(wk->px);
            wk->px = malloc(n * sizeof *wk->px);
            wk->px_cap = wk->px ? n : 0;
        }
        if (wk->px == NULL || fits_read_pix(f, TUSHORT, (long[]){1, 1}, (LONGLONG)n, NULL,
                                            wk->px, &anynul, &st)) {
            say("FAIL %s: read failed (cfitsio %d)\n", in, st);
            atomic_fetch_add(&failures, 1);
            fits_close_file(f, &st);
            continue;
        }
        fits_close_file(f, &st);
        rc = write_image(wk, out, naxes[0], naxes[1], &wrote);
        if (rc == 0 && opt.sync)
            rc = fsync_dir(opt.outdir);
        if (rc != 0) {
            say("FAIL %s: writing %s: %s\n", in, out, strerror(-rc));
            atomic_fetch_add(&failures, 1);
            continue;
        }
        pthread_mutex_lock(&out_mu);
        in_bytes_total += (double)n * 2;
        out_bytes_total += wrote;
        pthread_mutex_unlock(&out_mu);
        say("OK %s %.4f\n", in, now() - t0);
    }
    return NULL;
}

/* read_masters reads each master whole as float, as a calibrator must before it starts. */
static int read_masters(float **keep, double *bytes)
{
    for (int m = 0; m < 3; m++) {
        fitsfile *f = NULL;
        long naxes[2] = {0, 0};
        int st = 0, anynul = 0;
        size_t n;

        if (fits_open_diskfile(&f, opt.masters[m], READONLY, &st) ||
            fits_get_img_size(f, 2, naxes, &st)) {
            fprintf(stderr, "iofloor: %s: cannot open (cfitsio %d)\n", opt.masters[m], st);
            return -1;
        }
        n = (size_t)naxes[0] * (size_t)naxes[1];
        keep[m] = malloc(n * sizeof(float));
        if (keep[m] == NULL || fits_read_pix(f, TFLOAT, (long[]){1, 1}, (LONGLONG)n, NULL,
                                             keep[m], &anynul, &st)) {
            fprintf(stderr, "iofloor: %s: read failed (cfitsio %d)\n", opt.masters[m], st);
            fits_close_file(f, &st);
            return -1;
        }
        fits_close_file(f, &st);
        *bytes += (double)n * 4;
    }
    return 0;
}

static int usage(void)
{
    fputs("usage: iofloor [-j THREADS] [--sync] [--buffered] [--buf-mib N] [--fallocate]\n"
          "               [--masters BIAS DARK FLAT] -o OUTDIR LIGHT...\n",
          stderr);
    return 64;
}

int main(int argc, char **argv)
{
    struct worker *wk = NULL;
    float *masters[3] = {NULL, NULL, NULL};
    double mbytes = 0, t_lights;
    int i;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-j") == 0 && i + 1 < argc)
            opt.threads = atoi(argv[++i]);
        else if (strcmp(a, "--sync") == 0)
            opt.sync = true;
        else if (strcmp(a, "--buffered") == 0)
            opt.buffered = true;
        else if (strcmp(a, "--fallocate") == 0)
            opt.falloc = true;
        else if (strcmp(a, "--buf-mib") == 0 && i + 1 < argc)
            opt.buf_bytes = (size_t)atoi(argv[++i]) << 20;
        else if (strcmp(a, "-o") == 0 && i + 1 < argc)
            opt.outdir = argv[++i];
        else if (strcmp(a, "--masters") == 0 && i + 3 < argc) {
            for (int m = 0; m < 3; m++)
                opt.masters[m] = argv[++i];
        } else
            return usage();
    }
    opt.lights = argv + i;
    opt.nlights = argc - i;
    if (opt.outdir == NULL || opt.nlights < 1 || opt.threads < 1 || opt.buf_bytes < ALIGN)
        return usage();

    t_start = now();
    if (opt.masters[0] != NULL) {
        if (read_masters(masters, &mbytes) != 0)
            return 1;
        say("masters %.4f %.1f\n", now() - t_start, mbytes / 1e6);
    }
    t_lights = now();
    wk = calloc((size_t)opt.threads, sizeof *wk);
    if (wk == NULL)
        return 1;
    for (int t = 0; t < opt.threads; t++) {
        /* Two spare blocks hold the last buffer's FITS and O_DIRECT padding. */
        if (posix_memalign((void **)&wk[t].buf, ALIGN, opt.buf_bytes + 2 * ALIGN) != 0)
            return 1;
        memset(wk[t].buf, 0, opt.buf_bytes + 2 * ALIGN);
        pthread_create(&wk[t].tid, NULL, work, &wk[t]);
    }
    for (int t = 0; t < opt.threads; t++) {
        pthread_join(wk[t].tid, NULL);
        free(wk[t].px);
        free(wk[t].buf);
    }
    say("summary frames=%d failed=%d wall=%.4f lights=%.4f in_mb=%.1f out_mb=%.1f\n",
        opt.nlights - atomic_load(&failures), atomic_load(&failures), now() - t_start,
        now() - t_lights, in_bytes_total / 1e6, out_bytes_total / 1e6);
    for (int m = 0; m < 3; m++)
        free(masters[m]);
    free(wk);
    return atomic_load(&failures) ? 1 : 0;
}
