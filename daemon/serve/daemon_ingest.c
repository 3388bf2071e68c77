/*
 * daemon_ingest.c - the daemon's side of live ingest and `import` (see daemon.h): starting
 * ingest on [INGEST] watch_dirs, and planning what it or an import registered.
 *
 * Thread: the loop thread.
 */
#include <string.h>

#include "buildplan.h"
#include "daemon.h"
#include "ingest.h"
#include "log.h"
#include "util.h"

void ac_daemon_ingest_stopped(void *ud)
{
    ac_daemon_t *d = ud;

    d->ingest = NULL; /* freed by ingest.c after this callback */
}

static void ingest_registered(void *ud, int n_new)
{
    ac_log_info("ingest: %d new file%s registered", n_new, n_new == 1 ? "" : "s");
    ac_daemon_frames_registered(ud);
}

void ac_daemon_imported(ac_daemon_t *d)
{
    int linked = 0;
    ac_err_t e = {0};

    /* Link the light sessions to their calibration sessions, as AstroFiler does (when the
     * catalogue is busy: once it is available again, ac_daemon_catch_up). */
    d->relink = false;
    if (ac_catalog_link_sessions(d->db, NULL, &linked, &e) != 0) {
        d->relink = e.code == AC_EBUSY;
        if (!ac_db_unavailable(e.code))
            ac_log_warn("linking sessions after the import: %s", e.msg);
    }
    ac_daemon_frames_registered(d);
}

/* ac_daemon_start_ingest watches [INGEST] watch_dirs (comma-separated absolute folders). */
int ac_daemon_start_ingest(ac_daemon_t *d, ac_err_t *e)
{
    char buf[4096], *save = NULL, *dirs[64];
    const char *exclude[2];
    ac_ingest_opts_t o;
    ac_build_opts_t bo;
    size_t n = 0, nx = 0;

    ac_strlcpy(buf, d->cfg.watch_dirs, sizeof buf);
    for (char *t = strtok_r(buf, ",", &save); t != NULL && n < 64;
         t = strtok_r(NULL, ",", &save)) {
        char *dir = ac_str_trim(t);
        if (dir[0] == '\0')
            continue;
        if (dir[0] != '/')
            return ac_err_set(e, AC_ECONFIG,
                              "[INGEST] watch_dirs: '%s' is not an absolute path", dir);
        dirs[n++] = dir;
    }
    if (n == 0)
        return 0;
    ac_ingest_opts_default(&o);
    o.dirs = (const char *const *)dirs;
    o.n_dirs = n;
    /* Never ingest our own outputs or masters. */
    ac_sched_build_opts(&d->cfg, &bo);
    if (d->cfg.output_dir[0] != '\0')
        exclude[nx++] = d->cfg.output_dir;
    exclude[nx++] = bo.masters_dir;
    o.exclude = exclude;
    o.n_exclude = nx;
    o.settle_s = d->cfg.settle_s;
    o.rescan_interval_s = d->cfg.rescan_interval_s;
    o.utc_offset_h = d->cfg.site_utc_offset_h;
    o.type_from_path = d->cfg.type_from_path;
    d->ingest = ac_ingest_new(d->loop, d->db, &o, ingest_registered, d, e);
    if (d->ingest == NULL)
        return e->code ? e->code : -ENOMEM;
    return ac_ingest_start(d->ingest, e);
}
