/*
 * pngout.h - a picture as PNG bytes in memory (libpng), for `astrocalctl preview`.
 *
 * Ownership: *out is malloc'ed, owned by the caller (free). Thread: any thread (libpng
 * keeps its state in the structs of one call).
 */
#ifndef AC_PNGOUT_H
#define AC_PNGOUT_H

#include <stddef.h>

#include "err.h"
#include "preview.h"

/* ac_png_encode encodes pic (8-bit RGB, no interlacing) with tEXt chunks from text, a
 * NULL-terminated list of key, value pairs (may be NULL; keys of 1 to 79 Latin-1
 * characters, e.g. "Software", "Comment"). 0, -ENOMEM, or AC_EFORMAT with libpng's
 * message. */
int ac_png_encode(const ac_picture_t *pic, const char *const *text, unsigned char **out,
                  size_t *len, ac_err_t *e);

#endif
