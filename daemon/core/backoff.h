/*
 * backoff.h - exponential back-off (pure core: no clock of its own). Every retry astrocald
 * makes by itself waits first * 2^(failures so far), at most cap: a thing that keeps
 * failing is retried ever more rarely, never in a loop, and a success resets it.
 *
 * The caller passes its own clock (seconds, any origin) and keeps one ac_backoff_t per
 * thing that may fail (a master set, the planner, a full disk...).
 *
 * Ownership: a plain value (zero-initialised: no failure yet). Thread: pure functions; a
 * value belongs to its owner's thread.
 */
#ifndef AC_BACKOFF_H
#define AC_BACKOFF_H

#include <stdbool.h>

typedef struct ac_backoff {
    int failures;   /* consecutive failures */
    double until;   /* not before this time (caller's clock); 0 when no failure */
    double delay_s; /* the last delay chosen */
} ac_backoff_t;

/* ac_backoff_delay returns first_s * 2^n, at most cap_s (n < 0 counts as 0). */
double ac_backoff_delay(double first_s, double cap_s, int n);

/* ac_backoff_fail records a failure at now: the next attempt is due after
 * ac_backoff_delay(first_s, cap_s, failures before this one). Returns that delay. */
double ac_backoff_fail(ac_backoff_t *b, double now, double first_s, double cap_s);

/* ac_backoff_due says whether an attempt may be made at now (no failure, or its delay has
 * passed). */
bool ac_backoff_due(const ac_backoff_t *b, double now);

/* ac_backoff_reset forgets the failures (after a success). */
void ac_backoff_reset(ac_backoff_t *b);

/* A back-off per key (a file, a build): entries made on the first failure, dropped on
 * success. Owned by its user (zero-initialised: empty; ac_backoff_table_free). */
typedef struct ac_backoff_entry {
    char key[128];
    ac_backoff_t b;
} ac_backoff_entry_t;

typedef struct ac_backoff_table {
    ac_backoff_entry_t *v;
    int n, cap;
} ac_backoff_table_t;

/* ac_backoff_table_get returns key's back-off; with add a new one (no failure yet) when
 * there is none. NULL when absent (or, with add, out of memory). Valid until the next
 * call that adds or drops. */
ac_backoff_t *ac_backoff_table_get(ac_backoff_table_t *t, const char *key, bool add);

/* ac_backoff_table_drop forgets key (absent: nothing). */
void ac_backoff_table_drop(ac_backoff_table_t *t, const char *key);

void ac_backoff_table_free(ac_backoff_table_t *t);

#endif
