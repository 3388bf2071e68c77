/* conffile.c - reading astrocald.conf from disk (see conffile.h). */
#include "conffile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

