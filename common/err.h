/*
 * err.h - astrocald error codes and the error message struct.
 *
 * Every int-returning function in astrocald returns 0 on success or a negative code:
 * -errno for operating-system failures, AC_E* (below -1000, so they never collide with
 * errno) for our own. Functions optionally take a struct ac_err * (NULL allowed) that
 * receives a human message with context: which file, which keyword, what was expected.
 *
 * Thread: every function here is safe on any thread (no shared state).
 */
#ifndef AC_ERR_H
#define AC_ERR_H

#include <stddef.h>

enum {
    AC_EFITS = -1001,     /* cfitsio failed reading or writing a file */
    AC_ESQLITE = -1002,   /* SQLite failed */
    AC_EPROTO = -1003,    /* malformed control-protocol message */
    AC_ECONFIG = -1004,   /* bad configuration */
    AC_ECANCELED = -1005, /* the operation was cancelled */
    AC_EBUSY = -1006,     /* resource busy, try again */
    AC_EFORMAT = -1007,   /* the input is not an image we can calibrate */
    AC_EGEOMETRY = -1008, /* image sizes, binning or Bayer layout disagree */
    AC_EMETADATA = -1009, /* exposure, filter, temperature or gain disagree */
    AC_EMASTER = -1010,   /* a master frame is unusable (NaN, zero, truncated...) */
    AC_EUSAGE = -1011,    /* bad command-line usage */
    AC_ENOSPACE = -1012,  /* not enough free disk space */
    AC_ECATALOG = -1013,  /* the catalogue file was replaced or deleted under the daemon */
};

#define AC_ERR_MSG_MAX 1024

/* A code plus a human-readable message. Zero-initialise before use. */
typedef struct ac_err {
    int code;
    char msg[AC_ERR_MSG_MAX];
} ac_err_t;

/*
 * ac_err_set records code and a printf-style message in e (if e is not NULL) and returns
 * code, so callers can write `return ac_err_set(e, AC_EFITS, "...")`. The first error
 * wins: a message already set is kept, so the innermost, most specific context survives.
 */
int ac_err_set(ac_err_t *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ac_err_prefix prepends "prefix: " to the message in e (no-op on NULL). */
void ac_err_prefix(ac_err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ac_err_clear resets e to "no error". */
void ac_err_clear(ac_err_t *e);

/* ac_strerror names an AC_E* code or a negative errno. Returns a static string. */
const char *ac_strerror(int code);

#endif
