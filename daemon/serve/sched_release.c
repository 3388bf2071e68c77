/*
 * sched_release.c - putting claimed files back in the queue (see sched_int.h): without an
 * attempt, after a delay; a file put back for its plan or its masters waits a back-off of
 * its own (1 s doubled per put-back, at most 5 minutes: REPLAN_*), forgotten once it
 * starts; a row the catalogue refused to put back (busy, full) is remembered and put back
 * at a later kick (else at the next start, by the recovery).
 *
 * Thread: loop thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sched_int.h"
#include "util.h"

#define REPLAN_FIRST_S 1.0
#define REPLAN_CAP_S 300.0

void ac_sched_remember(ac_sched_t *s, const char *file_id)
{
    for (int i = 0; i < s->nunreleased; i++)
        if (strcmp(s->unreleased[i], file_id) == 0)
            return;
    if (s->nunreleased == s->capunreleased) {
        int cap = s->capunreleased ? s->capunreleased * 2 : 8;
        void *p = realloc(s->unreleased, (size_t)cap * sizeof *s->unreleased);
        if (p == NULL)
            return; /* recovered at the next start (running -> pending) */
        s->unreleased = p;
        s->capunreleased = cap;
    }
    ac_strlcpy(s->unreleased[s->nunreleased++], file_id, sizeof s->unreleased[0]);
}

void ac_sched_release(ac_sched_t *s, const char *file_id, double delay_s)
{
    ac_err_t e = {0};
    int rc = ac_queue_release(s->queue, file_id, ac_sched_unix_now() + delay_s, &e);

    if (rc == 0 || rc == -ENOENT)
        return;
    if (!ac_db_unavailable(rc)) /* busy or lost: the daemon says so, once */
        ac_log_err("cannot put %s back in the queue: %s", file_id, e.msg);
    if (ac_queue_full(rc))
        ac_sched_disk_full(s, NULL, true);
    ac_sched_remember(s, file_id);
}

void ac_sched_retry_unreleased(ac_sched_t *s)
{
    while (s->nunreleased > 0) {
        ac_err_t e = {0};
        const char *id = s->unreleased[s->nunreleased - 1];
        int rc = ac_queue_release(s->queue, id, ac_sched_unix_now(), &e);
        if (rc != 0 && rc != -ENOENT)
            return;
        s->nunreleased--;
    }
}

void ac_sched_put_back_later(ac_sched_t *s, const char *file_id)
{
    ac_backoff_t *b = ac_backoff_table_get(&s->putbacks, file_id, true);
    double d = REPLAN_CAP_S;

    if (b != NULL)
        d = ac_backoff_fail(b, ac_sched_mono_now(), REPLAN_FIRST_S, REPLAN_CAP_S);
    ac_sched_release(s, file_id, d);
}

void ac_sched_forget_putback(ac_sched_t *s, const char *file_id)
{
    ac_backoff_table_drop(&s->putbacks, file_id);
}

void ac_sched_release_free(ac_sched_t *s)
{
    free(s->unreleased);
    s->unreleased = NULL;
    s->nunreleased = s->capunreleased = 0;
    ac_backoff_table_free(&s->putbacks);
    ac_backoff_table_free(&s->build_waits);
}
