/* config_parse.c - the astrocald.conf parser: INI text in a buffer to struct ac_config
 * (see config.h). Pure; any thread. */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "util.h"

#define LINE_MAX_BYTES 8191

/* ---- Parser ---------------------------------------------------------------------------- */

/* distance is the edit distance between a and b ignoring case (SIZE_MAX when long). */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];

    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = diag + cost;

            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* close_enough says whether a misspelling at distance d of candidate deserves a "did you
 * mean". */
static bool close_enough(size_t d, const char *candidate)
{
    size_t limit = strlen(candidate) / 4;

    return d <= (limit > 2 ? limit : 2);
}

struct parse_state {
    struct ac_config *cfg;
    int section; /* index in ac_config_sections()[], -1 before the first header */
    int section_line[AC_CONFIG_MAX_SECTIONS];
    int key_line[AC_CONFIG_MAX_KEYS];
};

/* Index of a table row (ac_config_table), for key_line. */
static size_t row(const ac_config_entry_t *en)
{
    return (size_t)(en - ac_config_table(NULL));
}

static int section_header(struct parse_state *st, char *line, ac_err_t *e)
{
    char *close = strchr(line, ']');
    char *name, *rest;
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    int i;

    if (close == NULL)
        return ac_err_set(e, AC_ECONFIG, "unterminated section header '%.80s' (missing ']')",
                          line);
    rest = ac_str_trim(close + 1);
    if (*rest != '\0')
        return ac_err_set(e, AC_ECONFIG, "unexpected text '%.80s' after the section header",
                          rest);
    *close = '\0';
    name = ac_str_trim(line + 1);
    for (i = 0; ac_config_sections()[i] != NULL; i++) {
        size_t d = distance(name, ac_config_sections()[i]);

        if (strcmp(name, ac_config_sections()[i]) == 0)
            break;
        if (d < best_d)
            best_d = d, best = ac_config_sections()[i];
    }
    if (ac_config_sections()[i] == NULL) {
        if (best != NULL && close_enough(best_d, best))
            return ac_err_set(e, AC_ECONFIG, "unknown section [%.80s] (did you mean [%s]?)",
                              name, best);
        /* Every section, from the key table's list: "A, B, ... or Z". */
        char list[512] = "";
        size_t len = 0;
        for (int k = 0; ac_config_sections()[k] != NULL && len < sizeof list; k++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                    k == 0                                ? ""
                                    : ac_config_sections()[k + 1] == NULL ? " or "
                                                                          : ", ",
                                    ac_config_sections()[k]);
        return ac_err_set(e, AC_ECONFIG, "unknown section [%.80s] (expected %s)", name, list);
    }
    if (st->section_line[i] != 0)
        return ac_err_set(e, AC_ECONFIG, "duplicate section [%s] (first on line %d)", name,
                          st->section_line[i]);
    st->section = i;
    return 0;
}

/* unknown_key explains why key is not a key of section (NULL: outside any section). */
static int unknown_key(const char *key, const char *section, ac_err_t *e)
{
    const ac_config_entry_t *best = NULL;
    size_t best_d = SIZE_MAX;

    size_t n;
    const ac_config_entry_t *table = ac_config_table(&n);

    for (size_t i = 0; i < n; i++) {
        size_t d = distance(key, table[i].key);
        bool here = section != NULL && strcmp(table[i].section, section) == 0;

        /* On a tie, prefer the current section. */
        if (d < best_d || (d == best_d && here)) {
            best_d = d;
            best = &table[i];
        }
    }
    if (best != NULL && !close_enough(best_d, best->key))
        best = NULL;
    if (section == NULL) {
        if (best != NULL && strcmp(best->key, key) == 0)
            return ac_err_set(e, AC_ECONFIG,
                              "key '%s' outside any section (it belongs in [%s])", key,
                              best->section);
        return ac_err_set(e, AC_ECONFIG,
                          "key '%.80s' outside any section (start one with "
                          "a [SECTION] header)",
                          key);
    }
    if (best == NULL)
        return ac_err_set(e, AC_ECONFIG, "unknown key '%.80s' in [%s]", key, section);
    if (strcmp(best->key, key) == 0)
        return ac_err_set(e, AC_ECONFIG, "unknown key '%s' in [%s] (it belongs in [%s])", key,
                          section, best->section);
    if (strcmp(best->section, section) == 0)
        return ac_err_set(e, AC_ECONFIG, "unknown key '%.80s' in [%s] (did you mean '%s'?)",
                          key, section, best->key);
    return ac_err_set(e, AC_ECONFIG, "unknown key '%.80s' in [%s] (did you mean '%s' in [%s]?)",
                      key, section, best->key, best->section);
}

/* parse_line handles one line (NUL-terminated, no line end) at lineno. */
static int parse_line(struct parse_state *st, char *line, int lineno, ac_err_t *e)
{
    const ac_config_entry_t *en;
    char *eq, *key, *value;
    size_t len;

    line = ac_str_trim(line);
    if (line[0] == '\0' || line[0] == '#' || line[0] == ';')
        return 0;
    if (line[0] == '[') {
        int rc = section_header(st, line, e);

        if (rc == 0)
            st->section_line[st->section] = lineno;
        return rc;
    }
    eq = strchr(line, '=');
    if (eq == NULL)
        return ac_err_set(e, AC_ECONFIG,
                          "expected 'key = value', '[SECTION]' or a comment, got '%.80s'",
                          line);
    *eq = '\0';
    key = ac_str_trim(line);
    value = ac_str_trim(eq + 1);
    if (key[0] == '\0')
        return ac_err_set(e, AC_ECONFIG, "missing key name before '='");
    if (st->section < 0)
        return unknown_key(key, NULL, e);
    en = ac_config_find(ac_config_sections()[st->section], key);
    if (en == NULL)
        return unknown_key(key, ac_config_sections()[st->section], e);
    if (st->key_line[row(en)] != 0)
        return ac_err_set(e, AC_ECONFIG, "duplicate key '%s' in [%s] (first set on line %d)",
                          key, en->section, st->key_line[row(en)]);
    len = strlen(value);
    if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
        value[len - 1] = '\0';
        value++;
    }
    st->key_line[row(en)] = lineno;
    return ac_config_set_text(st->cfg, en, value, e);
}

int ac_config_parse(struct ac_config *c, const char *text, size_t len, const char *source,
                    ac_err_t *e)
{
    struct parse_state *st = NULL;
    struct ac_config *tmp = NULL;
    char *line = NULL;
    const char *p = text ? text : "", *end = p + (text ? len : 0);
    int lineno = 0, rc = 0;

    if (source == NULL)
        source = "(config)";
    st = calloc(1, sizeof *st);
    tmp = malloc(sizeof *tmp);
    line = malloc(LINE_MAX_BYTES + 1);
    if (st == NULL || tmp == NULL || line == NULL) {
        rc = ac_err_set(e, -ENOMEM, "%s: out of memory", source);
        goto out;
    }
    ac_config_default(tmp);
    st->cfg = tmp;
    st->section = -1;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);

        lineno++;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (memchr(p, '\0', n) != NULL) {
            rc = ac_err_set(e, AC_ECONFIG, "%s:%d: NUL byte in the line", source, lineno);
            goto out;
        }
        if (n > LINE_MAX_BYTES) {
            rc = ac_err_set(e, AC_ECONFIG, "%s:%d: line longer than %d bytes", source, lineno,
                            LINE_MAX_BYTES);
            goto out;
        }
        memcpy(line, p, n);
        line[n] = '\0';
        p = nl ? nl + 1 : end;
        rc = parse_line(st, line, lineno, e);
        if (rc != 0) {
            ac_err_prefix(e, "%s:%d", source, lineno);
            goto out;
        }
    }
    rc = ac_config_check(tmp, e);
    if (rc != 0) {
        /* Name the later of the two lines (the one that made the pair wrong). */
        int a = st->key_line[row(ac_config_find("WORKERS", "memory_budget_mib"))];
        int b = st->key_line[row(ac_config_find("WORKERS", "job_memory_mib"))];

        if (a > 0 || b > 0)
            ac_err_prefix(e, "%s:%d", source, a > b ? a : b);
        else
            ac_err_prefix(e, "%s", source);
        goto out;
    }
    *c = *tmp;
out:
    free(line);
    free(tmp);
    free(st);
    return rc;
}
