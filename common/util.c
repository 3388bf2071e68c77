/*
 * util.c - small shared helpers (see util.h).
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

uint64_t ac_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

char *ac_now_format(char *buf, size_t size, bool utc, char sep, int frac)
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (utc)
        gmtime_r(&ts.tv_sec, &tm);
    else
        localtime_r(&ts.tv_sec, &tm);
    n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n > 10)
        buf[10] = sep;
    if (frac > 0 && n > 0 && n < size) {
        long div = 1;
        for (int i = frac; i < 9; i++)
            div *= 10;
        snprintf(buf + n, size - n, ".%0*ld", frac > 6 ? 6 : frac, ts.tv_nsec / div);
    }
    return buf;
}

char *ac_now_utc_iso(char *buf, size_t size, int frac)
{
    return ac_now_format(buf, size, true, 'T', frac);
}

char *ac_format_clock(char *buf, size_t size, double seconds)
{
    long long s;

    if (!(seconds >= 0) || seconds > 1e9) {
        snprintf(buf, size, "-");
        return buf;
    }
    s = (long long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%lld:%02lld", s / 60, s % 60);
    return buf;
}

size_t ac_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);

    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

char *ac_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

const char *ac_path_base(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash != NULL ? slash + 1 : path;
}

static int strip_suffix(char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);

    if (ls > lx && strcasecmp(s + ls - lx, suffix) == 0) {
        s[ls - lx] = '\0';
        return 1;
    }
    return 0;
}

void ac_path_stem(const char *path, char *out, size_t size)
{
    static const char *const exts[] = {".fits", ".fit", ".fts", ".xisf"};

    ac_strlcpy(out, ac_path_base(path), size);
    if (!strip_suffix(out, ".fz"))
        strip_suffix(out, ".gz");
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (strip_suffix(out, exts[i]))
            break;
}

void ac_path_dir(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL) {
        ac_strlcpy(out, ".", size);
    } else if (slash == path) {
        ac_strlcpy(out, "/", size);
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= size)
            n = size - 1;
        memcpy(out, path, n);
        out[n] = '\0';
    }
}

char *ac_str_trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

const char *ac_name_of(const char *const *names, int n, int i)
{
    return i >= 0 && i < n ? names[i] : "unknown";
}

int ac_name_find(const char *const *names, int n, const char *name)
{
    for (int i = 0; name != NULL && i < n; i++) {
        if (strcmp(name, names[i]) == 0)
            return i;
    }
    return -1;
}

int ac_name_value(const ac_name_value_t *t, size_t n, const char *name, bool nocase, int dflt)
{
    for (size_t i = 0; name != NULL && i < n; i++) {
        if ((nocase ? strcasecmp(name, t[i].name) : strcmp(name, t[i].name)) == 0)
            return t[i].value;
    }
    return dflt;
}

int ac_grow(void **items, size_t *cap, size_t n, size_t size)
{
    size_t ncap;
    char *p;

    if (n < *cap)
        return 0;
    ncap = *cap != 0 ? *cap * 2 : 16;
    p = realloc(*items, ncap * size);
    if (p == NULL)
        return -ENOMEM;
    memset(p + *cap * size, 0, (ncap - *cap) * size);
    *items = p;
    *cap = ncap;
    return 0;
}
