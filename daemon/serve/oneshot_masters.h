/*
 * oneshot_masters.h - the one-shot's masters (`astrocald calibrate`): every master's
 * pixels and the MD5 of its file read on the libuv pool, all at once (the one master
 * loader's steps, work/masters.h), and the MD5s handed to the lights once known.
 *
 * The lights do not wait for the MD5s to start. In the one-shot the MD5s are the outputs'
 * provenance (BIASMD5, DARKMD5, FLATMD5, FDRKMD5) and, where a file cannot be hashed, a
 * failure: each light asks for them (ac_osm_md5s, the engine's late_md5s) on its pool
 * thread just before its header is final, and waits there until every MD5 has ended. A
 * master that could not be hashed fails every light with its message (the first in the
 * order bias, dark, flat, flat-dark), and no output is committed. So the MD5s (about 0.15 s
 * of CPU per 100 MB master) run beside the first lights instead of before them.
 *
 * Each MD5 runs on a thread of its own, 10 nice levels below the process: the lights wait
 * for the MD5s only at their end, so the MD5s take the processor time that the loads, the
 * preparation and the lights leave (a light waits for the disk much of the time), instead
 * of holding up the preparation and with it the first lights. When no thread can be
 * started, the MD5 is queued on the pool before any light (so it runs before any light
 * waits for it). The pool needs a thread for each load (ac_osm_tasks) to read the
 * masters at once.
 *
 * Ownership: ac_osm_t borrows the masters (ms, which it fills) and is owned by the caller.
 * Thread: start, wait_loads, failed and free on the loop thread (free once the loop has
 * run every task's completion); md5s on any thread.
 */
#ifndef AC_ONESHOT_MASTERS_H
#define AC_ONESHOT_MASTERS_H

#include <stdbool.h>

#include <uv.h>

#include "err.h"
#include "masters.h"

struct ac_osm;

/* A master's load or MD5 on the pool. */
typedef struct ac_osm_task {
    uv_work_t req;
    struct ac_osm *osm;
    int i;     /* master index (AC_M_*) */
    bool hash; /* the MD5 of the file, else the pixels */
    int rc;
    ac_err_t err;
} ac_osm_task_t;

typedef struct ac_osm {
    ac_masters_t *ms; /* borrowed: paths given, images and MD5s written by the tasks */
    ac_osm_task_t loads[AC_M_COUNT], hashes[AC_M_COUNT];
    uv_thread_t threads[AC_M_COUNT]; /* the MD5s' own threads (joined by ac_osm_free) */
    bool threaded[AC_M_COUNT];
    int loads_left;  /* loop thread */
    uv_mutex_t mu;   /* guards hashes_left and, once it is 0, the hashes' results */
    uv_cond_t ended; /* broadcast when hashes_left reaches 0 */
    int hashes_left;
    bool sync_ready;
} ac_osm_t;

/* ac_osm_tasks is the number of pool tasks ac_osm_start queues for ms: the loads, one per
 * master given. */
int ac_osm_tasks(const ac_masters_t *ms);

/* ac_osm_start queues every given master's load and MD5 on loop's pool. 0 or -ENOMEM
 * (nothing queued). */
int ac_osm_start(ac_osm_t *osm, ac_masters_t *ms, uv_loop_t *loop);

/* ac_osm_wait_loads runs loop until every load has ended and checks the masters: the
 * first failed load (order bias, dark, flat, flat-dark) or a frame type refused
 * (ac_masters_check_type, force) is returned with its message. */
int ac_osm_wait_loads(ac_osm_t *osm, uv_loop_t *loop, bool force, ac_err_t *e);

/* ac_osm_md5s is an ac_engine_md5s_fn (ud: the ac_osm_t): waits until every MD5 has
 * ended, then fills md5 or returns the first failure. */
int ac_osm_md5s(void *ud, char md5[4][33], ac_err_t *e);

/* ac_osm_failed says, without waiting, whether an MD5 already failed (e: the first). */
bool ac_osm_failed(ac_osm_t *osm, ac_err_t *e);

/* ac_osm_free joins the MD5 threads and releases the lock (NULL-safe for an osm never
 * started). */
void ac_osm_free(ac_osm_t *osm);

#endif
