/*
 * print.c - astrocalctl's human output (see print.h).
 *
 * Tables: columns separated by two spaces, widths measured in UTF-8 characters, numbers
 * right-aligned, the last column never padded. Owns nothing beyond each call, except the
 * names remembered in an ac_print_watch_t.
 */
#include "print.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* ---- small formatters ------------------------------------------------------------------- */

char *ac_print_bar(char *buf, size_t size, double fraction, int width)
{
    int fill, i, o = 0;

    if (!(fraction > 0))
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    fill = (int)floor(fraction * width + 1e-9);
    if (size < (size_t)width + 3) {
        if (size > 0)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '[';
    for (i = 0; i < width; i++)
        buf[o++] = i < fill ? '#' : '-';
    buf[o++] = ']';
    buf[o] = '\0';
    return buf;
}

char *ac_print_progress(char *buf, size_t size, long long done, long long total, int width)
{
    double f = total > 0 ? (double)done / (double)total : 0;
    char bar[256];
    int pct;

    if (f > 1)
        f = 1;
    pct = (int)floor(f * 100 + 1e-9);
    snprintf(buf, size, "%s %3d%% %lld/%lld", ac_print_bar(bar, sizeof bar, f, width), pct,
             done, total);
    return buf;
}

char *ac_print_duration(char *buf, size_t size, double s)
{
    long long t;

    if (!(s >= 0) || isinf(s))
        snprintf(buf, size, "-");
    else if (s < 9.95)
        snprintf(buf, size, "%.1f s", s);
    else if (s < 59.5)
        snprintf(buf, size, "%.0f s", s);
    else if ((t = llround(s)) < 3600)
        snprintf(buf, size, "%lld min %02lld s", t / 60, t % 60);
    else if (t < 86400)
        snprintf(buf, size, "%lld h %02lld min", t / 3600, t % 3600 / 60);
    else
        snprintf(buf, size, "%lld d %02lld h", t / 86400, t % 86400 / 3600);
    return buf;
}

char *ac_print_mib(char *buf, size_t size, double bytes)
{
    double mib = bytes / (1024.0 * 1024.0);

    if (!(bytes >= 0))
        snprintf(buf, size, "-");
    else if (mib < 10240)
        snprintf(buf, size, "%.0f MiB", mib);
    else
        snprintf(buf, size, "%.1f GiB", mib / 1024.0);
    return buf;
}

/* str returns o[k] when it is a string, else NULL. */
static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* dash returns s, or "-" for NULL or "". */
static const char *dash(const char *s)
{
    return s != NULL && *s != '\0' ? s : "-";
}

static long long num_i(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    return json_is_number(v) ? (long long)llround(json_number_value(v)) : 0;
}

/* num_f returns o[k] as a double, NAN when absent or null. */
static double num_f(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* fnum formats o[k] with fmt (a double conversion), or "-". */
static const char *fnum(char *buf, size_t size, json_t *o, const char *k, const char *fmt)
{
    double v = num_f(o, k);

    if (isnan(v))
        return "-";
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(buf, size, fmt, v);
#pragma GCC diagnostic pop
    return buf;
}

/* base returns the part of path after its last '/'. */
static const char *base(const char *path)
{
    const char *s;

    if (path == NULL)
        return "-";
    s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

/* id_text formats a string or integer id. */
static const char *id_text(char *buf, size_t size, json_t *v)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return "-";
}

/* ---- tables ----------------------------------------------------------------------------- */

#define MAX_COLS 16

struct table {
    int ncols;
    const char *head[MAX_COLS];
    bool right[MAX_COLS];
    char **cells;
    size_t rows, cap;
    bool oom;
};

static void table_init(struct table *t, const char *align, const char *const *head)
{
    memset(t, 0, sizeof *t);
    t->ncols = (int)strlen(align);
    if (t->ncols > MAX_COLS)
        abort(); /* a programming error in this file */
    for (int i = 0; i < t->ncols; i++) {
        t->head[i] = head[i];
        t->right[i] = align[i] == 'r';
    }
}

/* table_add appends a row of ncols strings (copied; NULL prints as "-"). */
static void table_add(struct table *t, const char *const *row)
{
    if (ac_grow((void **)&t->cells, &t->cap, t->rows, (size_t)t->ncols * sizeof *t->cells) !=
        0) {
        t->oom = true;
        return;
    }
    for (int i = 0; i < t->ncols; i++) {
        char *c = strdup(dash(row[i]));
        if (c == NULL)
            t->oom = true;
        t->cells[t->rows * (size_t)t->ncols + (size_t)i] = c;
    }
    t->rows++;
}

/* width counts UTF-8 characters (continuation bytes are not counted). */
static size_t width(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void cell(FILE *out, const char *s, size_t w, bool right, bool last)
{
    size_t n = width(s), pad = w > n ? w - n : 0;

    if (right)
        fprintf(out, "%*s", (int)pad, "");
    fputs(s, out);
    if (!right && !last)
        fprintf(out, "%*s", (int)pad, "");
}

static int table_print(struct table *t, FILE *out, const char *indent)
{
    size_t w[MAX_COLS] = {0};
    int rc = t->oom ? -ENOMEM : 0;

    for (int c = 0; c < t->ncols; c++) {
        w[c] = width(t->head[c]);
        for (size_t r = 0; r < t->rows; r++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
            if (s != NULL && width(s) > w[c])
                w[c] = width(s);
        }
    }
    for (size_t r = 0; r <= t->rows && rc == 0; r++) {
        fputs(indent, out);
        for (int c = 0; c < t->ncols; c++) {
            const char *s =
                r == 0 ? t->head[c] : t->cells[(r - 1) * (size_t)t->ncols + (size_t)c];
            if (c > 0)
                fputs("  ", out);
            cell(out, s ? s : "-", w[c], t->right[c], c == t->ncols - 1);
        }
        fputc('\n', out);
    }
    for (size_t i = 0; i < t->rows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    return rc;
}

/* ---- status ----------------------------------------------------------------------------- */

static const char *const file_states[] = {"pending", "running", "done",
                                          "failed",  "skipped", "cancelled"};

/* counts prints "  pending N  running N ..." for the six file states and returns the
 * total. */
static long long file_counts(FILE *out, json_t *files)
{
    long long total = 0;

    for (size_t i = 0; i < 6; i++) {
        long long n = num_i(files, file_states[i]);
        if (out != NULL)
            fprintf(out, "  %s %lld", file_states[i], n);
        total += n;
    }
    return total;
}

int ac_print_status(FILE *out, json_t *r)
{
    json_t *files = json_object_get(r, "files"), *sess = json_object_get(r, "sessions");
    json_t *mem = json_object_get(r, "memory"), *thr = json_object_get(r, "throttle");
    json_t *running = json_object_get(r, "running"), *f;
    static const char *const sess_states[] = {"queued",  "waiting", "paused",   "done",
                                              "partial", "failed",  "cancelled"};
    char b1[128], b2[128];
    const char *busy;
    long long total;
    size_t i;
    bool paused;

    if (!json_is_object(files) || !json_is_object(sess) || !json_is_array(running))
        return -EINVAL;
    paused = str(r, "state") != NULL && strcmp(str(r, "state"), "paused") == 0;
    fputs("astrocald", out);
    if (str(r, "version") != NULL)
        fprintf(out, " %s", str(r, "version"));
    if (json_is_integer(json_object_get(r, "pid")))
        fprintf(out, " (pid %lld)", num_i(r, "pid"));
    fprintf(out, " %s", dash(str(r, "state")));
    if (str(r, "pause_reason") != NULL)
        fprintf(out, " (%s)", str(r, "pause_reason"));
    fprintf(out, ", up %s, %lld workers, %lld in flight\n",
            ac_print_duration(b1, sizeof b1, num_f(r, "uptime_s")), num_i(r, "workers"),
            num_i(r, "in_flight"));
    if ((busy = str(json_object_get(r, "catalogue"), "busy_since")) != NULL)
        fprintf(out, "catalogue busy since %s\n", busy);
    total = file_counts(NULL, files);
    fprintf(out, "files     %s",
            ac_print_progress(b1, sizeof b1, num_i(files, "done"), total, 20));
    file_counts(out, files);
    /* No ETA while paused: nothing gets done until it resumes. */
    fprintf(out, "\nrate      %s frames/s, ETA %s\n",
            fnum(b1, sizeof b1, r, "rate_fps", "%.2f"),
            paused ? "-" : ac_print_duration(b2, sizeof b2, num_f(r, "eta_s")));
    fprintf(out, "sessions ");
    for (i = 0; i < 7; i++)
        fprintf(out, " %s%s %lld", i ? " " : "", sess_states[i], num_i(sess, sess_states[i]));
    if (str(r, "last_session") != NULL)
        fprintf(out, "\nlast      %s", str(r, "last_session"));
    fprintf(out, "\nmemory    %s of %s\n",
            ac_print_mib(b1, sizeof b1, num_f(mem, "used_bytes")),
            ac_print_mib(b2, sizeof b2, num_f(mem, "budget_bytes")));
    fprintf(out, "throttle  load %s per CPU, CPU pressure %s%%",
            fnum(b1, sizeof b1, thr, "load_per_cpu", "%.2f"),
            fnum(b2, sizeof b2, thr, "cpu_pressure", "%.1f"));
    if (json_is_true(json_object_get(thr, "backing_off")))
        fprintf(out, ", backing off: %s", dash(str(thr, "reason")));
    if ((f = json_object_get(r, "last_error")) != NULL && json_is_object(f))
        fprintf(out, "\nlast error %s: %s", dash(str(f, "at")), dash(str(f, "message")));
    fputc('\n', out);
    if (json_is_true(json_object_get(json_object_get(r, "uploads"), "enabled")))
        ac_print_uploads_line(out, json_object_get(r, "uploads"));
    if (json_is_object(json_object_get(r, "downloads")))
        ac_print_downloads_line(out, json_object_get(r, "downloads"));
    fputc('\n', out);
    if (json_array_size(running) == 0) {
        fputs("nothing running\n", out);
        return 0;
    }
    struct table t;
    table_init(&t, "lllrl",
               (const char *const[]){"FILE", "STEP", "PROGRESS", "TIME", "SESSION"});
    json_array_foreach(running, i, f)
    {
        char bar[64], pct[80], dur[64];
        double p = num_f(f, "progress");

        snprintf(pct, sizeof pct, "%s %3d%%", ac_print_bar(bar, sizeof bar, p, 10),
                 isnan(p) ? 0 : (int)floor(fmin(p, 1) * 100 + 1e-9));
        table_add(&t,
                  (const char *const[]){base(str(f, "path")), str(f, "step"), pct,
                                        ac_print_duration(dur, sizeof dur, num_f(f, "seconds")),
                                        str(f, "session_id")});
    }
    return table_print(&t, out, "");
}

/* ---- sessions --------------------------------------------------------------------------- */

static void session_row(struct table *t, json_t *s)
{
    json_t *files = json_object_get(s, "files");
    char prog[128], pri[32], failed[32], eta[64];

    ac_print_progress(prog, sizeof prog, num_i(files, "done"), num_i(s, "total"), 10);
    snprintf(pri, sizeof pri, "%lld", num_i(s, "priority"));
    snprintf(failed, sizeof failed, "%lld", num_i(files, "failed"));
    ac_print_duration(eta, sizeof eta, num_f(s, "eta_s"));
    table_add(t, (const char *const[]){str(s, "id"), str(s, "object"), str(s, "date"),
                                       str(s, "filter"), str(s, "state"), pri, prog, failed,
                                       eta, str(s, "reason")});
}

/* list_of sets *list to the array r[key]: 0 when it has rows, 1 when it is empty (none is
 * printed as a line), -EINVAL when it is not an array. */
static int list_of(FILE *out, json_t *r, const char *key, const char *none, json_t **list)
{
    *list = json_object_get(r, key);
    if (!json_is_array(*list))
        return -EINVAL;
    if (json_array_size(*list) == 0) {
        fprintf(out, "%s\n", none);
        return 1;
    }
    return 0;
}

int ac_print_sessions(FILE *out, json_t *r)
{
    json_t *list, *s;
    struct table t;
    size_t i;
    int rc;

    if ((rc = list_of(out, r, "sessions", "no light sessions", &list)) != 0)
        return rc < 0 ? rc : 0;
    table_init(&t, "lllllrlrrl",
               (const char *const[]){"SESSION", "OBJECT", "DATE", "FILTER", "STATE", "PRI",
                                     "PROGRESS", "FAILED", "ETA", "REASON"});
    json_array_foreach(list, i, s)
    {
        session_row(&t, s);
    }
    return table_print(&t, out, "");
}

int ac_print_session(FILE *out, json_t *r)
{
    json_t *s = json_object_get(r, "session"), *list = json_object_get(r, "files"), *m, *f;
    static const char *const kinds[] = {"bias", "dark", "flat", "flatdark"};
    char prog[128], b[64];
    struct table t;
    size_t i;

    /* The per-file list is beside the session object: inside it, "files" holds the counts
     * (the same shape as in `sessions`). */
    if (!json_is_object(s) || !json_is_array(list))
        return -EINVAL;
    m = json_object_get(s, "masters");
    fprintf(out, "session   %s\n", dash(str(s, "id")));
    fprintf(out, "object    %s, filter %s, date %s\n", dash(str(s, "object")),
            dash(str(s, "filter")), dash(str(s, "date")));
    fprintf(out, "state     %s, priority %lld\n", dash(str(s, "state")), num_i(s, "priority"));
    if (str(s, "reason") != NULL)
        fprintf(out, "reason    %s\n", str(s, "reason"));
    fprintf(out, "progress  %s",
            ac_print_progress(prog, sizeof prog, num_i(json_object_get(s, "files"), "done"),
                              num_i(s, "total"), 20));
    file_counts(out, json_object_get(s, "files"));
    fputc('\n', out);
    for (size_t k = 0; k < 4; k++)
        fprintf(out, "%s%-8s  %s\n", k == 0 ? "masters   " : "          ", kinds[k],
                dash(str(m, kinds[k])));
    fputc('\n', out);
    table_init(&t, "llrrl",
               (const char *const[]){"FILE", "STATE", "TRIES", "TIME", "OUTPUT / ERROR"});
    json_array_foreach(list, i, f)
    {
        char tries[32];
        const char *detail = str(f, "error") ? str(f, "error") : base(str(f, "output_path"));

        snprintf(tries, sizeof tries, "%lld", num_i(f, "attempts"));
        table_add(&t, (const char *const[]){base(str(f, "path")), str(f, "state"), tries,
                                            ac_print_duration(b, sizeof b, num_f(f, "seconds")),
                                            detail});
    }
    return table_print(&t, out, "");
}

/* ---- masters and plans ------------------------------------------------------------------ */

int ac_print_masters(FILE *out, json_t *r)
{
    json_t *list, *m;
    char id[32], exp[32], temp[32], gain[32], off[32];
    bool any_reason = false;
    struct table t;
    size_t i;
    int rc;

    if ((rc = list_of(out, r, "masters", "no masters", &list)) != 0)
        return rc < 0 ? rc : 0;
    json_array_foreach(list, i, m)
    {
        any_reason |= str(m, "reason") != NULL;
    }
    table_init(&t, any_reason ? "rlllrlrrrlllll" : "rlllrlrrrllll",
               (const char *const[]){"ID", "TYPE", "INSTRUMENT", "TELESCOPE", "EXPOSURE",
                                     "FILTER", "TEMP", "GAIN", "OFFSET", "BIN", "DATE", "VALID",
                                     "FILE", "REASON"});
    json_array_foreach(list, i, m)
    {
        table_add(&t,
                  (const char *const[]){
                      id_text(id, sizeof id, json_object_get(m, "id")), str(m, "type"),
                      str(m, "instrument"), str(m, "telescope"),
                      fnum(exp, sizeof exp, m, "exposure", "%g s"), str(m, "filter"),
                      fnum(temp, sizeof temp, m, "ccd_temp", "%.1f"),
                      fnum(gain, sizeof gain, m, "gain", "%g"),
                      fnum(off, sizeof off, m, "offset", "%g"), str(m, "binning"),
                      str(m, "date"), json_is_true(json_object_get(m, "valid")) ? "yes" : "no",
                      base(str(m, "path")), str(m, "reason")});
    }
    return table_print(&t, out, "");
}

/* print_plan_header says which header keywords gave the light's facts, and which frames
 * of the session got their type from their path (issue 9). */
static void print_plan_header(FILE *out, json_t *h, json_t *inferred)
{
    json_t *f;
    size_t i;

    if (json_is_object(h)) {
        fprintf(out, "  light header: exposure %s", str(h, "exposure_key") ? "" : "unknown");
        if (str(h, "exposure_key"))
            fprintf(out, "%g s (%s)", num_f(h, "exposure"), str(h, "exposure_key"));
        if (str(h, "ccd_temp_key"))
            fprintf(out, ", sensor %.1f C (%s)", num_f(h, "ccd_temp"), str(h, "ccd_temp_key"));
        if (str(h, "set_temp_key"))
            fprintf(out, ", set point %.1f C (%s)", num_f(h, "set_temp"),
                    str(h, "set_temp_key"));
        if (!str(h, "ccd_temp_key") && !str(h, "set_temp_key"))
            fputs(", no temperature", out);
        fprintf(out, ", date %s (%s), type from %s", dash(str(h, "date_obs")),
                dash(str(h, "date_key")), str(h, "type_key") ? str(h, "type_key") : "the path");
        if (str(h, "binning_key"))
            fprintf(out, ", binning from %s", str(h, "binning_key"));
        fputc('\n', out);
    }
    if (json_array_size(inferred) > 0)
        fprintf(out, "  frame type inferred from the path for %zu frame%s:\n",
                json_array_size(inferred), json_array_size(inferred) == 1 ? "" : "s");
    json_array_foreach(inferred, i, f)
    {
        if (i == 5) {
            fprintf(out, "    ... and %zu more\n", json_array_size(inferred) - 5);
            break;
        }
        fprintf(out, "    %s: %s (%s)\n", base(str(f, "path")), dash(str(f, "type")),
                dash(str(f, "reason")));
    }
}

static int print_plan(FILE *out, json_t *p)
{
    static const char *const kinds[] = {"bias", "dark", "flat", "flatdark"};
    json_t *chosen = json_object_get(p, "chosen"), *cands = json_object_get(p, "candidates");
    json_t *c;
    const char *text = str(p, "text");
    char id[32];
    struct table t;
    size_t i;
    int rc = 0;

    fprintf(out, "session %s: %s", dash(str(p, "session_id")), dash(str(p, "status")));
    if (str(p, "reason") != NULL)
        fprintf(out, " (%s)", str(p, "reason"));
    fputc('\n', out);
    if (!isnan(num_f(p, "dark_scale")) && fabs(num_f(p, "dark_scale") - 1) > 1e-9)
        fprintf(out, "  dark scaled by %.4g\n", num_f(p, "dark_scale"));
    if (json_is_true(json_object_get(p, "later")))
        fputs("  uses a master made after the light (nothing earlier fits)\n", out);
    print_plan_header(out, json_object_get(p, "header"), json_object_get(p, "inferred"));
    for (size_t k = 0; k < 4; k++) {
        json_t *ch = json_object_get(chosen, kinds[k]);
        if (json_is_object(ch)) {
            char tag[40];
            snprintf(tag, sizeof tag, "#%s", id_text(id, sizeof id, json_object_get(ch, "id")));
            fprintf(out, "  %-8s  %-5s %s%s\n", kinds[k], tag, dash(str(ch, "path")),
                    json_is_true(json_object_get(ch, "pinned")) ? "  (pinned)" : "");
            if (str(ch, "override") != NULL)
                fprintf(out, "            forced over: %s\n", str(ch, "override"));
        } else
            fprintf(out, "  %-8s  -\n", kinds[k]);
    }
    if (json_is_true(json_object_get(p, "done")))
        fputs("  done; recalibrate with astrocalctl recalibrate SESSION\n", out);
    json_array_foreach(json_object_get(p, "better"), i, c)
    {
        fprintf(out, "  a better %s exists: #%lld %s (used: %s)\n", dash(str(c, "type")),
                num_i(c, "id"), dash(str(c, "now")), dash(str(c, "used")));
    }
    if (json_array_size(cands) > 0) {
        fputs("  candidates:\n", out);
        table_init(&t, "lrlll", (const char *const[]){"TYPE", "ID", "USED", "FILE", "REASON"});
        json_array_foreach(cands, i, c)
        {
            table_add(&t, (const char *const[]){
                              str(c, "type"), id_text(id, sizeof id, json_object_get(c, "id")),
                              json_is_true(json_object_get(c, "accepted")) ? "yes" : "no",
                              base(str(c, "path")), str(c, "reason")});
        }
        rc = table_print(&t, out, "    ");
    }
    /* The daemon's own explanation, indented. */
    while (text != NULL && *text != '\0') {
        size_t n = strcspn(text, "\n");
        fprintf(out, "  %.*s\n", (int)n, text);
        text += n + (text[n] == '\n');
    }
    return rc;
}

int ac_print_plan(FILE *out, json_t *r)
{
    json_t *plans, *p;
    size_t i;
    int rc;

    if ((rc = list_of(out, r, "plans", "no sessions to plan", &plans)) != 0)
        return rc < 0 ? rc : 0;
    json_array_foreach(plans, i, p)
    {
        if (i > 0)
            fputc('\n', out);
        if (rc == 0)
            rc = print_plan(out, p);
    }
    return rc;
}

/* ---- the other commands ----------------------------------------------------------------- */

int ac_print_import(FILE *out, json_t *r)
{
    json_t *errs = json_object_get(r, "errors"), *e;
    size_t i;

    if (!json_is_array(errs))
        return -EINVAL;
    fprintf(out, "registered %lld, duplicates %lld, skipped %lld, errors %zu\n",
            num_i(r, "registered"), num_i(r, "duplicates"), num_i(r, "skipped"),
            json_array_size(errs));
    if (num_i(r, "inferred") > 0 || num_i(r, "untyped") > 0)
        fprintf(out,
                "frame type from the path: %lld registered so; %lld skipped (no frame type in "
                "the header nor in the path)\n",
                num_i(r, "inferred"), num_i(r, "untyped"));
    json_array_foreach(errs, i, e)
    {
        fprintf(out, "  %s: %s\n", dash(str(e, "path")), dash(str(e, "message")));
    }
    return 0;
}

int ac_print_config(FILE *out, json_t *r)
{
    json_t *cfg = json_object_get(r, "config"), *sec, *v;
    const char *sname, *key;
    bool first = true;

    if (!json_is_object(cfg))
        return -EINVAL;
    json_object_foreach(cfg, sname, sec)
    {
        fprintf(out, "%s[%s]\n", first ? "" : "\n", sname);
        first = false;
        json_object_foreach(sec, key, v)
        {
            if (json_is_string(v))
                fprintf(out, "%s = %s\n", key, json_string_value(v));
            else
                fprintf(out, "%s = -\n", key);
        }
    }
    return 0;
}

/* join writes the strings of array a separated by ", " (or "-" when empty). */
static const char *join(char *buf, size_t size, json_t *a)
{
    size_t i, o = 0;
    json_t *v;

    buf[0] = '\0';
    json_array_foreach(a, i, v)
    {
        int n = snprintf(buf + o, size - o, "%s%s", i ? ", " : "", dash(json_string_value(v)));
        if (n < 0 || (size_t)n >= size - o)
            break;
        o += (size_t)n;
    }
    return dash(buf);
}

int ac_print_result(FILE *out, const char *cmd, json_t *r)
{
    char b1[1024], b2[1024];
    const char *sess;

    if (!json_is_object(r))
        return -EINVAL;
    if (strcmp(cmd, "status") == 0)
        return ac_print_status(out, r);
    if (strcmp(cmd, "sessions") == 0)
        return ac_print_sessions(out, r);
    if (strcmp(cmd, "session") == 0)
        return ac_print_session(out, r);
    if (strcmp(cmd, "masters") == 0)
        return ac_print_masters(out, r);
    if (strcmp(cmd, "plan") == 0)
        return ac_print_plan(out, r);
    if (strcmp(cmd, "import") == 0)
        return ac_print_import(out, r);
    if (strcmp(cmd, "config") == 0)
        return ac_print_config(out, r);
    if (strcmp(cmd, "uploads") == 0 ||
        ((strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) &&
         json_object_get(r, "queued") != NULL))
        return strcmp(cmd, "uploads") == 0 ? ac_print_uploads(out, r)
                                           : ac_print_uploads_line(out, r);
    if (strcmp(cmd, "version") == 0) {
        fprintf(out, "astrocald %s (protocol %lld)\n", dash(str(r, "version")),
                num_i(r, "protocol"));
    } else if (strcmp(cmd, "enqueue") == 0) {
        fprintf(out, "session %s: %s, priority %lld\n", dash(str(r, "session")),
                dash(str(r, "state")), num_i(r, "priority"));
    } else if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
        sess = str(r, "session");
        if (sess != NULL)
            fprintf(out, "session %s: %s\n", sess, dash(str(r, "state")));
        else
            fprintf(out, "queue %s\n", dash(str(r, "state")));
    } else if (strcmp(cmd, "cancel") == 0) {
        if (str(r, "file") != NULL)
            fprintf(out, "file %s: cancelled\n", str(r, "file"));
        else if (str(r, "session") != NULL)
            fprintf(out, "session %s: cancelled %lld files\n", str(r, "session"),
                    num_i(r, "cancelled_files"));
        else
            fprintf(out, "every unfinished session cancelled: %lld files\n",
                    num_i(r, "cancelled_files"));
    } else if (strcmp(cmd, "history") == 0) {
        return ac_print_history(out, r);
    } else if (strcmp(cmd, "use") == 0 || strcmp(cmd, "recalibrate") == 0) {
        json_t *pins = json_object_get(r, "pinned"), *p;
        size_t i;
        if (strcmp(cmd, "recalibrate") == 0)
            fprintf(out, "session %s: recalibrating %lld files%s\n", dash(str(r, "session")),
                    num_i(r, "files"),
                    json_is_true(json_object_get(r, "ready")) ? "" : " (waiting for masters)");
        else if (json_array_size(pins) == 0)
            fprintf(out,
                    "session %s: %lld pinned masters removed; masters are chosen "
                    "automatically\n",
                    dash(str(r, "session")), num_i(r, "removed"));
        json_array_foreach(pins, i, p)
        {
            fprintf(out, "session %s: %s pinned to #%lld %s", dash(str(r, "session")),
                    dash(str(p, "type")), num_i(p, "id"), dash(str(p, "path")));
            if (json_is_true(json_object_get(p, "forced")))
                fprintf(out, " (forced over: %s)", dash(str(p, "override")));
            fprintf(out, "\n");
        }
    } else if (strcmp(cmd, "retry") == 0) {
        fprintf(out, "%lld %s queued for retry\n", num_i(r, "retried"),
                json_is_true(json_object_get(r, "uploads")) ? "uploads" : "files");
    } else if (strcmp(cmd, "reload") == 0) {
        fprintf(out, "configuration reloaded; changed: %s; needs a restart: %s\n",
                join(b1, sizeof b1, json_object_get(r, "changed")),
                join(b2, sizeof b2, json_object_get(r, "ignored")));
    } else {
        char *s = json_dumps(r, JSON_COMPACT);
        if (s == NULL)
            return -ENOMEM;
        fprintf(out, "%s\n", s);
        free(s);
    }
    return 0;
}

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
    return dash(id);
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
    const char *fid = str(d, "file_id");

    fprintf(out, "%s  ", local_time(tb, sizeof tb, at));
    if (strcmp(event, "file_started") == 0) {
        remember(w, fid, base(str(d, "path")));
        fprintf(out, "started   %s  session %s\n", base(str(d, "path")),
                dash(str(d, "session_id")));
    } else if (strcmp(event, "file_progress") == 0) {
        double p = num_f(d, "progress");
        fprintf(out, "progress  %s  %s %d%%\n", lookup(w, fid), dash(str(d, "step")),
                isnan(p) ? 0 : (int)floor(fmin(p, 1) * 100 + 1e-9));
    } else if (strcmp(event, "file_done") == 0) {
        fprintf(out, "done      %s -> %s  %s\n", base(str(d, "path")),
                base(str(d, "output_path")),
                ac_print_duration(b, sizeof b, num_f(d, "seconds")));
    } else if (strcmp(event, "file_failed") == 0) {
        fprintf(out, "failed    %s: %s (attempt %lld%s)\n", base(str(d, "path")),
                dash(str(d, "error")), num_i(d, "attempts"),
                json_is_true(json_object_get(d, "will_retry")) ? ", will retry" : "");
    } else if (strcmp(event, "session_state") == 0) {
        fprintf(out, "session   %s %s%s%s\n", dash(str(d, "session_id")), dash(str(d, "state")),
                str(d, "reason") ? ": " : "", str(d, "reason") ? str(d, "reason") : "");
    } else if (strcmp(event, "session_done") == 0) {
        fprintf(out, "finished  %s %s: %lld calibrated, %lld failed%s%s\n",
                dash(str(d, "session_id")), dash(str(d, "state")), num_i(d, "calibrated"),
                num_i(d, "failed"), str(d, "reason") ? "; " : "",
                str(d, "reason") ? str(d, "reason") : "");
    } else if (strcmp(event, "master_new") == 0) {
        fprintf(out, "master    new %s #%s %s\n", dash(str(d, "type")),
                id_text(id, sizeof id, json_object_get(d, "id")), dash(str(d, "path")));
    } else if (strcmp(event, "queue_state") == 0) {
        fprintf(out, "queue     %s%s%s\n", dash(str(d, "state")), str(d, "reason") ? ": " : "",
                str(d, "reason") ? str(d, "reason") : "");
    } else {
        char *s = json_dumps(d, JSON_COMPACT);
        fprintf(out, "%-8s  %s\n", event, s ? s : "{}");
        free(s);
    }
    return 0;
}
