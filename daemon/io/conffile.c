/* conffile.c - reading astrocald.conf from disk (see conffile.h). */
#include "conffile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define FILE_MAX_BYTES (1024 * 1024)

int ac_config_load(struct ac_config *c, const char *path, ac_err_t *e)
{
    FILE *f = NULL;
    char *buf = NULL;
    size_t n = 0;
    int rc;

    f = fopen(path, "rb");
    if (f == NULL) {
        rc = -errno;
        ac_err_set(e, rc, "%s: cannot read: %s", path, strerror(-rc));
        goto out;
    }
    buf = malloc(FILE_MAX_BYTES + 1);
    if (buf == NULL) {
        rc = ac_err_set(e, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    n = fread(buf, 1, FILE_MAX_BYTES + 1, f);
    if (ferror(f)) {
        rc = errno ? -errno : -EIO;
        ac_err_set(e, rc, "%s: cannot read: %s", path, strerror(-rc));
        goto out;
    }
    if (n > FILE_MAX_BYTES) {
        rc = ac_err_set(e, AC_ECONFIG, "%s: larger than 1 MiB, not a configuration file", path);
        goto out;
    }
    rc = ac_config_parse(c, buf, n, path, e);
out:
    free(buf);
    if (f != NULL)
        fclose(f);
    return rc;
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

/* check_program: path, when set, is a regular file astrocald may execute. */
static int check_program(const char *key, const char *path, ac_err_t *e)
{
    struct stat st;

    if (path[0] == '\0')
        return 0;
    if (stat(path, &st) != 0)
        return ac_err_set(e, AC_ECONFIG, "%s: '%s': %s", key, path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return ac_err_set(e, AC_ECONFIG, "%s: '%s' is not a regular file", key, path);
    if (access(path, X_OK) != 0)
        return ac_err_set(e, AC_ECONFIG, "%s: '%s' is not executable: %s", key, path,
                          strerror(errno));
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
        (rc = check_dir("[MASTERS] masters_dir", c->masters_dir, false, e)) != 0 ||
        (rc = check_program("[NOTIFY] on_session_done", c->on_session_done, e)) != 0 ||
        (rc = check_program("[NOTIFY] on_failure", c->on_failure, e)) != 0)
        return rc;
    ac_strlcpy(buf, c->watch_dirs, sizeof buf);
    for (char *d = strtok_r(buf, ",", &save); d != NULL; d = strtok_r(NULL, ",", &save)) {
        d = ac_str_trim(d);
        if (d[0] != '\0' && (rc = check_dir("[INGEST] watch_dirs", d, true, e)) != 0)
            return rc;
    }
    return 0;
}
