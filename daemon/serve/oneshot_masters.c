/*
 * oneshot_masters.c - the one-shot's masters: loads and MD5s on the pool, the MD5s handed
 * to the lights when known (see oneshot_masters.h).
 */
#include "oneshot_masters.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

/* How much lower the MD5 threads run than the process (nice): behind the loads, the
 * preparation and the lights, yet never starved for long. */
#define MD5_NICE 10

int ac_osm_tasks(const ac_masters_t *ms)
{
    int n = 0;

    for (int i = 0; i < AC_M_COUNT; i++)
        n += ac_masters_given(ms, i) ? 1 : 0;
    return n;
}

/* hash runs task t's MD5 and counts it for the lights waiting in ac_osm_md5s. */
static void hash(ac_osm_task_t *t)
{
    ac_osm_t *osm = t->osm;

    t->rc = ac_masters_hash_one(osm->ms, t->i, &t->err);
    uv_mutex_lock(&osm->mu);
    if (--osm->hashes_left == 0)
        uv_cond_broadcast(&osm->ended);
    uv_mutex_unlock(&osm->mu);
}

/* hash_thread is a master's MD5 on a thread of its own, at a lower priority: the lights
 * wait for the MD5s only at their end, so the MD5s take the processor time the loads, the
 * preparation and the lights leave (the lights wait for the disk half of the time). */
static void hash_thread(void *arg)
{
    int prio = getpriority(PRIO_PROCESS, 0) + MD5_NICE;

    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), prio < 19 ? prio : 19);
    hash(arg);
}

static void task_work(uv_work_t *req)
{
    ac_osm_task_t *t = req->data;

    if (t->hash)
        hash(t); /* no thread of its own could be started */
    else
        t->rc = ac_masters_load_one(t->osm->ms, t->i, AC_MASTERS_HASH_APART, &t->err);
}

/* task_done counts an ended load (status is 0: nothing cancels these tasks); the MD5s are
 * counted on their own threads, for the lights waiting there. */
static void task_done(uv_work_t *req, int status)
{
    ac_osm_task_t *t = req->data;

    (void)status;
    if (!t->hash)
        t->osm->loads_left--;
}

int ac_osm_start(ac_osm_t *osm, ac_masters_t *ms, uv_loop_t *loop)
{
    memset(osm->loads, 0, sizeof osm->loads);
    memset(osm->hashes, 0, sizeof osm->hashes);
    memset(osm->threaded, 0, sizeof osm->threaded);
    osm->ms = ms;
    osm->loads_left = 0;
    osm->hashes_left = ac_osm_tasks(ms);
    if (uv_mutex_init(&osm->mu) != 0)
        return -ENOMEM;
    if (uv_cond_init(&osm->ended) != 0) {
        uv_mutex_destroy(&osm->mu);
        return -ENOMEM;
    }
    osm->sync_ready = true;
    for (int h = 1; h >= 0; h--) {
        for (int i = 0; i < AC_M_COUNT; i++) {
            ac_osm_task_t *t = h ? &osm->hashes[i] : &osm->loads[i];

            if (!ac_masters_given(ms, i))
                continue;
            t->osm = osm;
            t->i = i;
            t->hash = h;
            t->req.data = t;
            if (h && uv_thread_create(&osm->threads[i], hash_thread, t) == 0) {
                osm->threaded[i] = true;
                continue;
            }
            osm->loads_left += !h;
            /* On the pool (an MD5 too when no thread could be started: queued before any
             * light, so running before any light waits for it). uv_queue_work cannot fail
             * for a valid callback (libuv 1.44). */
            uv_queue_work(loop, &t->req, task_work, task_done);
        }
    }
    return 0;
}

int ac_osm_wait_loads(ac_osm_t *osm, uv_loop_t *loop, bool force, ac_err_t *e)
{
    while (osm->loads_left > 0)
        uv_run(loop, UV_RUN_ONCE);
    for (int i = 0; i < AC_M_COUNT; i++) {
        int rc;

        if (!ac_masters_given(osm->ms, i))
            continue;
        if (osm->loads[i].rc != 0) {
            *e = osm->loads[i].err;
            return osm->loads[i].rc;
        }
        if ((rc = ac_masters_check_type(osm->ms, i, force, e)) != 0)
            return rc;
    }
    return 0;
}

/* first_failure returns the first failed MD5 (order bias, dark, flat, flat-dark) into e, or
 * 0. Called with mu held once hashes_left is 0. */
static int first_failure(const ac_osm_t *osm, ac_err_t *e)
{
    for (int i = 0; i < AC_M_COUNT; i++) {
        if (ac_masters_given(osm->ms, i) && osm->hashes[i].rc != 0) {
            *e = osm->hashes[i].err;
            return osm->hashes[i].rc;
        }
    }
    return 0;
}

int ac_osm_md5s(void *ud, char md5[4][33], ac_err_t *e)
{
    ac_osm_t *osm = ud;
    int rc;

    uv_mutex_lock(&osm->mu);
    while (osm->hashes_left > 0)
        uv_cond_wait(&osm->ended, &osm->mu);
    rc = first_failure(osm, e);
    for (int i = 0; rc == 0 && i < AC_M_COUNT; i++)
        ac_strlcpy(md5[i], ac_masters_given(osm->ms, i) ? osm->ms->hashed[i] : "", 33);
    uv_mutex_unlock(&osm->mu);
    return rc;
}

bool ac_osm_failed(ac_osm_t *osm, ac_err_t *e)
{
    int rc = 0;

    uv_mutex_lock(&osm->mu);
    if (osm->hashes_left == 0)
        rc = first_failure(osm, e);
    uv_mutex_unlock(&osm->mu);
    return rc != 0;
}

void ac_osm_free(ac_osm_t *osm)
{
    if (osm == NULL || !osm->sync_ready)
        return;
    for (int i = 0; i < AC_M_COUNT; i++)
        if (osm->threaded[i])
            uv_thread_join(&osm->threads[i]);
    memset(osm->threaded, 0, sizeof osm->threaded);
    uv_cond_destroy(&osm->ended);
    uv_mutex_destroy(&osm->mu);
    osm->sync_ready = false;
}
