/*
 * commands.h - astrocalctl's command table: every command's usage, help, arguments and
 * options in one place, and the generic parser that turns a command line into the
 * request's `args` object (docs/protocol.md).
 *
 * Adding a command: one row in the table of commands.c (name, synopsis, summary, help,
 * positional arguments and the args keys they fill, options, flags), a row in the command
 * table of common/proto.c (read or change) and a renderer in print.c if it needs one. The
 * global usage, `astrocalctl help CMD`, `CMD --help`, "unknown option" and argument count
 * errors all come from the row.
 *
 * Ownership: the table is static and borrowed forever; parse results are owned by the
 * caller. Thread: any (no state but the constant table).
 */
#ifndef AC_CTL_COMMANDS_H
#define AC_CTL_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* What an argument or option value becomes in args. */
enum ctl_type {
    CTL_FLAG = 0, /* an option without a value: true */
    CTL_STRING,   /* the text as given */
    CTL_INT,      /* a whole number (an int) */
    CTL_DIR,      /* a path, made absolute against the current directory (not resolved) */
    CTL_MASTER,   /* a master: an id (digits, "#" allowed), "none", or a path made absolute */
    CTL_FILEREF,  /* a file: a path (with a '/', or an existing file) made absolute, else an id
                   */
    CTL_LIST,     /* repeatable: each value appended to an array of strings */
};

/* Flags of a command. */
enum {
    CTL_NO_TIMEOUT = 1 << 0,   /* waits without limit unless --timeout is given */
    CTL_LOCAL = 1 << 1,        /* handled by astrocalctl itself, never sent (help) */
    CTL_LONG_TIMEOUT = 1 << 2, /* waits 300 s by default (preview) */
};

/* One option of a command. */
typedef struct ctl_opt {
    const char *name; /* "--priority" */
    const char *arg;  /* the value's placeholder ("N"), NULL for a flag */
    const char
        *key; /* the args key it fills; NULL: for astrocalctl itself (ctl_parsed.local) */
    int type; /* enum ctl_type */
    const char *help; /* one line */
} ctl_opt_t;

#define CTL_MAX_OPTS 16
#define CTL_MAX_POS 2

/* One command. */
typedef struct ctl_cmd {
    const char *name;     /* "enqueue" */
    const char *synopsis; /* what follows the name, "SESSION [--priority N]" ("" for none) */
    const char *summary;  /* one line for the global usage */
    const char *help;     /* the text of `help CMD` after the usage line (may be NULL) */
    int min_pos, max_pos; /* positional arguments */
    const char *pos_key[CTL_MAX_POS]; /* the args key of each positional argument */
    int pos_type;                     /* CTL_STRING or CTL_DIR */
    ctl_opt_t opts[CTL_MAX_OPTS];     /* ended by a row with name NULL */
    /* check (may be NULL) validates args as a whole; returns NULL or a message (static). */
    const char *(*check)(json_t *args);
    unsigned flags; /* CTL_NO_TIMEOUT, CTL_LOCAL */
} ctl_cmd_t;

/* ctl_find returns the command called name, or NULL. */
const ctl_cmd_t *ctl_find(const char *name);

/* ctl_commands returns the table (ended by a row with name NULL). */
const ctl_cmd_t *ctl_commands(void);

/* ctl_usage writes the global usage: every command's synopsis and summary, the global
 * options and the exit statuses. */
void ctl_usage(FILE *f);

/* ctl_help writes cmd's own usage: "usage: astrocalctl [global options] NAME SYNOPSIS",
 * the summary, the help text and the options. */
void ctl_help(FILE *f, const ctl_cmd_t *cmd);

/* The result of ctl_parse: args for the request, local options for astrocalctl. */
typedef struct ctl_parsed {
    json_t *args;  /* owned */
    json_t *local; /* owned: values of options whose key is NULL, by name without "--" */
    bool help;     /* --help or -h was given: print ctl_help instead */
} ctl_parsed_t;

/* ctl_parse parses n arguments a[] after cmd's name. Returns 0, or -1 with a message for a
 * usage error in err (e.g. "enqueue: unknown option '--bogus'", "cancel takes one
 * argument (SESSION)"). p is released by ctl_parsed_free in either case. */
int ctl_parse(const ctl_cmd_t *cmd, int n, char **a, ctl_parsed_t *p, char *err, size_t size);

void ctl_parsed_free(ctl_parsed_t *p);

#endif
