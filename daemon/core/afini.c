/*
 * afini.c - AstroFiler's astrofiler.ini, the three keys astrocald uses (see afini.h).
 */
#include "afini.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static const char *const keys[AC_AFINI_NKEYS] = {"repo", "source", "bucket_url"};

const char *ac_afini_key(int i)
{
    return i >= 0 && i < AC_AFINI_NKEYS ? keys[i] : "?";
}

/* unpercent turns '%%' into '%' in place, as configparser's interpolation does; other
 * uses of '%' are refused. 0 or -1 with the reason in why. */
static int unpercent(char *v, const char **why)
{
    char *o = v;

    for (const char *p = v; *p != '\0'; p++) {
        if (*p == '%' && p[1] == '%') {
            *o++ = '%';
            p++;
        } else if (*p == '%') {
            *why = p[1] == '(' ? "uses %(name)s interpolation, which astrocald does not expand"
                               : "has a '%' that is not '%%' (AstroFiler could not read it)";
            return -1;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return 0;
}

/* folder makes v (a folder as AstroFiler writes it) absolute against dir, without the
 * trailing '/'. 0 or -1 with the reason in why. */
static int folder(char *v, size_t size, const char *dir, const char **why)
{
    char tmp[4096];
    size_t n;

    if (strchr(v, '\\') != NULL || (isalpha((unsigned char)v[0]) && v[1] == ':')) {
        *why = "is a Windows path";
        return -1;
    }
    if (v[0] != '/') {
        const char *rel = v;
        while (strncmp(rel, "./", 2) == 0)
            rel += 2;
        if (strcmp(rel, ".") == 0)
            rel = "";
        if ((size_t)snprintf(tmp, sizeof tmp, "%s%s%s", dir, rel[0] ? "/" : "", rel) >=
            sizeof tmp) {
            *why = "is too long";
            return -1;
        }
        ac_strlcpy(v, tmp, size);
    }
    n = strlen(v);
    while (n > 1 && v[n - 1] == '/')
        v[--n] = '\0';
    return 0;
}

int ac_afini_parse(const char *text, size_t len, const char *source, const char *dir,
                   ac_afini_t *out, ac_err_t *e)
{
    const char *p = text, *end = text + len;
    bool in_default = false, any_section = false;
    int lineno = 0, last_key = -1;
    char line[8192];

    memset(out, 0, sizeof *out);
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        char *s, *sep, *k, *v;
        const char *why = NULL;
        int i;

        lineno++;
        if (n >= sizeof line)
            return ac_err_set(e, AC_ECONFIG, "%s:%d: line longer than %zu bytes", source,
                              lineno, sizeof line - 1);
        memcpy(line, p, n);
        line[n] = '\0';
        p = nl ? nl + 1 : end;
        s = ac_str_trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (s != line && last_key >= 0) /* an indented line continues the value */
            return ac_err_set(e, AC_ECONFIG,
                              "%s:%d: [DEFAULT] %s continues on an indented line; astrocald "
                              "reads only one-line values",
                              source, lineno, keys[last_key]);
        if (s != line && any_section)
            continue; /* the continuation of a value astrocald does not use */
        last_key = -1;
        if (*s == '[' && strchr(s, ']') != NULL) {
            *strrchr(s, ']') = '\0';
            in_default = strcmp(s + 1, "DEFAULT") == 0;
            any_section = true;
            continue;
        }
        if (!any_section)
            return ac_err_set(e, AC_ECONFIG, "%s:%d: a key before any [SECTION] header", source,
                              lineno);
        sep = strpbrk(s, "=:");
        if (sep == NULL) {
            if (in_default)
                return ac_err_set(e, AC_ECONFIG, "%s:%d: expected 'key = value', got '%s'",
                                  source, lineno, s);
            continue;
        }
        *sep = '\0';
        k = ac_str_trim(s);
        v = ac_str_trim(sep + 1);
        for (char *c = k; *c != '\0'; c++)
            *c = (char)tolower((unsigned char)*c);
        if (!in_default)
            continue;
        for (i = 0; i < AC_AFINI_NKEYS && strcmp(k, keys[i]) != 0; i++)
            ;
        if (i == AC_AFINI_NKEYS)
            continue;
        if (out->line[i] != 0)
            return ac_err_set(e, AC_ECONFIG, "%s:%d: [DEFAULT] %s is set twice (also line %d)",
                              source, lineno, keys[i], out->line[i]);
        if (ac_strlcpy(out->value[i], v, sizeof out->value[i]) >= sizeof out->value[i])
            why = "is too long";
        else if (unpercent(out->value[i], &why) == 0 && i != AC_AFINI_BUCKET_URL &&
                 out->value[i][0] != '\0')
            folder(out->value[i], sizeof out->value[i], dir, &why);
        if (why == NULL && i == AC_AFINI_SOURCE && strchr(out->value[i], ',') != NULL)
            why = "has a ',' (watch_dirs is a comma-separated list)";
        if (why != NULL)
            return ac_err_set(e, AC_ECONFIG, "%s:%d: [DEFAULT] %s '%s' %s", source, lineno,
                              keys[i], v, why);
        out->line[i] = out->value[i][0] != '\0' ? lineno : 0;
        last_key = i;
    }
    return 0;
}
