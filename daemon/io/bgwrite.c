/*
 * bgwrite.c - a writer's second thread (see bgwrite.h).
 *
 * One mutex and one condition variable: the caller sets `piece` and signals; the helper
 * takes it, runs it unlocked, clears `busy` and signals back. At most one piece is in
 * flight, so the caller's second buffer is always free when put returns.
 */
#include "bgwrite.h"

#include <pthread.h>
#include <stdlib.h>

struct ac_bgwrite {
    ac_bgwrite_fn fn;
    void *ud;
    bool threaded;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool busy; /* a piece is given and not yet written */
    bool quit;
    int rc; /* first error */
    const unsigned char *p;
    size_t n;
    uint64_t off;
};

/* run writes the current piece; the runner holds no lock (the piece is its own until busy
 * is cleared). */
static int run(ac_bgwrite_t *b)
{
    return b->fn(b->ud, b->p, b->n, b->off);
}

static void *helper(void *arg)
{
    ac_bgwrite_t *b = arg;

    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->busy && !b->quit)
            pthread_cond_wait(&b->cv, &b->mu);
        if (!b->busy)
            break; /* quit, nothing left */
        pthread_mutex_unlock(&b->mu);
        int rc = run(b);
        pthread_mutex_lock(&b->mu);
        if (rc != 0 && b->rc == 0)
            b->rc = rc;
        b->busy = false;
        pthread_cond_broadcast(&b->cv);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

ac_bgwrite_t *ac_bgwrite_new(ac_bgwrite_fn fn, void *ud, bool threaded)
{
    ac_bgwrite_t *b = calloc(1, sizeof *b);

    if (b == NULL)
        return NULL;
    b->fn = fn;
    b->ud = ud;
    if (threaded && pthread_mutex_init(&b->mu, NULL) == 0) {
        if (pthread_cond_init(&b->cv, NULL) == 0) {
            if (pthread_create(&b->th, NULL, helper, b) == 0) {
                b->threaded = true;
                return b;
            }
            pthread_cond_destroy(&b->cv);
        }
        pthread_mutex_destroy(&b->mu);
    }
    return b; /* inline: same results on the caller's thread */
}

int ac_bgwrite_sync(ac_bgwrite_t *b)
{
    int rc;

    if (!b->threaded)
        return b->rc;
    pthread_mutex_lock(&b->mu);
    while (b->busy)
        pthread_cond_wait(&b->cv, &b->mu);
    rc = b->rc;
    pthread_mutex_unlock(&b->mu);
    return rc;
}

int ac_bgwrite_put(ac_bgwrite_t *b, const unsigned char *p, size_t n, uint64_t off)
{
    int rc = ac_bgwrite_sync(b);

    if (rc != 0)
        return rc;
    b->p = p;
    b->n = n;
    b->off = off;
    if (!b->threaded) {
        b->rc = run(b);
        return b->rc;
    }
    pthread_mutex_lock(&b->mu);
    b->busy = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

void ac_bgwrite_free(ac_bgwrite_t *b)
{
    if (b == NULL)
        return;
    if (b->threaded) {
        pthread_mutex_lock(&b->mu);
        b->quit = true;
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->th, NULL); /* the helper finishes the piece in flight first */
        pthread_cond_destroy(&b->cv);
        pthread_mutex_destroy(&b->mu);
    }
    free(b);
}
