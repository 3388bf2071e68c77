/*
 * print_event.c - astrocalctl's `watch` output: one line per event (see print.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "print.h"
#include "print_int.h"

/* ---- events ----------------------------------------------------------------------------- */

void ac_print_watch_free(ac_print_watch_t *w)
{
    for (unsigned i = 0; i < AC_PRINT_WATCH_NAMES; i++) {
        free(w->id[i]);
        free(w->name[i]);
    }
    memset(w, 0, sizeof *w);
}

static void remember(ac_print_watch_t *w, const char *id, const char *name)
{
    unsigned k = w->next++ % AC_PRINT_WATCH_NAMES;

    if (id == NULL || name == NULL)
        return;
    free(w->id[k]);
    free(w->name[k]);
    w->id[k] = strdup(id);
    w->name[k] = strdup(name);
}

static const char *lookup(ac_print_watch_t *w, const char *id)
{
    for (unsigned i = 0; id != NULL && i < AC_PRINT_WATCH_NAMES; i++)
        if (w->id[i] != NULL && w->name[i] != NULL && strcmp(w->id[i], id) == 0)
            return w->name[i];
    return ac_print_dash(id);
}

/* local_time turns "YYYY-MM-DDTHH:MM:SSZ" into local "HH:MM:SS"; anything else is copied. */
static const char *local_time(char *buf, size_t size, const char *at)
{
    struct tm tm = {0};
    const char *end;
    time_t t;

    if (at == NULL)
        return "--:--:--";
    end = strptime(at, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL) {
        snprintf(buf, size, "%s", at);
        return buf;
    }
    t = timegm(&tm);
    localtime_r(&t, &tm);
    strftime(buf, size, "%H:%M:%S", &tm);
    return buf;
}

int ac_print_event(FILE *out, ac_print_watch_t *w, const char *event, const char *at, json_t *d)
{
    char tb[64], b[64], id[32];
    const char *fid = ac_print_str(d, "file_id");

    fprintf(out, "%s  ", local_time(tb, sizeof tb, at));
    if (strcmp(event, "file_started") == 0) {
        remember(w, fid, ac_print_base(ac_print_str(d, "path")));
        fprintf(out, "started   %s  session %s\n", ac_print_base(ac_print_str(d, "path")),
                ac_print_dash(ac_print_str(d, "session_id")));
    } else if (strcmp(event, "file_progress") == 0) {
        double p = ac_print_num_f(d, "progress");
        fprintf(out, "progress  %s  %s %d%%\n", lookup(w, fid),
                ac_print_dash(ac_print_str(d, "step")),
                isnan(p) ? 0 : (int)floor(fmin(p, 1) * 100 + 1e-9));
    } else if (strcmp(event, "file_done") == 0) {
        fprintf(out, "done      %s -> %s  %s\n", ac_print_base(ac_print_str(d, "path")),
                ac_print_base(ac_print_str(d, "output_path")),
                ac_print_duration(b, sizeof b, ac_print_num_f(d, "seconds")));
    } else if (strcmp(event, "file_failed") == 0) {
        fprintf(out, "failed    %s: %s (attempt %lld%s)\n",
                ac_print_base(ac_print_str(d, "path")), ac_print_dash(ac_print_str(d, "error")),
                ac_print_num_i(d, "attempts"),
                json_is_true(json_object_get(d, "will_retry")) ? ", will retry" : "");
    } else if (strcmp(event, "session_state") == 0) {
        fprintf(out, "session   %s %s%s%s\n", ac_print_dash(ac_print_str(d, "session_id")),
                ac_print_dash(ac_print_str(d, "state")), ac_print_str(d, "reason") ? ": " : "",
                ac_print_str(d, "reason") ? ac_print_str(d, "reason") : "");
    } else if (strcmp(event, "session_done") == 0) {
        fprintf(out, "finished  %s %s: %lld calibrated, %lld failed%s%s\n",
                ac_print_dash(ac_print_str(d, "session_id")),
                ac_print_dash(ac_print_str(d, "state")), ac_print_num_i(d, "calibrated"),
                ac_print_num_i(d, "failed"), ac_print_str(d, "reason") ? "; " : "",
                ac_print_str(d, "reason") ? ac_print_str(d, "reason") : "");
    } else if (strcmp(event, "master_new") == 0) {
        fprintf(out, "master    new %s #%s %s\n", ac_print_dash(ac_print_str(d, "type")),
                ac_print_id_text(id, sizeof id, json_object_get(d, "id")),
                ac_print_dash(ac_print_str(d, "path")));
    } else if (strcmp(event, "queue_state") == 0) {
        fprintf(out, "queue     %s%s%s\n", ac_print_dash(ac_print_str(d, "state")),
                ac_print_str(d, "reason") ? ": " : "",
                ac_print_str(d, "reason") ? ac_print_str(d, "reason") : "");
    } else if (!ac_print_grade_event(out, event, d)) {
        char *s = json_dumps(d, JSON_COMPACT);
        fprintf(out, "%-8s  %s\n", event, s ? s : "{}");
        free(s);
    }
    return 0;
}
