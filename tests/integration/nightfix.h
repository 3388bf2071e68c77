/*
 * nightfix.h - a generated night and its AstroFiler catalogue for tests that drive the
 * real daemon (test-daemon.c, test-reliability.c): masters and lights on disk, the
 * catalogue rows AstroFiler would write, and polls of the light queue. Defined once in
 * nightfix.c, compiled into astrocald_integration. Failures fail the test.
 * Thread: the test's thread.
 */
#ifndef AC_INTEG_NIGHTFIX_H
#define AC_INTEG_NIGHTFIX_H

#include <sqlite3.h>
#include <stdbool.h>

#include "fitsgen.h"
#include "harness.h"

struct night {
    ac_gen_t *g;
    char dir[1024];
    char light[64][1100];
    char light_id[64][16];
    int n;
    char bias[1100], dark[1100], flat[1100];
};

/* abspath writes the test's temporary directory joined with rel into out. */
void abspath(char *out, size_t size, const char *rel);

/* make_night generates masters and n lights (w x h) under night/ (n <= 64). */
void make_night(struct night *nt, int n, int w, int h);

/* add_master registers a master of type ("bias", "dark", "flat") at path with hash (NULL:
 * none) in Masters, as AstroFiler does; returns its rowid. */
long long add_master(sqlite3 *db, const char *type, const char *path, const char *hash);

/* add_master_from is add_master with Masters.source_session_id = source_session (NULL: none).
 */
long long add_master_from(sqlite3 *db, const char *type, const char *path, const char *hash,
                          const char *source_session);

/* add_lights adds light session S-1 (M 31, 2024-03-15, 300 s, L) with the night's lights. */
void add_lights(sqlite3 *db, struct night *nt);

/* make_catalogue writes an AstroFiler database with one light session (S-1) of the
 * night's lights and the masters chosen by `masters` ("bdf": bias, dark, flat). */
void make_catalogue(ac_harness_t *h, struct night *nt, const char *masters);

/* open_db opens the harness's catalogue read-write (busy timeout 5 s). */
sqlite3 *open_db(ac_harness_t *h);

/* count_calibrated_rows counts the calibrated fitsfile rows astrocald wrote. */
long long count_calibrated_rows(sqlite3 *db);

/* files_in_state counts the queue's files in state. */
long long files_in_state(sqlite3 *db, const char *state);

/* wait_state polls the queue until n files are in state (true) or the timeout (false). */
bool wait_state(ac_harness_t *h, const char *state, long long n, int timeout_ms);

/* wait_done is wait_state for "done". */
bool wait_done(ac_harness_t *h, long long n, int timeout_ms);

/* forget_notify drops the notifications recorded so far, so that waiting for READY=1
 * after a restart waits for the new process. */
void forget_notify(ac_harness_t *h);

/* wait_exit waits for a --drain daemon to exit by itself; returns its exit status (the
 * daemon is killed after the timeout, then -ETIMEDOUT). */
int wait_exit(ac_harness_t *h, int timeout_ms);

#endif
