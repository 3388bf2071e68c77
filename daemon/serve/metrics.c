/*
 * metrics.c - the Prometheus textfile (see metrics.h).
 */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "ingest.h"
#include "log.h"
#include "util.h"
#include "version.h"

/* family writes the HELP and TYPE lines of a metric. */
static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* num writes a sample value: integers exactly, others with 17 significant digits. */
static void sample(FILE *f, const char *name, const char *labels, double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        fprintf(f, "%s%s %.0f\n", name, labels, v);
    else
        fprintf(f, "%s%s %.17g\n", name, labels, v);
}

static void states(FILE *f, const char *name, const int *counts, int n,
                   const char *(*state_name)(int))
{
    char labels[64];

    for (int i = 0; i < n; i++) {
        snprintf(labels, sizeof labels, "{state=\"%s\"}", state_name(i));
        sample(f, name, labels, counts[i]);
    }
}

static const char *file_state(int i)
{
    return ac_queue_file_state_name((ac_file_state_t)i);
}

static const char *sess_state(int i)
{
    return ac_queue_sess_state_name((ac_sess_state_t)i);
}

char *ac_metrics_format(const ac_metrics_snap_t *s, size_t *len)
{
    const ac_sched_stats_t *st = &s->st;
    char *buf = NULL, labels[64];
    size_t n = 0;
    uint64_t cum = 0;
    FILE *f = open_memstream(&buf, &n);

    if (f == NULL)
        return NULL;
    family(f, "astrocald_up", "gauge", "1 while astrocald runs, 0 after a clean stop.");
    sample(f, "astrocald_up", "", s->up);
    family(f, "astrocald_build_info", "gauge", "Always 1; the version is in the label.");
    fprintf(f, "astrocald_build_info{version=\"%s\"} 1\n", s->version);
    family(f, "astrocald_start_time_seconds", "gauge", "Unix time astrocald started.");
    sample(f, "astrocald_start_time_seconds", "", s->start_time_s);
    family(f, "astrocald_files_processed_total", "counter",
           "Light frames finished since start, by result (retried: a failed attempt that "
           "will be tried again).");
    sample(f, "astrocald_files_processed_total", "{result=\"done\"}", (double)st->files_done);
    sample(f, "astrocald_files_processed_total", "{result=\"failed\"}",
           (double)st->files_failed);
    sample(f, "astrocald_files_processed_total", "{result=\"retried\"}",
           (double)st->files_retried);
    sample(f, "astrocald_files_processed_total", "{result=\"cancelled\"}",
           (double)st->files_cancelled);
    if (s->have_counts) {
        family(f, "astrocald_files", "gauge", "Light frames in the queue by state.");
        states(f, "astrocald_files", s->files, AC_FILE_NSTATES, file_state);
        family(f, "astrocald_sessions", "gauge", "Light sessions by state.");
        states(f, "astrocald_sessions", s->sessions, AC_SESS_NSTATES, sess_state);
        family(f, "astrocald_queue_depth", "gauge", "Light frames waiting to be calibrated.");
        sample(f, "astrocald_queue_depth", "", s->files[AC_FILE_PENDING]);
    }
    family(f, "astrocald_files_in_flight", "gauge", "Light frames being calibrated now.");
    sample(f, "astrocald_files_in_flight", "", s->in_flight);
    family(f, "astrocald_frames_per_second", "gauge",
           "Light frames calibrated per second over the last minute.");
    sample(f, "astrocald_frames_per_second", "", s->rate_fps);
    family(f, "astrocald_read_bytes_total", "counter",
           "Image data bytes read from the light frames calibrated.");
    sample(f, "astrocald_read_bytes_total", "", (double)st->bytes_read);
    family(f, "astrocald_written_bytes_total", "counter",
           "Bytes of calibrated output files written.");
    sample(f, "astrocald_written_bytes_total", "", (double)st->bytes_written);
    family(f, "astrocald_file_duration_seconds", "histogram",
           "Seconds to calibrate one light frame (read, calibrate, write).");
    for (int b = 0; b <= AC_SCHED_NBUCKETS; b++) {
        cum += st->seconds_bucket[b];
        if (b < AC_SCHED_NBUCKETS)
            snprintf(labels, sizeof labels, "{le=\"%g\"}", ac_sched_seconds_le[b]);
        else
            snprintf(labels, sizeof labels, "{le=\"+Inf\"}");
        sample(f, "astrocald_file_duration_seconds_bucket", labels, (double)cum);
    }
    sample(f, "astrocald_file_duration_seconds_sum", "", st->seconds_sum);
    sample(f, "astrocald_file_duration_seconds_count", "", (double)st->seconds_count);
    family(f, "astrocald_masters_built_total", "counter",
           "Master frames built and registered, or rejected by the quality checks.");
    sample(f, "astrocald_masters_built_total", "{result=\"registered\"}",
           (double)st->masters_built);
    sample(f, "astrocald_masters_built_total", "{result=\"rejected\"}",
           (double)st->masters_rejected);
    if (s->ingest) {
        family(f, "astrocald_ingest_registered_total", "counter",
               "Files live ingest registered in the catalogue.");
        sample(f, "astrocald_ingest_registered_total", "", s->ingest_registered);
        family(f, "astrocald_ingest_duplicates_total", "counter",
               "Files live ingest skipped as duplicates of catalogued ones.");
        sample(f, "astrocald_ingest_duplicates_total", "", s->ingest_duplicates);
    }
    family(f, "astrocald_throttle_backoff_seconds_total", "counter",
           "Seconds spent backing off (one frame at a time) because the machine was busy.");
    sample(f, "astrocald_throttle_backoff_seconds_total", "", s->backoff_s);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* write_file replaces path with text through a temporary file in the same folder, 0644 so
 * node_exporter (another user) can read it whatever the umask. 0 or -errno. */
static int write_file(const char *path, const char *text, size_t len)
{
    char tmp[4200];
    int fd, rc = 0;
    size_t off = 0;

    snprintf(tmp, sizeof tmp, "%s.actmp-%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    while (off < len && rc == 0) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno != EINTR)
            rc = -errno;
        else if (w > 0)
            off += (size_t)w;
    }
    if (rc == 0 && fchmod(fd, 0644) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

static void gather(ac_metrics_t *m, ac_metrics_snap_t *s, int up)
{
    ac_daemon_t *d = m->d;
    ac_sched_status_t st;
    ac_err_t e = {0};
    struct timespec now;

    memset(s, 0, sizeof *s);
    s->up = up;
    s->version = AC_VERSION;
    clock_gettime(CLOCK_REALTIME, &now);
    s->start_time_s =
        floor((double)now.tv_sec - (double)(ac_now_ns() - d->started_ns) / 1e9 + 0.5);
    s->st = d->sched.stats;
    s->backoff_s = s->st.backoff_s;
    if (s->st.backoff_since_ns != 0)
        s->backoff_s += (double)(ac_now_ns() - s->st.backoff_since_ns) / 1e9;
    if (ac_sched_status(&d->sched, &st, &e) == 0) {
        d->last_status = st;
        d->have_last_status = true;
    }
    if (d->have_last_status) {
        s->have_counts = true;
        memcpy(s->files, d->last_status.files, sizeof s->files);
        memcpy(s->sessions, d->last_status.sessions, sizeof s->sessions);
    }
    s->rate_fps = ac_sched_rate(&d->sched);
    s->in_flight = ac_sched_jobs(&d->sched);
    if (d->ingest != NULL) {
        json_t *j = ac_ingest_status_json(d->ingest);
        s->ingest = true;
        s->ingest_registered = json_number_value(json_object_get(j, "registered"));
        s->ingest_duplicates = json_number_value(json_object_get(j, "duplicates"));
        json_decref(j);
    }
}

/* write_final writes the file once more with astrocald_up 0, synchronously (at stop). */
static void write_final(ac_metrics_t *m)
{
    ac_metrics_snap_t s;
    char *text;
    size_t len;

    gather(m, &s, 0);
    if ((text = ac_metrics_format(&s, &len)) == NULL)
        return;
    ac_strlcpy(m->path, m->d->cfg.textfile, sizeof m->path);
    if (write_file(m->path, text, len) != 0)
        ac_log_warn("metrics: cannot write %s at stop", m->path);
    free(text);
}

static void write_work(uv_work_t *req)
{
    ac_metrics_t *m = req->data;

    m->rc = write_file(m->path, m->text, m->len);
}

static void write_done(uv_work_t *req, int status)
{
    ac_metrics_t *m = req->data;

    (void)status;
    if (m->rc != 0 && m->rc != m->last_logged_rc) /* once per kind of failure */
        ac_log_warn("metrics: cannot write %s: %s", m->path, strerror(-m->rc));
    else if (m->rc == 0 && m->last_logged_rc != 0)
        ac_log_notice("metrics: writing %s again", m->path);
    m->last_logged_rc = m->rc;
    free(m->text);
    m->text = NULL;
    m->writing = false;
    if (m->closing) /* stopped while this was on the pool: the last word is up 0 */
        write_final(m);
}

static void on_tick(uv_timer_t *t)
{
    ac_metrics_t *m = t->data;
    ac_metrics_snap_t s;

    uv_timer_start(&m->timer, on_tick, (uint64_t)m->d->cfg.interval_s * 1000, 0);
    if (m->writing || m->d->cfg.textfile[0] == '\0')
        return;
    gather(m, &s, 1);
    m->text = ac_metrics_format(&s, &m->len);
    if (m->text == NULL)
        return;
    ac_strlcpy(m->path, m->d->cfg.textfile, sizeof m->path);
    m->work.data = m;
    m->writing = true;
    /* uv_queue_work cannot fail for a valid callback (libuv 1.44). */
    uv_queue_work(m->d->loop, &m->work, write_work, write_done);
}

int ac_metrics_start(ac_metrics_t *m, struct ac_daemon *d)
{
    int rc;

    memset(m, 0, sizeof *m);
    m->d = d;
    if ((rc = uv_timer_init(d->loop, &m->timer)) != 0)
        return rc;
    m->timer.data = m;
    /* The first write soon after start, then every interval_s. */
    return uv_timer_start(&m->timer, on_tick, 1000, 0);
}

void ac_metrics_stop(ac_metrics_t *m)
{
    if (m->d == NULL || m->closing)
        return;
    m->closing = true;
    uv_timer_stop(&m->timer);
    uv_close((uv_handle_t *)&m->timer, NULL);
    /* A write on the pool ends before the loop does: write_done then writes the last. */
    if (!m->writing && m->d->cfg.textfile[0] != '\0')
        write_final(m);
}
