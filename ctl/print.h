/*
 * print.h - astrocalctl's human output: aligned tables, progress bars, durations, and one
 * renderer per command result and per event (docs/protocol.md gives the fields).
 *
 * Every renderer takes the command's `result` object (borrowed) and a FILE; it never reads
 * the socket, never exits, and writes nothing but to `out`. Missing optional fields print
 * as "-". A renderer returns 0, -EINVAL when the result lacks what it needs (the caller
 * then reports an unexpected reply), or -ENOMEM.
 *
 * Thread: any thread (no global state; ac_print_watch_t carries the watch state).
 */
#ifndef AC_PRINT_H
#define AC_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* ac_print_bar writes "[#####-----]" with width cells inside the brackets, filled in
 * proportion to fraction (clamped to 0..1, rounded down: full only at 1). Returns buf. */
char *ac_print_bar(char *buf, size_t size, double fraction, int width);

/* ac_print_progress writes "<bar> NNN% done/total" (percentage rounded down, padded to
 * three digits); total 0 shows an empty bar and 0%. Returns buf. */
char *ac_print_progress(char *buf, size_t size, long long done, long long total, int width);

/* ac_print_duration writes seconds for people: "-" (negative, NaN), "3.2 s", "45 s",
 * "3 min 20 s", "2 h 03 min", "1 d 04 h". Returns buf. */
char *ac_print_duration(char *buf, size_t size, double seconds);

/* ac_print_mib writes a byte count as "412 MiB" or, from 10 GiB on, "12.5 GiB". */
char *ac_print_mib(char *buf, size_t size, double bytes);

/* ac_print_result renders the result of cmd (dispatching to the functions below; commands
 * without their own renderer get a one-line summary). */
int ac_print_result(FILE *out, const char *cmd, json_t *result);

int ac_print_status(FILE *out, json_t *result);
int ac_print_sessions(FILE *out, json_t *result);
int ac_print_session(FILE *out, json_t *result);
int ac_print_masters(FILE *out, json_t *result);
int ac_print_plan(FILE *out, json_t *result);
int ac_print_import(FILE *out, json_t *result);
int ac_print_config(FILE *out, json_t *result);
int ac_print_history(FILE *out, json_t *result); /* print_history.c */
/* print_upload.c: the `uploads:` lines of status (the status's "uploads" object), its
 * `fetches:` line ("downloads"), and the `uploads` command's table. */
int ac_print_uploads_line(FILE *out, json_t *uploads);
int ac_print_downloads_line(FILE *out, json_t *downloads);
int ac_print_uploads(FILE *out, json_t *result);
/* ac_print_grade renders `grade`: a table, or with csv comma-separated values with a
 * header line (RFC 4180 quoting), one line per light (print_grade.c). */
int ac_print_grade(FILE *out, json_t *result, bool csv);

/*
 * Watch state: file_progress events carry only a file id, so the names learnt from
 * file_started events are remembered (the last AC_PRINT_WATCH_NAMES of them).
 * Zero-initialise; release with ac_print_watch_free.
 */
#define AC_PRINT_WATCH_NAMES 64

typedef struct ac_print_watch {
    char *id[AC_PRINT_WATCH_NAMES];
    char *name[AC_PRINT_WATCH_NAMES];
    unsigned next;
} ac_print_watch_t;

/* ac_print_event renders one event as one line: local time (from `at`, an ISO UTC time),
 * a kind, the file or session, and the details. */
int ac_print_event(FILE *out, ac_print_watch_t *w, const char *event, const char *at,
                   json_t *data);

void ac_print_watch_free(ac_print_watch_t *w);

#endif
