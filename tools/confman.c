/*
 * confman.c - writes the manual page astrocald.conf(5) from the key table, at build time.
 *
 *   astrocald-confman [--version V] [--config PATH] [--docdir DIR] [-o FILE]
 *
 * Every section and key comes from ac_config_sections() and ac_config_table()
 * (daemon/core/config.h): name, default, type and range, whether SIGHUP applies it, and
 * its help sentence, so the page cannot drift from what astrocald accepts. The prose
 * around the keys (file format, types, reloading) is written here. The date in .TH is
 * SOURCE_DATE_EPOCH's (reproducible builds; dpkg-buildpackage sets it from
 * debian/changelog), else empty. Linked with ac_core only (no I/O libraries).
 *
 * Exit status: 0, 64 on usage errors, 1 when the output cannot be written.
 * Thread: single-threaded program.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "config.h"

/* put writes s as roff running text: backslashes doubled, a line-leading '.' or '\''
 * protected, and '-' before a digit written as a minus sign. */
static void put(FILE *f, const char *s)
{
    bool bol = true;

    for (; *s != '\0'; s++) {
        if (bol && (*s == '.' || *s == '\''))
            fputs("\\&", f);
        if (*s == '\\')
            fputs("\\e", f);
        else if (*s == '-' && s[1] >= '0' && s[1] <= '9')
            fputs("\\-", f);
        else
            fputc(*s, f);
        bol = *s == '\n';
    }
}

/* num writes a range bound as roff ("%.15g": 1048576, 0.999, 1e+09 never appears). */
static void num(FILE *f, double v)
{
    char buf[64];

    snprintf(buf, sizeof buf, "%.15g", v);
    put(f, buf);
}

static void names(FILE *f, const char *const *n, const char *last_sep)
{
    for (size_t i = 0; n[i] != NULL; i++) {
        if (i > 0)
            fputs(n[i + 1] == NULL ? last_sep : ", ", f);
        fprintf(f, "\\fB%s\\fR", n[i]);
    }
}

/* range writes what a key accepts, as a sentence without the final period. */
static void range(FILE *f, const ac_config_entry_t *en)
{
    switch (en->type) {
    case AC_CFG_BOOL:
        fputs("Boolean: \\fBTrue\\fR or \\fBFalse\\fR", f);
        break;
    case AC_CFG_INT:
    case AC_CFG_SIZE_MIB:
        fputs(en->type == AC_CFG_INT ? "Whole number from " : "Size in MiB from ", f);
        num(f, en->min);
        fputs(" to ", f);
        num(f, en->max);
        if (en->type == AC_CFG_SIZE_MIB)
            fputs(" (a suffix M, MiB, G or GiB is accepted)", f);
        break;
    case AC_CFG_DOUBLE:
        fputs((en->flags & AC_CFG_MIN_EXCLUSIVE) ? "Number above " : "Number from ", f);
        num(f, en->min);
        fputs((en->flags & AC_CFG_MIN_EXCLUSIVE) ? ", at most " : " to ", f);
        num(f, en->max);
        break;
    case AC_CFG_STRING:
    case AC_CFG_PATH:
        fputs(en->type == AC_CFG_PATH ? "Path" : "Text", f);
        if (en->min > 0) {
            fputs(" of ", f);
            num(f, en->min);
            fputs(" to ", f);
        } else {
            fputs(" of up to ", f);
        }
        num(f, en->max);
        fputs(" bytes", f);
        if (en->flags & AC_CFG_NO_SLASH)
            fputs(", without '/'", f);
        break;
    case AC_CFG_ENUM:
        fputs("One of ", f);
        names(f, en->names, " or ");
        break;
    case AC_CFG_MODE:
        fprintf(f, "Octal mode from %04o to %04o", (unsigned)en->min, (unsigned)en->max);
        break;
    case AC_CFG_PEDESTAL:
        fputs("\\fBnone\\fR, \\fBauto\\fR or a number of ADU from ", f);
        num(f, en->min);
        fputs(" to ", f);
        num(f, en->max);
        break;
    case AC_CFG_LIST:
        fputs("Comma-separated list of one or more of ", f);
        names(f, en->names, " and ");
        break;
    default:
        fputs(ac_config_type_name(en->type), f);
    }
}

static void header(FILE *f, const char *version, const char *config)
{
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    char date[32] = "";

    if (sde != NULL && *sde != '\0') {
        time_t t = (time_t)strtoll(sde, NULL, 10);
        struct tm tm;
        if (gmtime_r(&t, &tm) != NULL)
            strftime(date, sizeof date, "%Y-%m-%d", &tm);
    }
    fputs(".\\\" astrocald.conf.5 - generated at build time by tools/confman.c from the key\n"
          ".\\\" table in daemon/core/config.c; edit those, not this file.\n",
          f);
    fprintf(f, ".TH ASTROCALD.CONF 5 \"%s\" \"astrocald %s\" \"File Formats\"\n", date,
            version);
    fputs(".SH NAME\n"
          "astrocald.conf \\- configuration file of astrocald, the AstroFiler calibration "
          "daemon\n"
          ".SH SYNOPSIS\n",
          f);
    fprintf(f, ".I %s\n", config);
    fputs(".SH DESCRIPTION\n"
          "\\fBastrocald\\fR(1) reads one INI file, read like AstroFiler's astrofiler.ini.\n"
          "Every key is optional: a key left out keeps its default, shown below.\n"
          ".PP\n"
          "\\fB[SECTION]\\fR starts a section; section names are upper case, exactly as\n"
          "below, and each may appear once.\n"
          "\\fBkey = value\\fR sets a key of the current section; keys are lower case, each\n"
          "may appear once, and blanks around the key and the value are ignored.\n"
          "\\fB#\\fR and \\fB;\\fR start a comment only as the first non-blank character\n"
          "of a line: there are no comments after a value.\n"
          "A value in double quotes loses them: \\fB\"\"\\fR is the empty value.\n"
          "CR-LF line ends and a UTF-8 byte order mark are accepted.\n"
          ".PP\n"
          "Booleans are \\fBTrue\\fR or \\fBFalse\\fR (also true/false, yes/no, on/off,\n"
          "1/0, in any case).\n"
          "Choices and lists take the names shown, in any case.\n"
          "Relative paths are taken from the daemon's working directory (/ under\n"
          "systemd): use absolute ones.\n"
          ".PP\n"
          "Any mistake (an unknown section or key, a malformed line, a value of the wrong\n"
          "type or out of range) stops astrocald with exit status 78 and one line naming\n"
          "the file, the line and what was expected.\n"
          "\\fBastrocald \\-\\-check\\-config\\fR checks a file without starting the daemon.\n"
          ".SS Reloading\n"
          "SIGHUP (\\fBsystemctl reload astrocald\\fR or \\fBastrocalctl reload\\fR)\n"
          "re-reads the file.\n"
          "Keys marked \\(lqreload: yes\\(rq change at once; keys marked\n"
          "\\(lqreload: restart\\(rq keep their running value until astrocald restarts.\n"
          "A file with an error is rejected as a whole and the running configuration\n"
          "stays as it was.\n",
          f);
}

static void keys(FILE *f)
{
    const char *const *sec = ac_config_sections();
    size_t n;
    const ac_config_entry_t *t = ac_config_table(&n);

    fputs(".SH \"SECTIONS AND KEYS\"\n", f);
    for (size_t s = 0; sec[s] != NULL; s++) {
        fprintf(f, ".SS [%s]\n", sec[s]);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(t[i].section, sec[s]) != 0)
                continue;
            fprintf(f, ".TP\n\\fB%s\\fR = ", t[i].key);
            put(f, t[i].def);
            fputc('\n', f);
            put(f, t[i].help);
            fputs("\n.br\n", f);
            range(f, &t[i]);
            fprintf(f, "; reload: %s.\n", t[i].reloadable ? "yes" : "restart");
        }
    }
}

static void footer(FILE *f, const char *config, const char *docdir)
{
    fputs(".SH FILES\n.TP\n", f);
    fprintf(f, ".I %s\n", config);
    fputs("The configuration read by the astrocald service. As installed, its\n"
          "\\fBdatabase\\fR is empty: astrocald then waits, reporting \\(lqno database\n"
          "configured\\(rq, until it is set and astrocald restarted.\n"
          ".TP\n",
          f);
    fprintf(f, ".I %s/\n", docdir);
    fputs("The documentation: configuration.md is the full reference of every key,\n"
          "user-guide.md the operator's guide, packaging.md the installed files.\n"
          ".SH \"SEE ALSO\"\n"
          "\\fBastrocald\\fR(1), \\fBastrocalctl\\fR(1), \\fBsystemd.exec\\fR(5)\n",
          f);
}

static void usage(FILE *f)
{
    fputs("usage: astrocald-confman [--version V] [--config PATH] [--docdir DIR] [-o FILE]\n",
          f);
}

int main(int argc, char **argv)
{
    const char *version = "", *config = "/etc/astrocald/astrocald.conf",
               *docdir = "/usr/share/doc/astrocald", *out = NULL;
    FILE *f = stdout;
    int bad;

    for (int i = 1; i < argc; i++) {
        const char **dst = strcmp(argv[i], "--version") == 0  ? &version
                           : strcmp(argv[i], "--config") == 0 ? &config
                           : strcmp(argv[i], "--docdir") == 0 ? &docdir
                           : strcmp(argv[i], "-o") == 0       ? &out
                                                              : NULL;
        if (dst == NULL || i + 1 >= argc) {
            usage(stderr);
            return EX_USAGE;
        }
        *dst = argv[++i];
    }
    if (out != NULL && (f = fopen(out, "w")) == NULL) {
        perror(out);
        return 1;
    }
    header(f, version, config);
    keys(f);
    footer(f, config, docdir);
    bad = ferror(f);
    if (f != stdout)
        bad |= fclose(f) != 0;
    if (bad) {
        fprintf(stderr, "astrocald-confman: cannot write %s\n", out ? out : "stdout");
        return 1;
    }
    return 0;
}
