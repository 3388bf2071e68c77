/*
 * util.h - small helpers shared by the daemon and astrocalctl: clocks, bounded strings,
 * allocation-returning printf, path pieces, names of enum values.
 *
 * Thread: every function is safe on any thread.
 */
#ifndef AC_UTIL_H
#define AC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ac_now_ns returns CLOCK_MONOTONIC in nanoseconds. */
uint64_t ac_now_ns(void);

/* ac_now_format writes the current time, UTC or local, as "YYYY-MM-DD<sep>HH:MM:SS" with
 * `frac` fractional digits (0..6) into buf and returns buf. */
char *ac_now_format(char *buf, size_t size, bool utc, char sep, int frac);

/* ac_now_utc_iso is ac_now_format(buf, size, true, 'T', frac) (FITS and protocol times). */
char *ac_now_utc_iso(char *buf, size_t size, int frac);

/* ac_format_clock writes seconds as "M:SS" (under an hour) or "H:MM:SS", rounded; "-" for
 * a negative or non-finite value (an unknown ETA). Returns buf. */
char *ac_format_clock(char *buf, size_t size, double seconds);

/* ac_strlcpy copies at most size-1 bytes and always terminates; returns strlen(src). */
size_t ac_strlcpy(char *dst, const char *src, size_t size);

/* ac_asprintf returns a newly allocated formatted string (owned by the caller, free()),
 * or NULL on allocation failure. */
char *ac_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ac_path_base returns a pointer into path just after the last '/'. Borrowed. */
const char *ac_path_base(const char *path);

/* ac_path_stem copies the base name of path without its image extension (".fits", ".fit",
 * ".fts", each optionally followed by ".fz" or ".gz", or ".xisf"; case-insensitive) into
 * out. */
void ac_path_stem(const char *path, char *out, size_t size);

/* ac_path_dir copies the directory part of path ("." when there is none) into out. */
void ac_path_dir(const char *path, char *out, size_t size);

/* ac_str_trim strips leading and trailing white space in place and returns s. */
char *ac_str_trim(char *s);

/* Names of an enum's values 0..n-1, as a table names[n] of static strings:
 * ac_name_of returns names[i], "unknown" when i is out of range; ac_name_find returns the
 * i whose name equals name (case-sensitive), -1 when none does or name is NULL. */
const char *ac_name_of(const char *const *names, int n, int i);
int ac_name_find(const char *const *names, int n, const char *name);

/* A table of names for int values (aliases allowed): ac_name_value returns the value of the
 * first of t[0..n-1] named name (compared case-insensitively when nocase), dflt when none
 * is or name is NULL. */
typedef struct ac_name_value {
    const char *name;
    int value;
} ac_name_value_t;
int ac_name_value(const ac_name_value_t *t, size_t n, const char *name, bool nocase, int dflt);

/* ac_grow makes room in *items (elements of size bytes, capacity *cap, n of them in use)
 * for at least n + 1 elements, doubling the capacity (16 at first); new elements are
 * zeroed. 0 or -ENOMEM (items and *cap unchanged). Thread: any (the caller's array). */
int ac_grow(void **items, size_t *cap, size_t n, size_t size);

#endif
