/*
 * config.c - astrocald.conf values to and from text, checks, reload rules and printing (see
 * config.h for the file format and the contracts; the key table is config_table.c, the
 * parser config_parse.c, reading the file io/conffile.c).
 *
 * Pure core: libc and common/ only. No global. Any thread.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grade.h"
#include "log.h"
#include "util.h"

/* num_text writes v in its shortest exact decimal form ("0.05", "1000000"); with point a
 * whole value gets ".0" ("16.0"), as Python (AstroFiler) writes floats. */
static void num_text(double v, bool point, char *buf, size_t size)
{
    if (fabs(v) >= 1e-4 && fabs(v) < 1e16) {
        for (int d = 0; d <= 17; d++) {
            snprintf(buf, size, "%.*f", d, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    } else {
        for (int p = 1; p <= 17; p++) {
            snprintf(buf, size, "%.*g", p, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
    if (point && strpbrk(buf, ".en") == NULL) {
        size_t len = strlen(buf);
        if (len + 2 < size)
            memcpy(buf + len, ".0", 3);
    }
}

/* bad records "KEY: EXPECTED, got 'TEXT'" and returns AC_ECONFIG. */
static int bad(ac_err_t *e, const ac_config_entry_t *en, const char *text, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(ac_err_t *e, const ac_config_entry_t *en, const char *text, const char *fmt, ...)
{
    char what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return ac_err_set(e, AC_ECONFIG, "%s: %s, got '%.80s%s'", en->key, what, text,
                      strlen(text) > 80 ? "..." : "");
}

static bool parse_bool(const char *s, bool *b)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *b = true, true;
        if (strcasecmp(s, no[i]) == 0)
            return *b = false, true;
    }
    return false;
}

/* parse_ll reads a whole decimal number filling all of s. */
static bool parse_ll(const char *s, long long *v)
{
    char *end;

    errno = 0;
    *v = strtoll(s, &end, 10);
    return end != s && *end == '\0' && errno == 0 && !isspace((unsigned char)s[0]);
}

static bool parse_num(const char *s, double *v)
{
    char *end;

    errno = 0;
    *v = strtod(s, &end);
    return end != s && *end == '\0' && errno == 0 && isfinite(*v) &&
           !isspace((unsigned char)s[0]);
}

/* parse_mib reads "2048", "512M", "512 MiB", "2G" or "2 GiB" as MiB. */
static bool parse_mib(const char *s, long long *v)
{
    char digits[32];
    size_t n = strspn(s, "0123456789");
    const char *unit = s + n;
    long long mult = 1;

    if (n == 0 || n >= sizeof digits)
        return false;
    memcpy(digits, s, n);
    digits[n] = '\0';
    while (*unit == ' ' || *unit == '\t')
        unit++;
    if (*unit == '\0' || strcasecmp(unit, "m") == 0 || strcasecmp(unit, "mib") == 0)
        mult = 1;
    else if (strcasecmp(unit, "g") == 0 || strcasecmp(unit, "gib") == 0)
        mult = 1024;
    else
        return false;
    if (!parse_ll(digits, v) || *v > (1LL << 40))
        return false;
    *v *= mult;
    return true;
}

static int set_string(char *f, const ac_config_entry_t *en, const char *s, ac_err_t *e)
{
    size_t len = strlen(s);

    if (len < (size_t)en->min)
        return ac_err_set(e, AC_ECONFIG, "%s: must not be empty", en->key);
    if (len > (size_t)en->max)
        return ac_err_set(e, AC_ECONFIG, "%s: expected at most %d bytes, got %zu bytes",
                          en->key, (int)en->max, len);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return bad(e, en, s, "control characters are not allowed");
    if ((en->flags & AC_CFG_NO_SLASH) && strchr(s, '/') != NULL)
        return bad(e, en, s, "expected a file name suffix without '/'");
    memcpy(f, s, len + 1);
    return 0;
}

/* names_text joins a NULL-terminated name list with sep. */
static void names_text(const char *const *names, const char *sep, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; names[i] != NULL; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", i ? sep : "", names[i]);
    }
}

static int set_list(unsigned *f, const ac_config_entry_t *en, const char *s, ac_err_t *e)
{
    char copy[256], all[128];
    unsigned bits = 0;
    char *save = NULL, *item;

    names_text(en->names, ", ", all, sizeof all);
    if (ac_strlcpy(copy, s, sizeof copy) >= sizeof copy || strstr(s, ",,") != NULL ||
        s[0] == ',' || (s[0] != '\0' && s[strlen(s) - 1] == ','))
        goto fail;
    for (item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        size_t i;

        item = ac_str_trim(item);
        for (i = 0; en->names[i] != NULL; i++)
            if (strcasecmp(item, en->names[i]) == 0)
                break;
        if (en->names[i] == NULL)
            goto fail;
        bits |= (unsigned)en->values[i];
    }
    if (bits == 0)
        goto fail;
    *f = bits;
    return 0;
fail:
    return bad(e, en, s, "expected a comma-separated list of one or more of %s", all);
}

int ac_config_set_text(struct ac_config *c, const ac_config_entry_t *en, const char *s,
                       ac_err_t *e)
{
    char *f = (char *)c + en->offset;
    char lo[64], hi[64], all[128];
    long long ll;
    double d;
    bool b;

    num_text(en->min, false, lo, sizeof lo);
    num_text(en->max, false, hi, sizeof hi);
    switch (en->type) {
    case AC_CFG_BOOL:
        if (!parse_bool(s, &b))
            return bad(e, en, s, "expected True or False (or true/false, yes/no, on/off, 1/0)");
        *(bool *)f = b;
        return 0;
    case AC_CFG_INT:
        if (!parse_ll(s, &ll) || ll < en->min || ll > en->max)
            return bad(e, en, s, "expected a whole number from %s to %s", lo, hi);
        *(int *)f = (int)ll;
        return 0;
    case AC_CFG_DOUBLE:
        if (en->flags & AC_CFG_MIN_EXCLUSIVE) {
            if (!parse_num(s, &d) || d <= en->min || d > en->max)
                return bad(e, en, s, "expected a number above %s and at most %s", lo, hi);
        } else if (!parse_num(s, &d) || d < en->min || d > en->max) {
            return bad(e, en, s, "expected a number from %s to %s", lo, hi);
        }
        *(double *)f = d;
        return 0;
    case AC_CFG_STRING:
    case AC_CFG_PATH:
        return set_string(f, en, s, e);
    case AC_CFG_ENUM:
        for (int i = 0; en->names[i] != NULL; i++) {
            if (strcasecmp(s, en->names[i]) == 0) {
                *(int *)f = en->values ? en->values[i] : i;
                return 0;
            }
        }
        names_text(en->names, ", ", all, sizeof all);
        return bad(e, en, s, "expected one of %s", all);
    case AC_CFG_SIZE_MIB:
        if (!parse_mib(s, &ll) || ll < en->min || ll > en->max)
            return bad(e, en, s, "expected a size in MiB from %s to %s (or with a G suffix)",
                       lo, hi);
        *(uint64_t *)f = (uint64_t)ll;
        return 0;
    case AC_CFG_MODE:
        if (s[0] == '\0' || strlen(s) > 4 || strspn(s, "01234567") != strlen(s) ||
            (ll = strtoll(s, NULL, 8)) < en->min || ll > en->max)
            return bad(e, en, s, "expected an octal mode from %04o to %04o, like 0660",
                       (unsigned)en->min, (unsigned)en->max);
        *(int *)f = (int)ll;
        return 0;
    case AC_CFG_PEDESTAL: {
        struct ac_cfg_pedestal *p = (struct ac_cfg_pedestal *)f;

        if (strcasecmp(s, "none") == 0) {
            p->mode = AC_PEDESTAL_NONE;
            p->adu = 0;
        } else if (strcasecmp(s, "auto") == 0) {
            p->mode = AC_PEDESTAL_AUTO;
            p->adu = 0;
        } else if (parse_num(s, &d) && d >= en->min && d <= en->max) {
            p->mode = AC_PEDESTAL_FIXED;
            p->adu = d;
        } else {
            return bad(e, en, s, "expected none, auto or a number of ADU from %s to %s", lo,
                       hi);
        }
        return 0;
    }
    case AC_CFG_LIST:
        return set_list((unsigned *)f, en, s, e);
    default:
        return ac_err_set(e, AC_ECONFIG, "%s: unknown type %d", en->key, en->type);
    }
}

/* quote_needed says whether a string value must be written in double quotes to read back
 * the same: empty, outer blanks, or outer quotes of its own. */
static bool quote_needed(const char *s)
{
    size_t len = strlen(s);

    return len == 0 || s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' || s[len - 1] == '\t' ||
           (len >= 2 && s[0] == '"' && s[len - 1] == '"');
}

int ac_config_get_text(const struct ac_config *c, const ac_config_entry_t *en, char *buf,
                       size_t size)
{
    const char *f = (const char *)c + en->offset;
    char num[64];
    int n = 0;

    if (buf == NULL || size == 0)
        return -ERANGE;
    buf[0] = '\0';
    switch (en->type) {
    case AC_CFG_BOOL:
        n = snprintf(buf, size, "%s", *(const bool *)f ? "True" : "False");
        break;
    case AC_CFG_INT:
        n = snprintf(buf, size, "%d", *(const int *)f);
        break;
    case AC_CFG_DOUBLE:
        num_text(*(const double *)f, true, num, sizeof num);
        n = snprintf(buf, size, "%s", num);
        break;
    case AC_CFG_STRING:
    case AC_CFG_PATH:
        n = snprintf(buf, size, quote_needed(f) ? "\"%s\"" : "%s", f);
        break;
    case AC_CFG_ENUM: {
        int v = *(const int *)f, i;

        for (i = 0; en->names[i] != NULL; i++)
            if ((en->values ? en->values[i] : i) == v)
                break;
        n = en->names[i] ? snprintf(buf, size, "%s", en->names[i])
                         : snprintf(buf, size, "%d", v);
        break;
    }
    case AC_CFG_SIZE_MIB:
        n = snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)f);
        break;
    case AC_CFG_MODE:
        n = snprintf(buf, size, "%04o", (unsigned)*(const int *)f);
        break;
    case AC_CFG_PEDESTAL: {
        const struct ac_cfg_pedestal *p = (const struct ac_cfg_pedestal *)f;

        num_text(p->adu, true, num, sizeof num);
        n = snprintf(buf, size, "%s",
                     p->mode == AC_PEDESTAL_AUTO    ? "auto"
                     : p->mode == AC_PEDESTAL_FIXED ? num
                                                    : "none");
        break;
    }
    case AC_CFG_LIST: {
        unsigned bits = *(const unsigned *)f;

        for (int i = 0; en->names[i] != NULL; i++) {
            size_t len = strlen(buf);

            if (bits & (unsigned)en->values[i])
                n = (int)len +
                    snprintf(buf + len, size - len, "%s%s", len ? "," : "", en->names[i]);
            if ((size_t)n >= size)
                break;
        }
        break;
    }
    default:
        n = snprintf(buf, size, "?");
    }
    return n < 0 || (size_t)n >= size ? -ERANGE : 0;
}

bool ac_config_equal(const struct ac_config *a, const struct ac_config *b,
                     const ac_config_entry_t *en)
{
    const char *fa = (const char *)a + en->offset, *fb = (const char *)b + en->offset;

    switch (en->type) {
    case AC_CFG_DOUBLE:
        return *(const double *)fa == *(const double *)fb;
    case AC_CFG_STRING:
    case AC_CFG_PATH:
        return strcmp(fa, fb) == 0;
    case AC_CFG_PEDESTAL: {
        const struct ac_cfg_pedestal *pa = (const void *)fa, *pb = (const void *)fb;

        return pa->mode == pb->mode && (pa->mode != AC_PEDESTAL_FIXED || pa->adu == pb->adu);
    }
    default: /* bool, int, unsigned, uint64_t: no padding */
        return memcmp(fa, fb, en->size) == 0;
    }
}

void ac_config_default(struct ac_config *c)
{
    size_t ntable;
    const ac_config_entry_t *table = ac_config_table(&ntable);
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < ntable; i++) {
        char def[64];
        const char *s = table[i].def;
        size_t len = strlen(s);
        int rc;

        /* The defaults are written as in astrocald.conf: strip the quotes of "". */
        if (len >= 2 && s[0] == '"' && s[len - 1] == '"' && len - 2 < sizeof def) {
            memcpy(def, s + 1, len - 2);
            def[len - 2] = '\0';
            s = def;
        }
        rc = ac_config_set_text(c, &table[i], s, NULL);
        (void)rc;
        assert(rc == 0 && "invalid default in the config table");
    }
}

int ac_config_check(const struct ac_config *c, ac_err_t *e)
{
    if (c->job_memory_mib > c->memory_budget_mib)
        return ac_err_set(
            e, AC_ECONFIG, "job_memory_mib (%llu) must not exceed memory_budget_mib (%llu)",
            (unsigned long long)c->job_memory_mib, (unsigned long long)c->memory_budget_mib);
    if (c->socket_mode & 02)
        return ac_err_set(e, AC_ECONFIG,
                          "socket_mode: %04o lets every local user connect to the control "
                          "socket (others may write); use 0660 and let reader_group and "
                          "admin_group say who may do what",
                          (unsigned)c->socket_mode);
    if (c->on_session_done[0] != '\0' && c->on_session_done[0] != '/')
        return ac_err_set(e, AC_ECONFIG, "on_session_done: '%s' is not an absolute path",
                          c->on_session_done);
    if (c->on_failure[0] != '\0' && c->on_failure[0] != '/')
        return ac_err_set(e, AC_ECONFIG, "on_failure: '%s' is not an absolute path",
                          c->on_failure);
    {
        /* watch_dirs: every folder absolute (checked here so --check-config sees it). */
        const char *p = c->watch_dirs;
        while (*p != '\0') {
            const char *end = strchr(p, ',');
            size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
            while (n > 0 && (*p == ' ' || *p == '\t')) {
                p++;
                n--;
            }
            if (n > 0 && *p != '/')
                return ac_err_set(e, AC_ECONFIG, "watch_dirs: '%.*s' is not an absolute path",
                                  (int)n, p);
            if (end == NULL)
                break;
            p = end + 1;
        }
    }
    if (c->enabled && c->remote[0] == '\0')
        return ac_err_set(e, AC_ECONFIG,
                          "[CLOUD] enabled = True needs a remote (e.g. gcs:BUCKET, see "
                          "docs/user-guide.md \"Cloud\")");
    if (c->remote[0] != '\0' && c->remote[0] != '/' && strchr(c->remote, ':') == NULL)
        return ac_err_set(e, AC_ECONFIG,
                          "remote: '%s' is neither an rclone remote (NAME:PATH) nor an "
                          "absolute folder",
                          c->remote);
    if (c->remote[0] == '-' || c->rclone_config[0] == '-')
        return ac_err_set(e, AC_ECONFIG, "remote and rclone_config may not start with '-'");
    return 0;
}

/* ---- Reload, dump, calibration options ------------------------------------------------- */

/* list_add appends name to a ", "-separated list, ending it with "..." when full. */
static void list_add(char *buf, size_t size, const char *name)
{
    size_t len;
    int n;

    if (buf == NULL || size == 0)
        return;
    len = strlen(buf);
    if (len >= 3 && strcmp(buf + len - 3, "...") == 0)
        return;
    n = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", name);
    if (n >= 0 && (size_t)n < size - len)
        return;
    buf[len] = '\0';
    if (size < 4) {
        buf[0] = '\0';
        return;
    }
    if (len + 4 > size)
        len = size - 4;
    memcpy(buf + len, "...", 4);
}

int ac_config_apply_reload(struct ac_config *live, const struct ac_config *fresh, char *changed,
                           size_t changed_size, char *ignored, size_t ignored_size)
{
    size_t ntable;
    const ac_config_entry_t *table = ac_config_table(&ntable);
    int n = 0;

    if (changed != NULL && changed_size > 0)
        changed[0] = '\0';
    if (ignored != NULL && ignored_size > 0)
        ignored[0] = '\0';
    for (size_t i = 0; i < ntable; i++) {
        const ac_config_entry_t *en = &table[i];

        if (ac_config_equal(live, fresh, en))
            continue;
        if (!en->reloadable) {
            list_add(ignored, ignored_size, en->key);
            continue;
        }
        memcpy((char *)live + en->offset, (const char *)fresh + en->offset, en->size);
        list_add(changed, changed_size, en->key);
        n++;
    }
    return n;
}

int ac_config_dump(const struct ac_config *c, FILE *f)
{
    size_t ntable;
    const ac_config_entry_t *table = ac_config_table(&ntable);
    const char *const *sections = ac_config_sections();
    char *value = malloc(AC_CONFIG_TEXT_MAX);

    if (value == NULL)
        return -ENOMEM;
    for (int s = 0; sections[s] != NULL; s++) {
        fprintf(f, "%s[%s]\n", s ? "\n" : "", sections[s]);
        for (size_t i = 0; i < ntable; i++) {
            if (strcmp(table[i].section, sections[s]) != 0)
                continue;
            ac_config_get_text(c, &table[i], value, AC_CONFIG_TEXT_MAX);
            fprintf(f, "%s = %s\n", table[i].key, value);
        }
    }
    free(value);
    return fflush(f) != 0 || ferror(f) ? -EIO : 0;
}

int ac_config_to_calib_opts(const struct ac_config *c, ac_calib_opts_t *o)
{
    ac_calib_opts_default(o);
    o->dark_k_max = c->dark_max_scale;
    o->dark_optimize = c->dark_optimize;
    o->flat_floor = c->flat_floor;
    o->pedestal_mode = c->pedestal.mode;
    o->pedestal = c->pedestal.mode == AC_PEDESTAL_FIXED ? c->pedestal.adu : 0.0;
    o->dark_has_bias = c->dark_has_bias;
    o->flat_is_calibrated = c->flat_calibrated;
    o->cosmetic = c->cosmetic;
    o->cosmetic_sigma = c->cosmetic_sigma;
    o->max_temp_diff = c->max_temperature_difference;
    o->force = false;
    return 0;
}
