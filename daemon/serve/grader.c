/*
 * grader.c - the grading stage's own low-priority thread (see grader.h).
 */
#include "grader.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

struct ac_grader {
    uv_async_t async;
    ac_grader_done_fn done;
    void *ud;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Under mu. */
    bool stop, has_task, has_result, busy;
    ac_grade_task_t task;
    ac_grading_res_t res;
    int rc;
    ac_err_t err;
};

/* lower_priority puts the calling thread in the idle scheduling class, or at nice 19. */
static void lower_priority(void)
{
    struct sched_param sp = {0};

    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) == 0)
        return;
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19) != 0)
        ac_log_debug("grading thread: cannot lower its priority: %s", strerror(errno));
}

static void run_task(ac_grader_t *g, const ac_grade_task_t *t)
{
    ac_grading_res_t r;
    ac_err_t e = {0};
    int rc;

    memset(&r, 0, sizeof r);
    if (t->kind == AC_GRADE_TASK_MEASURE)
        rc = ac_grading_measure(t->output_path, t->sha256, true, &r, &e);
    else
        rc = ac_grading_mark(t->output_path, t->reject ? t->reasons : NULL, t->sha256, r.sha256,
                             sizeof r.sha256, &e);
    pthread_mutex_lock(&g->mu);
    g->res = r;
    g->rc = rc;
    g->err = e;
    g->has_result = true;
    pthread_mutex_unlock(&g->mu);
    uv_async_send(&g->async);
}

static void *thread_main(void *arg)
{
    ac_grader_t *g = arg;
    ac_grade_task_t *t = malloc(sizeof *t);

    lower_priority();
    for (;;) {
        pthread_mutex_lock(&g->mu);
        while (!g->stop && !g->has_task)
            pthread_cond_wait(&g->cv, &g->mu);
        if (g->stop) {
            pthread_mutex_unlock(&g->mu);
            break;
        }
        if (t != NULL)
            *t = g->task;
        g->has_task = false;
        pthread_mutex_unlock(&g->mu);
        if (t != NULL) {
            run_task(g, t);
        } else {
            pthread_mutex_lock(&g->mu);
            g->rc = ac_err_set(&g->err, -ENOMEM, "grading: no memory for a task");
            g->has_result = true;
            pthread_mutex_unlock(&g->mu);
            uv_async_send(&g->async);
        }
    }
    free(t);
    return NULL;
}

static void async_cb(uv_async_t *a)
{
    ac_grader_t *g = a->data;
    ac_grade_task_t *t;
    ac_grading_res_t *r;
    ac_err_t e;
    int rc;
    bool have;

    pthread_mutex_lock(&g->mu);
    have = g->has_result;
    g->has_result = false;
    pthread_mutex_unlock(&g->mu);
    if (!have)
        return;
    t = malloc(sizeof *t);
    r = malloc(sizeof *r);
    pthread_mutex_lock(&g->mu);
    if (t != NULL && r != NULL) {
        *t = g->task;
        *r = g->res;
    }
    rc = g->rc;
    e = g->err;
    g->busy = false;
    pthread_mutex_unlock(&g->mu);
    if (t != NULL && r != NULL)
        g->done(g->ud, t, r, rc, &e);
    else
        ac_log_err("grading: no memory to record a result");
    free(t);
    free(r);
}

int ac_grader_new(uv_loop_t *loop, ac_grader_done_fn done, void *ud, ac_grader_t **out,
                  ac_err_t *e)
{
    ac_grader_t *g = calloc(1, sizeof *g);
    int rc;

    *out = NULL;
    if (g == NULL)
        return ac_err_set(e, -ENOMEM, "grading: no memory");
    g->done = done;
    g->ud = ud;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    if ((rc = uv_async_init(loop, &g->async, async_cb)) != 0) {
        pthread_mutex_destroy(&g->mu);
        pthread_cond_destroy(&g->cv);
        free(g);
        return ac_err_set(e, -EIO, "grading: uv_async_init: %s", uv_strerror(rc));
    }
    g->async.data = g;
    *out = g;
    return 0;
}

bool ac_grader_busy(const ac_grader_t *g)
{
    return g != NULL && g->busy; /* written on the loop thread only */
}

int ac_grader_submit(ac_grader_t *g, const ac_grade_task_t *t, ac_err_t *e)
{
    if (g->busy)
        return ac_err_set(e, -EBUSY, "grading: a task is running");
    if (!g->started) {
        int rc = pthread_create(&g->thread, NULL, thread_main, g);
        if (rc != 0)
            return ac_err_set(e, -rc, "grading: cannot start its thread: %s", strerror(rc));
        g->started = true;
    }
    pthread_mutex_lock(&g->mu);
    g->task = *t;
    g->has_task = true;
    g->busy = true;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    return 0;
}

static void free_cb(uv_handle_t *h)
{
    ac_grader_t *g = h->data;

    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}

void ac_grader_close(ac_grader_t *g)
{
    if (g == NULL)
        return;
    if (g->started) {
        pthread_mutex_lock(&g->mu);
        g->stop = true;
        pthread_cond_signal(&g->cv);
        pthread_mutex_unlock(&g->mu);
        pthread_join(g->thread, NULL);
        g->started = false;
    }
    uv_close((uv_handle_t *)&g->async, free_cb);
}
