/*
 * preview.c - astrocalctl preview (see preview.h).
 */
#include "preview.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* absolute_path returns path made absolute against the current directory (owned). */
static char *absolute_path(const char *path)
{
    char cwd[PATH_MAX], *out = NULL;

    if (path[0] == '/')
        return strdup(path);
    if (getcwd(cwd, sizeof cwd) == NULL || asprintf(&out, "%s/%s", cwd, path) < 0)
        return NULL;
    return out;
}

/* set_ref stores an ID, or a path made absolute (it contains '/' or ends in .fits/.fit/.fz). */
static int set_ref(json_t *args, const char *key, const char *text)
{
    char v[PATH_MAX];
    size_t n = strlen(text);
    bool path;

    snprintf(v, sizeof v, "%s", text); /* text belongs to the value replaced below */
    path = strchr(v, '/') != NULL || (n > 5 && strcmp(v + n - 5, ".fits") == 0) ||
           (n > 4 && strcmp(v + n - 4, ".fit") == 0) ||
           (n > 3 && strcmp(v + n - 3, ".fz") == 0);
    char *abs = path ? absolute_path(v) : NULL;

    if (path && abs == NULL)
        return -ENOMEM;
    json_object_set_new(args, key, json_string(path ? abs : v));
    free(abs);
    return 0;
}

const char *ac_ctl_preview_check(json_t *args)
{
    static const char *const refs[] = {"light", "bias", "dark", "flat", "flatdark"};

    if ((json_object_get(args, "light") != NULL) == (json_object_get(args, "session") != NULL))
        return "preview needs a LIGHT (id or path) or --session ID, not both";
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        const char *v = json_string_value(json_object_get(args, refs[i]));
        if (v != NULL && set_ref(args, refs[i], v) != 0)
            return "preview: cannot make a path absolute";
    }
    return NULL;
}

/* write_file writes len bytes to path through a temporary file in its folder. */
static int write_file(const char *path, const unsigned char *p, size_t len)
{
    char tmp[PATH_MAX + 32];
    int fd, err = 0;

    if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    fd = mkstemp(tmp);
    if (fd < 0)
        return -errno;
    while (len > 0 && err == 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            err = -errno;
        else {
            p += w;
            len -= (size_t)w;
        }
    }
    {
        mode_t um = umask(022); /* mkstemp made it 0600: give it the usual mode */
        umask(um);
        if (err == 0 && fchmod(fd, 0666 & ~um) != 0)
            err = -errno;
    }
    if (close(fd) != 0 && err == 0)
        err = -errno;
    if (err == 0 && rename(tmp, path) != 0)
        err = -errno;
    if (err != 0)
        unlink(tmp);
    return err;
}

int ac_ctl_preview_write(FILE *out, json_t *result, const char *png, bool json)
{
    const char *b64 = json_string_value(json_object_get(result, "png_base64"));
    unsigned char *bytes = NULL;
    size_t len = 0;
    int rc;

    if (b64 == NULL || ac_base64_decode(b64, strlen(b64), &bytes, &len) != 0 || len < 8 ||
        memcmp(bytes, "\x89PNG", 4) != 0) {
        fprintf(stderr, "astrocalctl: the daemon's preview is not a PNG\n");
        free(bytes);
        return 1;
    }
    rc = write_file(png, bytes, len);
    free(bytes);
    if (rc != 0) {
        fprintf(stderr, "astrocalctl: cannot write %s: %s\n", png, strerror(-rc));
        return 1;
    }
    json_object_del(result, "png_base64"); /* the file has it */
    json_object_set_new(result, "png", json_string(png));
    if (!json)
        fprintf(out, "%s: %lldx%lld PNG of %s\n%s\n", png,
                (long long)json_integer_value(json_object_get(result, "width")),
                (long long)json_integer_value(json_object_get(result, "height")),
                json_string_value(json_object_get(result, "light")),
                json_string_value(json_object_get(result, "caption")));
    return 0;
}
