/*
 * daemon_cloud.c - the daemon's cloud sync ([CLOUD], daemon.h): starting and stopping the
 * uploader (upload.h) and the fetcher (fetch.h), and what the rest of the daemon asks of
 * them. Loop thread only.
 */
#include "daemon.h"
#include "fetch.h"
#include "log.h"
#include "upload.h"

static bool catalogue_ok(void *ud)
{
    return ac_daemon_catalogue_ok(ud);
}

/* fetched: a light is in the cache; a session none of whose lights was on disk can be
 * planned now. */
static void fetched(void *ud)
{
    ac_daemon_t *d = ud;

    ac_planner_request(&d->planner, true);
    ac_sched_plan_soon(&d->sched);
}

int ac_daemon_cloud_start(ac_daemon_t *d, ac_err_t *e)
{
    const ac_cloud_env_t env = {d->loop, d->db, &d->cfg, catalogue_ok, fetched, d};

    if (!d->cfg.enabled)
        return 0;
    d->uploader = ac_uploader_new(&env, e);
    if (d->uploader == NULL)
        return e->code;
    d->fetcher = ac_fetcher_new(&env, e);
    if (d->fetcher == NULL)
        return e->code;
    return 0;
}

void ac_daemon_cloud_kick(ac_daemon_t *d)
{
    ac_uploader_kick(d->uploader);
}

bool ac_daemon_cloud_idle(ac_daemon_t *d)
{
    return ac_uploader_idle(d->uploader);
}

static void uploader_stopped(void *ud)
{
    ((ac_daemon_t *)ud)->uploader = NULL; /* freed by upload.c */
}

static void fetcher_stopped(void *ud)
{
    ((ac_daemon_t *)ud)->fetcher = NULL; /* freed by fetch.c */
}

void ac_daemon_cloud_stop(ac_daemon_t *d)
{
    if (d->uploader != NULL)
        ac_uploader_stop(d->uploader, uploader_stopped);
    if (d->fetcher != NULL)
        ac_fetcher_stop(d->fetcher, fetcher_stopped);
}

bool ac_daemon_cloud_stopped(const ac_daemon_t *d)
{
    return d->uploader == NULL && d->fetcher == NULL;
}

int ac_daemon_cloud_locate(void *ud, const char *file_id, const char *path, char *input,
                           size_t isize, char *why, size_t wsize)
{
    ac_daemon_t *d = ud;

    return ac_fetcher_locate(d->fetcher, file_id, path, input, isize, why, wsize);
}

int ac_daemon_cloud_master(void *ud, int64_t rowid, const char *path, const char *url,
                           bool want, char *out, size_t osize, char *why, size_t wsize)
{
    ac_daemon_t *d = ud;

    return ac_fetcher_master(d->fetcher, rowid, path, url, want, out, osize, why, wsize);
}

int ac_daemon_cloud_master_copy(void *ud, const char *path, char *out, size_t size)
{
    ac_daemon_t *d = ud;

    return ac_fetcher_master_copy(d->fetcher, path, out, size);
}

int ac_daemon_cloud_fetch(void *ud, const char *file_id, const char *path, char *out,
                          size_t size)
{
    ac_daemon_t *d = ud;

    return ac_fetcher_want(d->fetcher, file_id, path, out, size);
}
