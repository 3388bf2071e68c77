/*
 * cloud.c - remote paths, catalogue URLs, rclone's arguments and its errors (cloud.h).
 * Pure: libc and common/ only. Any thread.
 */
#include "cloud.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

int ac_cloud_rel(const char *repo_dir, const char *file, char *out, size_t size)
{
    size_t n = repo_dir != NULL ? strlen(repo_dir) : 0;
    const char *rel;

    while (n > 1 && repo_dir[n - 1] == '/')
        n--;
    if (n > 0 && strncmp(file, repo_dir, n) == 0 && file[n] == '/') {
        rel = file + n;
        while (*rel == '/')
            rel++;
    } else {
        rel = ac_path_base(file);
    }
    if (rel[0] == '\0' || strlen(rel) >= size)
        return -ENAMETOOLONG;
    ac_strlcpy(out, rel, size);
    return 0;
}

int ac_cloud_prefix(const struct ac_config *c, char *out, size_t size, ac_err_t *e)
{
    const char *colon, *bucket;
    size_t n;
    int len;

    if (c->url_prefix[0] != '\0') {
        n = strlen(c->url_prefix);
        while (n > 0 && c->url_prefix[n - 1] == '/')
            n--;
        len = snprintf(out, size, "%.*s", (int)n, c->url_prefix);
        return len < 0 || (size_t)len >= size ? -ENAMETOOLONG : 0;
    }
    if (c->bucket_url[0] != '\0') { /* AstroFiler's own bucket (its ini's bucket_url) */
        n = strlen(c->bucket_url);
        while (n > 0 && c->bucket_url[n - 1] == '/')
            n--;
        len = snprintf(out, size, "%s%.*s", strstr(c->bucket_url, "://") ? "" : "gs://", (int)n,
                       c->bucket_url);
        return len < 0 || (size_t)len >= size ? -ENAMETOOLONG : 0;
    }
    if (c->remote[0] == '/') { /* rclone's local backend: file:///folder */
        n = strlen(c->remote);
        while (n > 1 && c->remote[n - 1] == '/')
            n--;
        len = snprintf(out, size, "file://%.*s", (int)n, c->remote);
        return len < 0 || (size_t)len >= size ? -ENAMETOOLONG : 0;
    }
    colon = strchr(c->remote, ':');
    if (colon == NULL)
        return ac_err_set(e, AC_ECONFIG,
                          "[CLOUD] url_prefix is empty and remote '%s' names no bucket: set "
                          "url_prefix to the URL prefix the catalogue uses for it",
                          c->remote);
    bucket = colon + 1;
    while (*bucket == '/')
        bucket++;
    n = strlen(bucket);
    while (n > 0 && bucket[n - 1] == '/')
        n--;
    if (n == 0)
        return ac_err_set(e, AC_ECONFIG,
                          "[CLOUD] remote '%s' names no bucket (gcs:BUCKET): set url_prefix",
                          c->remote);
    len = snprintf(out, size, "gs://%.*s", (int)n, bucket);
    return len < 0 || (size_t)len >= size ? -ENAMETOOLONG : 0;
}

int ac_cloud_url(const struct ac_config *c, const char *rel, char *out, size_t size,
                 ac_err_t *e)
{
    char prefix[1100];
    int rc, n;

    if ((rc = ac_cloud_prefix(c, prefix, sizeof prefix, e)) != 0)
        return rc;
    n = snprintf(out, size, "%s/%s", prefix, rel);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int ac_cloud_remote_path(const struct ac_config *c, const char *rel, char *out, size_t size)
{
    size_t n = strlen(c->remote);
    int len;

    while (n > 0 && c->remote[n - 1] == '/')
        n--;
    while (*rel == '/')
        rel++;
    /* "gcs:" + "a/b" is "gcs:a/b"; "gcs:bucket" + "a/b" is "gcs:bucket/a/b". */
    if (n > 0 && c->remote[n - 1] == ':')
        len = snprintf(out, size, "%.*s%s", (int)n, c->remote, rel);
    else
        len = snprintf(out, size, "%.*s/%s", (int)n, c->remote, rel);
    return len < 0 || (size_t)len >= size ? -ENAMETOOLONG : 0;
}

int ac_cloud_url_to_remote(const struct ac_config *c, const char *url, char *out, size_t size,
                           ac_err_t *e)
{
    char prefix[1100];
    size_t n;
    int rc;

    if ((rc = ac_cloud_prefix(c, prefix, sizeof prefix, e)) != 0)
        return rc;
    n = strlen(prefix);
    if (strncmp(url, prefix, n) != 0 || url[n] != '/' || url[n + 1] == '\0' ||
        strstr(url + n, "/../") != NULL)
        return ac_err_set(e, -EINVAL,
                          "cloud URL '%s' is not under '%s/' ([CLOUD] url_prefix or the "
                          "remote's bucket)",
                          url, prefix);
    if ((rc = ac_cloud_remote_path(c, url + n + 1, out, size)) != 0)
        return ac_err_set(e, rc, "cloud URL '%s': remote path too long", url);
    return 0;
}

int ac_cloud_argv(const struct ac_config *c, ac_cloud_verb_t verb, const char *a1,
                  const char *a2, const char **argv)
{
    int n = 0;

    argv[n++] = c->rclone_program;
    if (c->rclone_config[0] != '\0') {
        argv[n++] = "--config";
        argv[n++] = c->rclone_config;
    }
    if (c->bwlimit[0] != '\0') {
        argv[n++] = "--bwlimit";
        argv[n++] = c->bwlimit;
    }
    /* One try per run: the upload queue retries with its own back-off, and a check must
     * answer quickly. Errors only on stderr (it goes to the log). */
    argv[n++] = "--retries=1";
    argv[n++] = "--low-level-retries=2";
    argv[n++] = "--contimeout=15s";
    argv[n++] = "--timeout=120s";
    argv[n++] = "--log-level=ERROR";
    switch (verb) {
    case AC_CLOUD_LSF:
        argv[n++] = "lsf";
        argv[n++] = "--max-depth=1";
        argv[n++] = "--";
        argv[n++] = a1;
        break;
    case AC_CLOUD_COPYTO:
        argv[n++] = "copyto";
        argv[n++] = "--";
        argv[n++] = a1;
        argv[n++] = a2;
        break;
    case AC_CLOUD_STAT:
        argv[n++] = "lsjson";
        argv[n++] = "--stat";
        if (a2 != NULL) {
            argv[n++] = "--hash-type";
            argv[n++] = a2;
        }
        argv[n++] = "--";
        argv[n++] = a1;
        break;
    }
    argv[n] = NULL;
    return n;
}

static bool has(const char *text, const char *needle)
{
    return text != NULL && strcasestr(text, needle) != NULL;
}

ac_cloud_fault_t ac_cloud_classify(int exit_status, const char *t)
{
    if (exit_status == 0)
        return AC_CLOUD_FAULT_NONE;
    if (exit_status == 127 || has(t, "executable file not found"))
        return AC_CLOUD_FAULT_NO_PROGRAM;
    if (has(t, "didn't find section in config file") || has(t, "config file not found") ||
        has(t, "unknown remote"))
        return AC_CLOUD_FAULT_NO_REMOTE;
    if (has(t, "401") || has(t, "unauthorized") || has(t, "invalid_grant") ||
        has(t, "invalidaccesskeyid") || has(t, "signaturedoesnotmatch") ||
        has(t, "authentication failed") || has(t, "unable to authenticate") ||
        has(t, "invalid credentials") || has(t, "invalid_client"))
        return AC_CLOUD_FAULT_CREDENTIALS;
    if (has(t, "403") || has(t, "forbidden") || has(t, "permission denied") ||
        has(t, "accessdenied") || has(t, "access denied"))
        return AC_CLOUD_FAULT_PERMISSION;
    if (exit_status == AC_RCLONE_DIR_NOT_FOUND || exit_status == AC_RCLONE_FILE_NOT_FOUND ||
        has(t, "directory not found") || has(t, "object not found") || has(t, "nosuchbucket") ||
        has(t, "bucket does not exist") || has(t, "404"))
        return AC_CLOUD_FAULT_NOT_FOUND;
    if (exit_status == AC_RCLONE_TEMPORARY || has(t, "connection refused") ||
        has(t, "no such host") || has(t, "dial tcp") || has(t, "i/o timeout") ||
        has(t, "connection reset") || has(t, "network is unreachable") || has(t, "eof") ||
        has(t, "timeout"))
        return AC_CLOUD_FAULT_NETWORK;
    return AC_CLOUD_FAULT_OTHER;
}

bool ac_cloud_fault_transient(ac_cloud_fault_t f)
{
    return f == AC_CLOUD_FAULT_NETWORK || f == AC_CLOUD_FAULT_TIMEOUT ||
           f == AC_CLOUD_FAULT_OTHER;
}

const char *ac_cloud_fault_text(ac_cloud_fault_t f)
{
    switch (f) {
    case AC_CLOUD_FAULT_NONE:
        return "ok";
    case AC_CLOUD_FAULT_NOT_FOUND:
        return "not found";
    case AC_CLOUD_FAULT_PERMISSION:
        return "permission denied";
    case AC_CLOUD_FAULT_CREDENTIALS:
        return "bad credentials";
    case AC_CLOUD_FAULT_NO_REMOTE:
        return "no such rclone remote";
    case AC_CLOUD_FAULT_NETWORK:
        return "network error";
    case AC_CLOUD_FAULT_TIMEOUT:
        return "time limit exceeded";
    case AC_CLOUD_FAULT_NO_PROGRAM:
        return "rclone not installed";
    case AC_CLOUD_FAULT_OTHER:
        break;
    }
    return "rclone failed";
}

void ac_cloud_last_error(const char *t, char *out, size_t size)
{
    const char *best = NULL, *best_end = NULL, *line = t;

    out[0] = '\0';
    if (t == NULL)
        return;
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        if (end == NULL)
            end = line + strlen(line);
        if (end > line)
            best = line, best_end = end;
        line = *end != '\0' ? end + 1 : end;
    }
    if (best == NULL)
        return;
    /* "2026/12/07 10:56:57 ERROR : ..." -> "ERROR : ...". */
    if (best_end - best > 20 && best[4] == '/' && best[7] == '/' && best[10] == ' ' &&
        best[13] == ':' && best[19] == ' ')
        best += 20;
    snprintf(out, size, "%.*s", (int)(best_end - best), best);
}
