/*
 * err.c - error codes and messages (see err.h).
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ac_err_set(ac_err_t *e, int code, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL || e->code != 0)
        return code;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

void ac_err_prefix(ac_err_t *e, const char *fmt, ...)
{
    char prefix[AC_ERR_MSG_MAX];
    char old[AC_ERR_MSG_MAX];
    va_list ap;

    if (e == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%s: %s", prefix, old);
}

void ac_err_clear(ac_err_t *e)
{
    if (e == NULL)
        return;
    e->code = 0;
    e->msg[0] = '\0';
}

const char *ac_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case AC_EFITS:
        return "FITS error";
    case AC_ESQLITE:
        return "database error";
    case AC_EPROTO:
        return "protocol error";
    case AC_ECONFIG:
        return "configuration error";
    case AC_ECANCELED:
        return "cancelled";
    case AC_EBUSY:
        return "busy";
    case AC_EFORMAT:
        return "unsupported image format";
    case AC_EGEOMETRY:
        return "geometry mismatch";
    case AC_EMETADATA:
        return "metadata mismatch";
    case AC_EMASTER:
        return "unusable master frame";
    case AC_EUSAGE:
        return "usage error";
    case AC_ENOSPACE:
        return "not enough free disk space";
    case AC_ECATALOG:
        return "catalogue replaced or deleted";
    default:
        if (code < 0 && code > -1000)
            return strerror(-code);
        return "unknown error";
    }
}
