/*
 * commands.c - astrocalctl's command table and the generic argument parser (commands.h).
 */
#include "commands.h"
#include "preview.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/astrocald/astrocald.sock"

/* The masters `use` and `recalibrate` pin, and --force. */
/* clang-format off */
#define PIN_OPTIONS                                                                            \
    {"--bias", "MASTER", "bias", CTL_MASTER, "this master bias (id or path)"},                 \
    {"--dark", "MASTER", "dark", CTL_MASTER, "this master dark (id or path)"},                 \
    {"--flat", "MASTER", "flat", CTL_MASTER, "this master flat (id or path)"},                 \
    {"--force", NULL, "force", CTL_FLAG, "accept mismatches that are not fatal"}
/* clang-format on */

/* retry takes exactly one of its four options. */
static const char *retry_check(json_t *args)
{
    return json_object_size(args) == 1
               ? NULL
               : "retry takes exactly one of --file ID, --session ID, --all-failed, --uploads";
}

/* pause and resume: the word "uploads" (never a session id, a UUID) means the cloud upload
 * queue: sent as {"what":"uploads"}. */
static const char *uploads_word(json_t *args)
{
    const char *v = json_string_value(json_object_get(args, "session"));

    if (v != NULL && strcmp(v, "uploads") == 0) {
        json_object_del(args, "session");
        json_object_set_new(args, "what", json_string("uploads"));
    }
    return NULL;
}

/* cancel takes exactly one of SESSION, --file ID, --all. */
static const char *cancel_check(json_t *args)
{
    return json_object_size(args) == 1
               ? NULL
               : "cancel takes exactly one of SESSION, --file ID, --all";
}

/* history's --limit is 1 to 100000. */
static const char *history_check(json_t *args)
{
    json_t *l = json_object_get(args, "limit");

    return l == NULL || (json_integer_value(l) >= 1 && json_integer_value(l) <= 100000)
               ? NULL
               : "history: --limit is a number from 1 to 100000";
}

/* use: masters (with or without --force), or --auto alone. */
static const char *use_check(json_t *args)
{
    bool a = json_object_get(args, "auto") != NULL, f = json_object_get(args, "force") != NULL;
    size_t masters = json_object_size(args) - 1 - a - f; /* minus the session */

    if (a && (masters > 0 || f))
        return "use: --auto takes no masters and no --force";
    if (!a && masters == 0)
        return "use needs --bias, --dark, --flat or --auto";
    return NULL;
}

static const ctl_cmd_t commands[] = {
    {"status",
     "",
     "queue, rates, ETA, the files being calibrated",
     "Shows the daemon's version, pid and uptime, the queue (files and sessions by state),\n"
     "the rate and the ETA, the throttle, the files and master builds running now, live\n"
     "ingest, the catalogue's state and the last error logged.\n",
     0,
     0,
     {NULL},
     CTL_STRING,
     {{NULL}},
     NULL,
     0},
    {"sessions",
     "[--state STATE]",
     "light sessions, their progress and ETA",
     "STATE keeps the sessions in one state: waiting queued paused done partial failed\n"
     "cancelled.\n",
     0,
     0,
     {NULL},
     CTL_STRING,
     {{"--state", "STATE", "state", CTL_STRING, "only the sessions in this state"}, {NULL}},
     NULL,
     0},
    {"session",
     "ID",
     "one session: masters and every file's state",
     "ID is a session id as `astrocalctl sessions` lists it.\n",
     1,
     1,
     {"id"},
     CTL_STRING,
     {{NULL}},
     NULL,
     0},
    {"masters",
     "",
     "master frames in the catalogue and master builds",
     NULL,
     0,
     0,
     {NULL},
     CTL_STRING,
     {{NULL}},
     NULL,
     0},
    {"plan",
     "[SESSION]",
     "the masters each session would use, and why",
     "Every other candidate master is listed with the reason it was rejected. Without\n"
     "SESSION, every session that is not calibrated yet.\n",
     0,
     1,
     {"session"},
     CTL_STRING,
     {{NULL}},
     NULL,
     0},
    {"enqueue",
     "SESSION [--priority N]",
     "queue a session (larger N runs sooner)",
     NULL,
     1,
     1,
     {"session"},
     CTL_STRING,
     {{"--priority", "N", "priority", CTL_INT, "queue priority, an integer (default 0)"},
      {NULL}},
     NULL,
     0},
    {"pause",
     "[SESSION | uploads]",
     "pause everything, one session, or the cloud uploads",
     "Running frames finish; nothing new starts until `resume`. `pause uploads` holds the\n"
     "cloud upload queue only; calibration goes on.\n",
     0,
     1,
     {"session"},
     CTL_STRING,
     {{NULL}},
     uploads_word,
     0},
    {"resume",
     "[SESSION | uploads]",
     "resume everything, one session, or the cloud uploads",
     NULL,
     0,
     1,
     {"session"},
     CTL_STRING,
     {{NULL}},
     uploads_word,
     0},
    {"cancel",
     "SESSION | --file ID | --all",
     "cancel a session's remaining files, one file, or everything",
     "Files already running stop at their next strip; nothing half-written is kept.\n",
     0,
     1,
     {"session"},
     CTL_STRING,
     {{"--file", "ID", "file", CTL_STRING, "one file (its id in `session`)"},
      {"--all", NULL, "all", CTL_FLAG, "everything not finished"},
      {NULL}},
     cancel_check,
     0},
    {"history",
     "SESSION|FILE [--limit N]",
     "every attempt, outcome and decision recorded",
     "The newest first; N rows at most (default 1000, 1 to 100000).\n",
     1,
     1,
     {"id"},
     CTL_STRING,
     {{"--limit", "N", "limit", CTL_INT, "rows at most (1 to 100000)"}, {NULL}},
     history_check,
     0},
    {"retry",
     "--file ID | --session ID | --all-failed | --uploads",
     "retry failed files (or failed uploads)",
     NULL,
     0,
     0,
     {NULL},
     CTL_STRING,
     {{"--file", "ID", "file", CTL_STRING, "one failed file"},
      {"--session", "ID", "session", CTL_STRING, "every failed file of a session"},
      {"--all-failed", NULL, "all_failed", CTL_FLAG, "every failed file"},
      {"--uploads", NULL, "uploads", CTL_FLAG, "every failed cloud upload"},
      {NULL}},
     retry_check,
     0},
    {"grade",
     "SESSION [--csv]",
     "the session's star metrics and verdicts",
     "One line per light: FWHM and HFR (pixels and arcseconds), eccentricity, stars, SNR,\n"
     "score and verdict with the rules that rejected it (docs/grading.md). --csv prints\n"
     "comma-separated values with a header line, for spreadsheets.\n",
     1,
     1,
     {"session"},
     CTL_STRING,
     {{"--csv", NULL, NULL, CTL_FLAG, "comma-separated values (RFC 4180)"}, {NULL}},
     NULL,
     0},
    {"accept",
     "FILE [--clear]",
     "keep a light that grading rejected",
     "FILE is a raw or calibrated light's path or id. --clear takes the override back: the\n"
     "rules decide again.\n",
     1,
     1,
     {"file"},
     CTL_FILEREF,
     {{"--clear", NULL, "clear", CTL_FLAG, "remove the override"}, {NULL}},
     NULL,
     0},
    {"reject",
     "FILE [--clear]",
     "reject a light (its file and row stay; QREJECT is written)",
     "FILE is a raw or calibrated light's path or id. --clear takes the override back: the\n"
     "rules decide again.\n",
     1,
     1,
     {"file"},
     CTL_FILEREF,
     {{"--clear", NULL, "clear", CTL_FLAG, "remove the override"}, {NULL}},
     NULL,
     0},
    {"regrade",
     "SESSION [--all]",
     "measure a session's lights again",
     "The lights whose measurement failed, or with --all every calibrated light of the\n"
     "session; the session is judged again afterwards.\n",
     1,
     1,
     {"session"},
     CTL_STRING,
     {{"--all", NULL, "all", CTL_FLAG, "every light, not only the failed ones"}, {NULL}},
     NULL,
     0},
    {"uploads",
     "[--limit N]",
     "the cloud upload queue",
     "The `uploads:` line of status, the remote's state, then the uploads not done and the\n"
     "last ones done, at most N (50) in all, with their attempts and their URL or last\n"
     "error.\n",
     0,
     0,
     {NULL},
     CTL_STRING,
     {{"--limit", "N", "limit", CTL_INT, "rows at most (default 50)"}, {NULL}},
     NULL,
     0},
    {"import",
     "DIR",
     "register the FITS files under DIR",
     "Reads every FITS file under DIR (made absolute here) and registers it in the\n"
     "catalogue as AstroFiler would. Waits without a time limit unless --timeout is given.\n",
     1,
     1,
     {"dir"},
     CTL_DIR,
     {{NULL}},
     NULL,
     CTL_NO_TIMEOUT},
    {"preview",
     "LIGHT | --session ID --png OUT.png [--bias|--dark|--flat|--flatdark ID|PATH|none]",
     "one light calibrated in memory: raw and calibrated side by side, as a PNG",
     "The daemon calibrates LIGHT (a file id, or the path of a light in the catalogue; with\n"
     "--session, the session's first light) with the masters its session would use, and\n"
     "sends back a PNG that astrocalctl writes to OUT.png with your rights: raw on the left,\n"
     "calibrated on the right, each auto-stretched, with a caption. --bias, --dark, --flat\n"
     "and --flatdark use another registered master (an id of `masters` or a path), or none.\n"
     "Nothing is written to the catalogue or beside the light. The default --timeout is\n"
     "300 s.\n",
     0,
     1,
     {"light"},
     CTL_STRING,
     {{"--session", "ID", "session", CTL_STRING, "the session's first light"},
      {"--png", "OUT.png", NULL, CTL_STRING, "the file to write (required)"},
      {"--bias", "MASTER", "bias", CTL_MASTER, "this master bias (id or path), or none"},
      {"--dark", "MASTER", "dark", CTL_MASTER, "this master dark (id or path), or none"},
      {"--flat", "MASTER", "flat", CTL_MASTER, "this master flat (id or path), or none"},
      {"--flatdark", "MASTER", "flatdark", CTL_MASTER, "this flat-dark (id or path), or none"},
      {"--width", "N", "width", CTL_INT, "the picture's width, 64 to 4096 (1600)"},
      {NULL}},
     ac_ctl_preview_check,
     CTL_LONG_TIMEOUT},
    {"use",
     "SESSION --bias|--dark|--flat MASTER... [--force] | SESSION --auto",
     "pin masters for a session, or give the choice back to astrocald",
     "MASTER is an id of `astrocalctl masters` or a registered master's path. The pinned\n"
     "masters are checked by the rules of automatic choice: with --force a mismatch that is\n"
     "not fatal (temperature, exposure, date, gain, offset, filter) is accepted and recorded\n"
     "in the session's history; size, binning or Bayer pattern never are. --auto removes\n"
     "the pins.\n",
     1,
     1,
     {"session"},
     CTL_STRING,
     {PIN_OPTIONS, {"--auto", NULL, "auto", CTL_FLAG, "remove the pins"}, {NULL}},
     use_check,
     0},
    {"recalibrate",
     "SESSION [--bias|--dark|--flat MASTER...] [--force]",
     "calibrate a done session again (with other masters), replacing its outputs",
     "Each new output replaces the old one at the same path and its catalogue row is\n"
     "updated; the old files go only once the new ones are durable. Masters given are\n"
     "pinned first, as with `use`.\n",
     1,
     1,
     {"session"},
     CTL_STRING,
     {PIN_OPTIONS, {NULL}},
     NULL,
     0},
    {"export",
     "SELECTION --shards N --out DIR [--slurm [--partition P] [--time T]] [--condor] [--cpus "
     "N]",
     "hand lights out to a cluster as manifest shards",
     "SELECTION: --session ID (repeatable), --since DATE --until DATE (session dates,\n"
     "inclusive), --all-uncalibrated, or --calibrated-with MASTER (an id of `masters` or a\n"
     "path: every done light calibrated with it, recalibrated in place with the masters\n"
     "the daemon would choose now; make or pin the replacement first). The daemon plans\n"
     "each pending light of the selected queued sessions as it would calibrate it and\n"
     "marks it handed out (not calibrated by the daemon) for --hold hours; astrocalctl\n"
     "writes DIR/shard-NNNN.jsonl,\n"
     "balanced by bytes, a session's lights together when possible, and DIR/export.json.\n"
     "Run each shard with `astrocald calibrate --manifest SHARD --results\n"
     "SHARD.results.jsonl`, then `astrocalctl import-results DIR`. With --slurm also\n"
     "DIR/astrocald-array.sbatch, a job array of one task per shard; with --condor\n"
     "DIR/astrocald.sub, an HTCondor submit file of one job per shard (docs/cluster.md).\n",
     0,
     0,
     {NULL},
     CTL_STRING,
     {{"--session", "ID", "sessions", CTL_LIST, "a session to export (repeatable)"},
      {"--since", "DATE", "since", CTL_STRING, "sessions from this date (YYYY-MM-DD)"},
      {"--until", "DATE", "until", CTL_STRING, "sessions up to this date, inclusive"},
      {"--all-uncalibrated", NULL, "all_uncalibrated", CTL_FLAG, "every queued session"},
      {"--calibrated-with", "MASTER", "calibrated_with", CTL_MASTER,
       "recalibrate the done lights this master was used for"},
      {"--hold", "HOURS", "hold_hours", CTL_INT, "hand-out expiry (default 48)"},
      {"--shards", "N", NULL, CTL_INT, "number of shard files (required)"},
      {"--out", "DIR", NULL, CTL_DIR, "where the shards go (new or empty; required)"},
      {"--slurm", NULL, NULL, CTL_FLAG, "also write a Slurm job-array script"},
      {"--partition", "P", NULL, CTL_STRING, "Slurm partition (default: the cluster's)"},
      {"--time", "T", NULL, CTL_STRING, "Slurm time limit per task (default 04:00:00)"},
      {"--cpus", "N", NULL, CTL_INT, "CPUs per task (Slurm, HTCondor; default 4)"},
      {"--condor", NULL, NULL, CTL_FLAG, "also write an HTCondor submit file"},
      {NULL}},
     NULL,
     0},
    {"import-results",
     "DIR",
     "record the results of exported shards",
     "Sends every line of DIR/*.results.jsonl to the daemon, which records each success\n"
     "exactly as its own calibrations (once, however often this is run) after checking\n"
     "the output's SHA-256, puts failures back in the queue with their reasons, and ends\n"
     "the hand-outs. Waits without a time limit unless --timeout is given.\n",
     1,
     1,
     {"dir"},
     CTL_DIR,
     {{NULL}},
     NULL,
     CTL_NO_TIMEOUT},
    {"reload",
     "",
     "re-read the configuration file",
     NULL,
     0,
     0,
     {NULL},
     CTL_STRING,
     {{NULL}},
     NULL,
     0},
    {"config",
     "",
     "the configuration in effect",
     NULL,
     0,
     0,
     {NULL},
     CTL_STRING,
     {{NULL}},
     NULL,
     0},
    {"version", "", "the daemon's version", NULL, 0, 0, {NULL}, CTL_STRING, {{NULL}}, NULL, 0},
    {"watch",
     "[--once]",
     "print events as they happen (Ctrl-C stops)",
     "When astrocald restarts, watch says so and connects again (every second, for as long\n"
     "as it takes) unless --once is given; then it exits 69 when the connection ends.\n",
     0,
     0,
     {NULL},
     CTL_STRING,
     {{"--once", NULL, NULL, CTL_FLAG, "exit when the daemon goes away"}, {NULL}},
     NULL,
     CTL_NO_TIMEOUT},
    {"help",
     "[COMMAND]",
     "this text, or one command's usage",
     NULL,
     0,
     1,
     {"command"},
     CTL_STRING,
     {{NULL}},
     NULL,
     CTL_LOCAL},
    {NULL},
};

const ctl_cmd_t *ctl_commands(void)
{
    return commands;
}

const ctl_cmd_t *ctl_find(const char *name)
{
    for (const ctl_cmd_t *c = commands; c->name != NULL; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

void ctl_usage(FILE *f)
{
    fputs("usage: astrocalctl [--socket PATH] [--json] [--timeout S] COMMAND [ARGS]\n"
          "\ncommands:\n",
          f);
    for (const ctl_cmd_t *c = commands; c->name != NULL; c++) {
        char head[128];
        snprintf(head, sizeof head, "%s %s", c->name, c->synopsis);
        if (strlen(head) >= 30)
            fprintf(f, "  %s\n  %-30s%s\n", head, "", c->summary);
        else
            fprintf(f, "  %-30s%s\n", head, c->summary);
    }
    fputs("\n"
          "options:\n"
          "  --socket PATH   control socket (default $ASTROCALD_SOCKET, else\n"
          "                  " DEFAULT_SOCKET ")\n"
          "  --json          print the raw result object on one line (watch: event lines);\n"
          "                  every error is {\"error\":{\"code\":...,\"message\":...}} on "
          "stdout\n"
          "  --timeout S     seconds to wait for the reply (default 30; import and watch\n"
          "                  wait without limit; 0 = no limit)\n"
          "  --version       print astrocalctl's version\n"
          "\n"
          "astrocalctl help COMMAND (or COMMAND --help) shows one command's usage.\n"
          "\n"
          "exit status: 0 success, 1 the daemon reported an error, 64 usage error,\n"
          "69 astrocald unreachable, 76 unexpected reply\n",
          f);
}

void ctl_help(FILE *f, const ctl_cmd_t *c)
{
    fprintf(f, "usage: astrocalctl [--socket PATH] [--json] [--timeout S] %s%s%s\n\n%s.\n",
            c->name, c->synopsis[0] ? " " : "", c->synopsis, c->summary);
    if (c->help != NULL)
        fprintf(f, "\n%s", c->help);
    if (c->opts[0].name != NULL) {
        fputs("\noptions:\n", f);
        for (const ctl_opt_t *o = c->opts; o->name != NULL; o++) {
            char head[64];
            snprintf(head, sizeof head, "%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
            fprintf(f, "  %-18s%s%s\n", head, strlen(head) >= 18 ? " " : "", o->help);
        }
    }
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t size, const char *fmt,
                                                      ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
    return -1;
}

/* value converts text to a JSON value of type; NULL with a message in err when it cannot. */
static json_t *value(const char *what, const char *text, int type, char *err, size_t size)
{
    char cwd[PATH_MAX], *end;
    long long v;

    switch (type) {
    case CTL_INT:
        errno = 0;
        v = strtoll(text, &end, 10);
        if (*text == '\0' || *end != '\0' || errno != 0 || v < INT_MIN || v > INT_MAX) {
            fail(err, size, "%s: '%s' is not an integer", what, text);
            return NULL;
        }
        return json_integer(v);
    case CTL_MASTER:
        if (strcmp(text, "none") == 0 ||
            (text[0] != '\0' && text[strspn(text, "#0123456789")] == '\0'))
            return json_string(text);
        __attribute__((fallthrough)); /* a path */
    case CTL_FILEREF:
        if (type == CTL_FILEREF && strchr(text, '/') == NULL && access(text, F_OK) != 0)
            return json_string(text); /* an id */
        __attribute__((fallthrough)); /* a path */
    case CTL_DIR:
        if (text[0] == '/')
            return json_string(text);
        if (getcwd(cwd, sizeof cwd) == NULL) {
            fail(err, size, "%s: cannot make '%s' absolute", what, text);
            return NULL;
        }
        return json_pack("s++", cwd, "/", text);
    default:
        return json_string(text);
    }
}

static const char *count_words(int n)
{
    static const char *const words[] = {"no arguments", "one argument", "two arguments"};
    return n >= 0 && n <= 2 ? words[n] : "arguments";
}

int ctl_parse(const ctl_cmd_t *c, int n, char **a, ctl_parsed_t *p, char *err, size_t size)
{
    int npos = 0;

    p->args = json_object();
    p->local = json_object();
    p->help = false;
    if (p->args == NULL || p->local == NULL)
        return fail(err, size, "out of memory");
    for (int i = 0; i < n; i++) {
        const char *s = a[i];
        const ctl_opt_t *o = NULL;
        const char *eq, *v = NULL;
        size_t len;
        json_t *j;

        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            p->help = true;
            continue;
        }
        if (s[0] != '-' || s[1] == '\0' || strcmp(s, "--") == 0) {
            if (strcmp(s, "--") == 0 && i + 1 < n)
                s = a[++i];
            if (npos >= c->max_pos)
                return fail(err, size, "%s takes %s%s%s%s", c->name,
                            c->max_pos == c->min_pos ? "" : "at most ", count_words(c->max_pos),
                            c->synopsis[0] ? ": " : "", c->synopsis);
            j = value(c->name, s, c->pos_type, err, size);
            if (j == NULL)
                return -1;
            json_object_set_new(c->flags & CTL_LOCAL ? p->local : p->args, c->pos_key[npos++],
                                j);
            continue;
        }
        eq = strchr(s, '=');
        len = eq != NULL ? (size_t)(eq - s) : strlen(s);
        for (const ctl_opt_t *q = c->opts; q->name != NULL && o == NULL; q++)
            if (strlen(q->name) == len && strncmp(q->name, s, len) == 0)
                o = q;
        if (o == NULL)
            return fail(err, size, "%s: unknown option '%.*s'", c->name, (int)len, s);
        if (o->arg == NULL) {
            if (eq != NULL)
                return fail(err, size, "%s: %s takes no value", c->name, o->name);
            j = json_true();
        } else {
            v = eq != NULL ? eq + 1 : (i + 1 < n ? a[++i] : NULL);
            if (v == NULL)
                return fail(err, size, "%s: %s needs %s", c->name, o->name, o->arg);
            if ((j = value(o->name, v, o->type, err, size)) == NULL)
                return -1;
        }
        if (o->type == CTL_LIST) { /* repeatable: appended */
            json_t *dst = o->key != NULL ? p->args : p->local;
            const char *k = o->key != NULL ? o->key : o->name + 2;
            if (json_object_get(dst, k) == NULL)
                json_object_set_new(dst, k, json_array());
            json_array_append_new(json_object_get(dst, k), j);
            continue;
        }
        json_object_set_new(o->key != NULL ? p->args : p->local,
                            o->key != NULL ? o->key : o->name + 2, j);
    }
    if (p->help)
        return 0;
    if (npos < c->min_pos)
        return fail(err, size, "%s needs %s: %s", c->name, count_words(c->min_pos),
                    c->synopsis);
    if (c->check != NULL) {
        const char *why = c->check(p->args);
        if (why != NULL)
            return fail(err, size, "%s", why);
    }
    return 0;
}

void ctl_parsed_free(ctl_parsed_t *p)
{
    json_decref(p->args);
    json_decref(p->local);
    p->args = p->local = NULL;
}
