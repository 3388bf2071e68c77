/* conffile.c - reading astrocald.conf from disk (see conffile.h). */
#include "conffile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "afini.h"
#include "util.h"

#define FILE_MAX_BYTES (1024 * 1024)

/* --astrofiler-ini (ac_config_set_ini_override); NULL when not given. */
static const char *ini_override;

/* What each astrofiler.ini key fills. */
static const struct {
    int ini;
    const char *section, *key;
} ini_map[] = {
    {AC_AFINI_REPO, "DAEMON", "repository_dir"},
    {AC_AFINI_SOURCE, "INGEST", "watch_dirs"},
    {AC_AFINI_BUCKET_URL, "DAEMON", "bucket_url"},
};

void ac_config_set_ini_override(const char *path)
{
    ini_override = path;
}

/* read_text reads the file at path (at most 1 MiB) into *buf (malloc'd, *n bytes). */
static int read_text(const char *path, char **buf, size_t *n, ac_err_t *e)
{
    FILE *f = NULL;
    int rc = 0;

    *buf = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        rc = -errno;
        ac_err_set(e, rc, "%s: cannot read: %s", path, strerror(-rc));
        goto out;
    }
    *buf = malloc(FILE_MAX_BYTES + 1);
    if (*buf == NULL) {
        rc = ac_err_set(e, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    *n = fread(*buf, 1, FILE_MAX_BYTES + 1, f);
    if (ferror(f)) {
        rc = errno ? -errno : -EIO;
        ac_err_set(e, rc, "%s: cannot read: %s", path, strerror(-rc));
        goto out;
    }
    if (*n > FILE_MAX_BYTES)
        rc = ac_err_set(e, AC_ECONFIG, "%s: larger than 1 MiB, not a configuration file", path);
out:
    if (rc != 0) {
        free(*buf);
        *buf = NULL;
    }
    if (f != NULL)
        fclose(f);
    return rc;
}

/* row_of is the index of a row in the table. */
static size_t row_of(const ac_config_entry_t *en)
{
    return (size_t)(en - ac_config_table(NULL));
}

/* apply_ini reads c->astrofiler_ini (or the override) and sets the keys it fills that
 * astrocald.conf did not set (key_line 0), recording their origins. */
static int apply_ini(struct ac_config *c, const int *key_line, ac_config_origin_t *o,
                     ac_err_t *e)
{
    const ac_config_entry_t *ini_row = ac_config_find("DAEMON", "astrofiler_ini");
    char path[4096], dir[4096], cwd[4096];
    ac_afini_t *af = NULL;
    char *text = NULL;
    size_t n = 0;
    int rc;

    if (ini_override != NULL) {
        if (ac_strlcpy(c->astrofiler_ini, ini_override, sizeof c->astrofiler_ini) >=
            sizeof c->astrofiler_ini)
            return ac_err_set(e, AC_ECONFIG, "--astrofiler-ini: path too long");
        if (o != NULL)
            o[row_of(ini_row)] = (ac_config_origin_t){AC_ORIGIN_OPTION, 0, NULL};
    }
    if (c->astrofiler_ini[0] == '\0')
        return 0;
    if (c->astrofiler_ini[0] != '/' && getcwd(cwd, sizeof cwd) != NULL)
        snprintf(path, sizeof path, "%s/%s", cwd, c->astrofiler_ini);
    else
        ac_strlcpy(path, c->astrofiler_ini, sizeof path);
    ac_path_dir(path, dir, sizeof dir);
    if ((rc = read_text(path, &text, &n, e)) != 0) {
        ac_err_prefix(e, "[DAEMON] astrofiler_ini");
        return rc == -ENOMEM ? rc : AC_ECONFIG;
    }
    af = malloc(sizeof *af);
    if (af == NULL) {
        free(text);
        return ac_err_set(e, -ENOMEM, "out of memory");
    }
    rc = ac_afini_parse(text, n, path, dir, af, e);
    for (size_t i = 0; rc == 0 && i < sizeof ini_map / sizeof ini_map[0]; i++) {
        const ac_config_entry_t *en = ac_config_find(ini_map[i].section, ini_map[i].key);
        int k = ini_map[i].ini;

        if (af->line[k] == 0 || key_line[row_of(en)] != 0)
            continue; /* not in the ini, or astrocald.conf sets it: that wins */
        if ((rc = ac_config_set_text(c, en, af->value[k], e)) != 0) {
            ac_err_prefix(e, "%s:%d: [DEFAULT] %s", path, af->line[k], ac_afini_key(k));
            break;
        }
        if (o != NULL)
            o[row_of(en)] = (ac_config_origin_t){AC_ORIGIN_INI, af->line[k], ac_afini_key(k)};
    }
    if (rc == 0 && (rc = ac_config_check(c, e)) != 0)
        ac_err_prefix(e, "%s", path);
    free(af);
    free(text);
    return rc;
}

int ac_config_load(struct ac_config *c, const char *path, ac_err_t *e)
{
    return ac_config_load_origins(c, path, NULL, e);
}

int ac_config_load_origins(struct ac_config *c, const char *path, ac_config_origin_t *origins,
                           ac_err_t *e)
{
    int key_line[AC_CONFIG_MAX_KEYS];
    struct ac_config tmp;
    char *buf = NULL;
    size_t n = 0, nrows;
    int rc;

    if ((rc = read_text(path, &buf, &n, e)) != 0)
        return rc;
    rc = ac_config_parse_lines(&tmp, buf, n, path, key_line, e);
    free(buf);
    if (rc != 0)
        return rc;
    ac_config_table(&nrows);
    for (size_t i = 0; origins != NULL && i < nrows; i++)
        origins[i] = (ac_config_origin_t){key_line[i] ? AC_ORIGIN_FILE : AC_ORIGIN_DEFAULT,
                                          key_line[i], NULL};
    if ((rc = apply_ini(&tmp, key_line, origins, e)) != 0)
        return rc;
    *c = tmp;
    return 0;
}

int ac_config_print_origins(FILE *f, const struct ac_config *c, const char *path,
                            const ac_config_origin_t *origins)
{
    char *value = malloc(AC_CONFIG_TEXT_MAX);
    size_t nrows;
    const ac_config_entry_t *t = ac_config_table(&nrows);

    if (value == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < nrows; i++) {
        const ac_config_origin_t *o = &origins[i];

        ac_config_get_text(c, &t[i], value, AC_CONFIG_TEXT_MAX);
        fprintf(f, "[%s] %s = %s  (", t[i].section, t[i].key, value);
        if (o->kind == AC_ORIGIN_FILE)
            fprintf(f, "%s:%d", path, o->line);
        else if (o->kind == AC_ORIGIN_INI)
            fprintf(f, "%s:%d [DEFAULT] %s", c->astrofiler_ini, o->line, o->ini_key);
        else if (o->kind == AC_ORIGIN_OPTION)
            fputs("--astrofiler-ini", f);
        else
            fputs("default", f);
        fputs(")\n", f);
    }
    free(value);
    return fflush(f) != 0 ? -EIO : 0;
}

/* check_file: path, when it exists, is a regular file astrocald can read and write; when it
 * does not, its folder exists and is writable (so it can be created). Empty passes. */
static int check_file(const char *key, const char *path, ac_err_t *e)
{
    struct stat st;
    char dir[4096];

    if (path[0] == '\0')
        return 0;
    if (stat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode))
            return ac_err_set(e, AC_ECONFIG, "%s: '%s' is not a regular file", key, path);
        if (access(path, R_OK | W_OK) != 0)
            return ac_err_set(e, AC_ECONFIG, "%s: '%s' is not readable and writable: %s", key,
                              path, strerror(errno));
        return 0;
    }
    if (errno != ENOENT)
        return ac_err_set(e, AC_ECONFIG, "%s: '%s': %s", key, path, strerror(errno));
    ac_path_dir(path, dir, sizeof dir);
    if (stat(dir, &st) != 0)
        return ac_err_set(e, AC_ECONFIG, "%s: the folder of '%s' does not exist: %s", key, path,
                          strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return ac_err_set(e, AC_ECONFIG, "%s: '%s' is not a folder", key, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return ac_err_set(e, AC_ECONFIG, "%s: cannot create '%s' in '%s': %s", key,
                          ac_path_base(path), dir, strerror(errno));
    return 0;
}

/* check_dir: path, when set, is a folder astrocald can write into (or a folder it can
 * create: its parent exists and is writable); with watched, a folder it can read, or one
 * that does not exist yet (ingest waits for it). */
static int check_dir(const char *key, const char *path, bool watched, ac_err_t *e)
{
    struct stat st;
    char parent[4096];

    if (path[0] == '\0')
        return 0;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return ac_err_set(e, AC_ECONFIG, "%s: '%s' is not a folder", key, path);
        if (access(path, watched ? R_OK | X_OK : W_OK | X_OK) != 0)
            return ac_err_set(e, AC_ECONFIG, "%s: '%s': %s", key, path, strerror(errno));
        return 0;
    }
    if (errno != ENOENT)
        return ac_err_set(e, AC_ECONFIG, "%s: '%s': %s", key, path, strerror(errno));
    if (watched)
        return 0;
    ac_path_dir(path, parent, sizeof parent);
    if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode) || access(parent, W_OK | X_OK) != 0)
        return ac_err_set(e, AC_ECONFIG,
                          "%s: '%s' does not exist and cannot be created in '%s'", key, path,
                          parent);
    return 0;
}

int ac_conffile_check_paths(const struct ac_config *c, ac_err_t *e)
{
    char buf[sizeof c->watch_dirs];
    char *save = NULL;
    int rc;

    if ((rc = check_file("[DAEMON] database", c->database, e)) != 0 ||
        (rc = check_dir("[DAEMON] state_dir", c->state_dir, false, e)) != 0 ||
        (rc = check_dir("[DAEMON] output_dir", c->output_dir, false, e)) != 0 ||
        (rc = check_dir("[MASTERS] masters_dir", c->masters_dir, false, e)) != 0)
        return rc;
    ac_strlcpy(buf, c->watch_dirs, sizeof buf);
    for (char *d = strtok_r(buf, ",", &save); d != NULL; d = strtok_r(NULL, ",", &save)) {
        d = ac_str_trim(d);
        if (d[0] != '\0' && (rc = check_dir("[INGEST] watch_dirs", d, true, e)) != 0)
            return rc;
    }
    return 0;
}
