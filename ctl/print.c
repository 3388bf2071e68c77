/*
 * print.c - astrocalctl's human output (see print.h).
 *
 * Tables: columns separated by two spaces, widths measured in UTF-8 characters, numbers
 * right-aligned, the last column never padded. Owns nothing beyond each call, except the
 * names remembered in an ac_print_watch_t.
 */
#include "print.h"
#include "print_int.h"

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
const char *ac_print_str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* dash returns s, or "-" for NULL or "". */
const char *ac_print_dash(const char *s)
{
    return s != NULL && *s != '\0' ? s : "-";
}

long long ac_print_num_i(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    return json_is_number(v) ? (long long)llround(json_number_value(v)) : 0;
}

/* num_f returns o[k] as a double, NAN when absent or null. */
double ac_print_num_f(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);

    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* fnum formats o[k] with fmt (a double conversion), or "-". */
const char *ac_print_fnum(char *buf, size_t size, json_t *o, const char *k, const char *fmt)
{
    double v = ac_print_num_f(o, k);

    if (isnan(v))
        return "-";
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(buf, size, fmt, v);
#pragma GCC diagnostic pop
    return buf;
}

/* base returns the part of path after its last '/'. */
const char *ac_print_base(const char *path)
{
    const char *s;

    if (path == NULL)
        return "-";
    s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

/* id_text formats a string or integer id. */
const char *ac_print_id_text(char *buf, size_t size, json_t *v)
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

void ac_print_table_init(ac_print_table_t *t, const char *align, const char *const *head)
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
void ac_print_table_add(ac_print_table_t *t, const char *const *row)
{
    if (ac_grow((void **)&t->cells, &t->cap, t->rows, (size_t)t->ncols * sizeof *t->cells) !=
        0) {
        t->oom = true;
        return;
    }
    for (int i = 0; i < t->ncols; i++) {
        char *c = strdup(ac_print_dash(row[i]));
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

int ac_print_table_print(ac_print_table_t *t, FILE *out, const char *indent)
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
        long long n = ac_print_num_i(files, file_states[i]);
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
    paused =
        ac_print_str(r, "state") != NULL && strcmp(ac_print_str(r, "state"), "paused") == 0;
    fputs("astrocald", out);
    if (ac_print_str(r, "version") != NULL)
        fprintf(out, " %s", ac_print_str(r, "version"));
    if (json_is_integer(json_object_get(r, "pid")))
        fprintf(out, " (pid %lld)", ac_print_num_i(r, "pid"));
    fprintf(out, " %s", ac_print_dash(ac_print_str(r, "state")));
    if (ac_print_str(r, "pause_reason") != NULL)
        fprintf(out, " (%s)", ac_print_str(r, "pause_reason"));
    fprintf(out, ", up %s, %lld workers, %lld in flight\n",
            ac_print_duration(b1, sizeof b1, ac_print_num_f(r, "uptime_s")),
            ac_print_num_i(r, "workers"), ac_print_num_i(r, "in_flight"));
    if ((busy = ac_print_str(json_object_get(r, "catalogue"), "busy_since")) != NULL)
        fprintf(out, "catalogue busy since %s\n", busy);
    total = file_counts(NULL, files);
    fprintf(out, "files     %s",
            ac_print_progress(b1, sizeof b1, ac_print_num_i(files, "done"), total, 20));
    file_counts(out, files);
    /* No ETA while paused: nothing gets done until it resumes. */
    fprintf(out, "\nrate      %s frames/s, ETA %s\n",
            ac_print_fnum(b1, sizeof b1, r, "rate_fps", "%.2f"),
            paused ? "-" : ac_print_duration(b2, sizeof b2, ac_print_num_f(r, "eta_s")));
    fprintf(out, "sessions ");
    for (i = 0; i < 7; i++)
        fprintf(out, " %s%s %lld", i ? " " : "", sess_states[i],
                ac_print_num_i(sess, sess_states[i]));
    if (ac_print_str(r, "last_session") != NULL)
        fprintf(out, "\nlast      %s", ac_print_str(r, "last_session"));
    fprintf(out, "\nmemory    %s of %s\n",
            ac_print_mib(b1, sizeof b1, ac_print_num_f(mem, "used_bytes")),
            ac_print_mib(b2, sizeof b2, ac_print_num_f(mem, "budget_bytes")));
    fprintf(out, "throttle  load %s per CPU, CPU pressure %s%%",
            ac_print_fnum(b1, sizeof b1, thr, "load_per_cpu", "%.2f"),
            ac_print_fnum(b2, sizeof b2, thr, "cpu_pressure", "%.1f"));
    if (json_is_true(json_object_get(thr, "backing_off")))
        fprintf(out, ", backing off: %s", ac_print_dash(ac_print_str(thr, "reason")));
    if ((f = json_object_get(r, "last_error")) != NULL && json_is_object(f))
        fprintf(out, "\nlast error %s: %s", ac_print_dash(ac_print_str(f, "at")),
                ac_print_dash(ac_print_str(f, "message")));
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
    ac_print_table_t t;
    ac_print_table_init(&t, "lllrl",
                        (const char *const[]){"FILE", "STEP", "PROGRESS", "TIME", "SESSION"});
    json_array_foreach(running, i, f)
    {
        char bar[64], pct[80], dur[64];
        double p = ac_print_num_f(f, "progress");

        snprintf(pct, sizeof pct, "%s %3d%%", ac_print_bar(bar, sizeof bar, p, 10),
                 isnan(p) ? 0 : (int)floor(fmin(p, 1) * 100 + 1e-9));
        ac_print_table_add(
            &t, (const char *const[]){
                    ac_print_base(ac_print_str(f, "path")), ac_print_str(f, "step"), pct,
                    ac_print_duration(dur, sizeof dur, ac_print_num_f(f, "seconds")),
                    ac_print_str(f, "session_id")});
    }
    return ac_print_table_print(&t, out, "");
}

/* ---- sessions --------------------------------------------------------------------------- */

/* graded says whether the session object s has lights measured or failed by grading. */
static bool graded(json_t *s)
{
    json_t *g = json_object_get(s, "grading");

    return ac_print_num_i(g, "measured") + ac_print_num_i(g, "failed") > 0;
}

/* session_row adds s; with_grade adds the grading columns (FWHM, STARS, REJECTED). */
static void session_row(ac_print_table_t *t, json_t *s, bool with_grade)
{
    json_t *files = json_object_get(s, "files"), *g = json_object_get(s, "grading");
    json_t *med = json_object_get(g, "median");
    char prog[128], pri[32], failed[32], fw[32], st[32], rej[32], eta[64];
    const char *fws, *sts;

    ac_print_progress(prog, sizeof prog, ac_print_num_i(files, "done"),
                      ac_print_num_i(s, "total"), 10);
    snprintf(pri, sizeof pri, "%lld", ac_print_num_i(s, "priority"));
    snprintf(failed, sizeof failed, "%lld", ac_print_num_i(files, "failed"));
    fws = ac_print_fnum(fw, sizeof fw, med, "fwhm", "%.2f");
    sts = ac_print_fnum(st, sizeof st, med, "stars", "%.0f");
    snprintf(rej, sizeof rej, "%lld", ac_print_num_i(g, "rejected"));
    ac_print_duration(eta, sizeof eta, ac_print_num_f(s, "eta_s"));
    if (with_grade)
        ac_print_table_add(
            t, (const char *const[]){ac_print_str(s, "id"), ac_print_str(s, "object"),
                                     ac_print_str(s, "date"), ac_print_str(s, "filter"),
                                     ac_print_str(s, "state"), pri, prog, failed, eta, fws, sts,
                                     graded(s) ? rej : NULL, ac_print_str(s, "reason")});
    else
        ac_print_table_add(
            t, (const char *const[]){ac_print_str(s, "id"), ac_print_str(s, "object"),
                                     ac_print_str(s, "date"), ac_print_str(s, "filter"),
                                     ac_print_str(s, "state"), pri, prog, failed, eta,
                                     ac_print_str(s, "reason")});
}

/* list_of sets *list to the array r[key]: 0 when it has rows, 1 when it is empty (none is
 * printed as a line), -EINVAL when it is not an array. */
int ac_print_list_of(FILE *out, json_t *r, const char *key, const char *none, json_t **list)
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
    ac_print_table_t t;
    size_t i;
    int rc;

    if ((rc = ac_print_list_of(out, r, "sessions", "no light sessions", &list)) != 0)
        return rc < 0 ? rc : 0;
    bool any = false;
    json_array_foreach(list, i, s)
    {
        any = any || graded(s);
    }
    /* The grading columns once any session has graded lights (docs/grading.md). */
    if (any)
        ac_print_table_init(&t, "lllllrlrrrrrl",
                            (const char *const[]){"SESSION", "OBJECT", "DATE", "FILTER",
                                                  "STATE", "PRI", "PROGRESS", "FAILED", "ETA",
                                                  "FWHM", "STARS", "REJECTED", "REASON"});
    else
        ac_print_table_init(&t, "lllllrlrrl",
                            (const char *const[]){"SESSION", "OBJECT", "DATE", "FILTER",
                                                  "STATE", "PRI", "PROGRESS", "FAILED", "ETA",
                                                  "REASON"});
    json_array_foreach(list, i, s)
    {
        session_row(&t, s, any);
    }
    return ac_print_table_print(&t, out, "");
}

int ac_print_session(FILE *out, json_t *r)
{
    json_t *s = json_object_get(r, "session"), *list = json_object_get(r, "files"), *m, *f;
    static const char *const kinds[] = {"bias", "dark", "flat", "flatdark"};
    char prog[128], b[64];
    ac_print_table_t t;
    size_t i;

    /* The per-file list is beside the session object: inside it, "files" holds the counts
     * (the same shape as in `sessions`). */
    if (!json_is_object(s) || !json_is_array(list))
        return -EINVAL;
    m = json_object_get(s, "masters");
    fprintf(out, "session   %s\n", ac_print_dash(ac_print_str(s, "id")));
    fprintf(out, "object    %s, filter %s, date %s\n", ac_print_dash(ac_print_str(s, "object")),
            ac_print_dash(ac_print_str(s, "filter")), ac_print_dash(ac_print_str(s, "date")));
    fprintf(out, "state     %s, priority %lld\n", ac_print_dash(ac_print_str(s, "state")),
            ac_print_num_i(s, "priority"));
    if (ac_print_str(s, "reason") != NULL)
        fprintf(out, "reason    %s\n", ac_print_str(s, "reason"));
    fprintf(out, "progress  %s",
            ac_print_progress(prog, sizeof prog,
                              ac_print_num_i(json_object_get(s, "files"), "done"),
                              ac_print_num_i(s, "total"), 20));
    file_counts(out, json_object_get(s, "files"));
    fputc('\n', out);
    for (size_t k = 0; k < 4; k++)
        fprintf(out, "%s%-8s  %s\n", k == 0 ? "masters   " : "          ", kinds[k],
                ac_print_dash(ac_print_str(m, kinds[k])));
    fputc('\n', out);
    bool any = false;
    json_array_foreach(list, i, f)
    {
        any = any || json_is_object(json_object_get(f, "grade"));
    }
    /* Grading columns once a file is graded (docs/grading.md); the verdict's reasons
     * replace the output's name. */
    if (any)
        ac_print_table_init(&t, "llrrrrrrrrll",
                            (const char *const[]){"FILE", "STATE", "TRIES", "TIME", "FWHM",
                                                  "HFR", "ECC", "STARS", "SNR", "SCORE",
                                                  "VERDICT", "OUTPUT / ERROR / REASONS"});
    else
        ac_print_table_init(
            &t, "llrrl",
            (const char *const[]){"FILE", "STATE", "TRIES", "TIME", "OUTPUT / ERROR"});
    json_array_foreach(list, i, f)
    {
        char tries[32], g[7][32];
        json_t *gr = json_object_get(f, "grade");
        const char *detail = ac_print_str(f, "error") ? ac_print_str(f, "error")
                             : ac_print_str(gr, "reasons")
                                 ? ac_print_str(gr, "reasons")
                                 : ac_print_base(ac_print_str(f, "output_path"));
        const char *dur = ac_print_duration(b, sizeof b, ac_print_num_f(f, "seconds"));
        const char *path = ac_print_base(ac_print_str(f, "path"));

        snprintf(tries, sizeof tries, "%lld", ac_print_num_i(f, "attempts"));
        ac_print_grade_cells(json_is_object(gr) ? gr : NULL, g);
        if (any)
            ac_print_table_add(&t, (const char *const[]){path, ac_print_str(f, "state"), tries,
                                                         dur, g[0], g[1], g[2], g[3], g[4],
                                                         g[5], g[6], detail});
        else
            ac_print_table_add(
                &t, (const char *const[]){path, ac_print_str(f, "state"), tries, dur, detail});
    }
    return ac_print_table_print(&t, out, "");
}

/* ---- masters and plans ------------------------------------------------------------------ */

int ac_print_masters(FILE *out, json_t *r)
{
    json_t *list, *m;
    char id[32], exp[32], temp[32], gain[32], off[32];
    bool any_reason = false;
    ac_print_table_t t;
    size_t i;
    int rc;

    if ((rc = ac_print_list_of(out, r, "masters", "no masters", &list)) != 0)
        return rc < 0 ? rc : 0;
    json_array_foreach(list, i, m)
    {
        any_reason |= ac_print_str(m, "reason") != NULL;
    }
    ac_print_table_init(&t, any_reason ? "rlllrlrrrlllll" : "rlllrlrrrllll",
                        (const char *const[]){"ID", "TYPE", "INSTRUMENT", "TELESCOPE",
                                              "EXPOSURE", "FILTER", "TEMP", "GAIN", "OFFSET",
                                              "BIN", "DATE", "VALID", "FILE", "REASON"});
    json_array_foreach(list, i, m)
    {
        ac_print_table_add(
            &t, (const char *const[]){ac_print_id_text(id, sizeof id, json_object_get(m, "id")),
                                      ac_print_str(m, "type"), ac_print_str(m, "instrument"),
                                      ac_print_str(m, "telescope"),
                                      ac_print_fnum(exp, sizeof exp, m, "exposure", "%g s"),
                                      ac_print_str(m, "filter"),
                                      ac_print_fnum(temp, sizeof temp, m, "ccd_temp", "%.1f"),
                                      ac_print_fnum(gain, sizeof gain, m, "gain", "%g"),
                                      ac_print_fnum(off, sizeof off, m, "offset", "%g"),
                                      ac_print_str(m, "binning"), ac_print_str(m, "date"),
                                      json_is_true(json_object_get(m, "valid")) ? "yes" : "no",
                                      ac_print_base(ac_print_str(m, "path")),
                                      ac_print_str(m, "reason")});
    }
    return ac_print_table_print(&t, out, "");
}

int ac_print_import(FILE *out, json_t *r)
{
    json_t *errs = json_object_get(r, "errors"), *e;
    if (ac_print_num_i(r, "inferred") > 0 || ac_print_num_i(r, "untyped") > 0)
        fprintf(out,
                "frame type from the path: %lld registered so; %lld skipped (no frame type in "
                "the header nor in the path)\n",
                ac_print_num_i(r, "inferred"), ac_print_num_i(r, "untyped"));
    size_t i;

    if (!json_is_array(errs))
        return -EINVAL;
    fprintf(out, "registered %lld, duplicates %lld, skipped %lld, errors %zu\n",
            ac_print_num_i(r, "registered"), ac_print_num_i(r, "duplicates"),
            ac_print_num_i(r, "skipped"), json_array_size(errs));
    json_array_foreach(errs, i, e)
    {
        fprintf(out, "  %s: %s\n", ac_print_dash(ac_print_str(e, "path")),
                ac_print_dash(ac_print_str(e, "message")));
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
        int n = snprintf(buf + o, size - o, "%s%s", i ? ", " : "",
                         ac_print_dash(json_string_value(v)));
        if (n < 0 || (size_t)n >= size - o)
            break;
        o += (size_t)n;
    }
    return ac_print_dash(buf);
}

/* print_pins reports `use` (the pins set or removed) and `recalibrate`. */
static int print_pins(FILE *out, const char *cmd, json_t *r)
{
    json_t *pins = json_object_get(r, "pinned"), *p;
    size_t i;

    if (strcmp(cmd, "recalibrate") == 0)
        fprintf(out, "session %s: recalibrating %lld files%s\n",
                ac_print_dash(ac_print_str(r, "session")), ac_print_num_i(r, "files"),
                json_is_true(json_object_get(r, "ready")) ? "" : " (waiting for masters)");
    else if (json_array_size(pins) == 0)
        fprintf(out,
                "session %s: %lld pinned masters removed; masters are chosen automatically\n",
                ac_print_dash(ac_print_str(r, "session")), ac_print_num_i(r, "removed"));
    json_array_foreach(pins, i, p)
    {
        fprintf(out, "session %s: %s pinned to #%lld %s",
                ac_print_dash(ac_print_str(r, "session")),
                ac_print_dash(ac_print_str(p, "type")), ac_print_num_i(p, "id"),
                ac_print_dash(ac_print_str(p, "path")));
        if (json_is_true(json_object_get(p, "forced")))
            fprintf(out, " (forced over: %s)", ac_print_dash(ac_print_str(p, "override")));
        fputc('\n', out);
    }
    return 0;
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
    if (strcmp(cmd, "uploads") == 0 ||
        ((strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) &&
         json_object_get(r, "queued") != NULL))
        return strcmp(cmd, "uploads") == 0 ? ac_print_uploads(out, r)
                                           : ac_print_uploads_line(out, r);
    if (strcmp(cmd, "masters") == 0)
        return ac_print_masters(out, r);
    if (strcmp(cmd, "plan") == 0)
        return ac_print_plan(out, r);
    if (strcmp(cmd, "import") == 0)
        return ac_print_import(out, r);
    if (strcmp(cmd, "config") == 0)
        return ac_print_config(out, r);
    if (strcmp(cmd, "grade") == 0)
        return ac_print_grade(out, r, false);
    if (strcmp(cmd, "version") == 0) {
        fprintf(out, "astrocald %s (protocol %lld)\n",
                ac_print_dash(ac_print_str(r, "version")), ac_print_num_i(r, "protocol"));
    } else if (strcmp(cmd, "enqueue") == 0) {
        fprintf(out, "session %s: %s, priority %lld\n",
                ac_print_dash(ac_print_str(r, "session")),
                ac_print_dash(ac_print_str(r, "state")), ac_print_num_i(r, "priority"));
    } else if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
        sess = ac_print_str(r, "session");
        if (sess != NULL)
            fprintf(out, "session %s: %s\n", sess, ac_print_dash(ac_print_str(r, "state")));
        else
            fprintf(out, "queue %s\n", ac_print_dash(ac_print_str(r, "state")));
    } else if (strcmp(cmd, "cancel") == 0) {
        if (ac_print_str(r, "file") != NULL)
            fprintf(out, "file %s: cancelled\n", ac_print_str(r, "file"));
        else if (ac_print_str(r, "session") != NULL)
            fprintf(out, "session %s: cancelled %lld files\n", ac_print_str(r, "session"),
                    ac_print_num_i(r, "cancelled_files"));
        else
            fprintf(out, "every unfinished session cancelled: %lld files\n",
                    ac_print_num_i(r, "cancelled_files"));
    } else if (strcmp(cmd, "history") == 0) {
        return ac_print_history(out, r);
    } else if (strcmp(cmd, "use") == 0 || strcmp(cmd, "recalibrate") == 0) {
        return print_pins(out, cmd, r);
    } else if (strcmp(cmd, "accept") == 0 || strcmp(cmd, "reject") == 0 ||
               strcmp(cmd, "regrade") == 0) {
        fprintf(out, "%s\n", ac_print_dash(ac_print_str(r, "message")));
    } else if (strcmp(cmd, "retry") == 0) {
        fprintf(out, "%lld %s queued for retry\n", ac_print_num_i(r, "retried"),
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
