/*
 * preview.h - astrocalctl's side of `preview` (docs/protocol.md): its arguments' check, and the
 * PNG from the daemon's reply written to the file the user named, with the user's own
 * rights (the daemon runs as another user and writes nothing).
 *
 * Thread: astrocalctl's one thread.
 */
#ifndef AC_CTL_PREVIEW_H
#define AC_CTL_PREVIEW_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* ac_ctl_preview_check is the preview row's check (commands.c): exactly one of light and
 * session; a light or master given as a path (it has a '/' or a FITS extension) is made
 * absolute in args, as the catalogue stores paths. NULL, or a usage message (static). */
const char *ac_ctl_preview_check(json_t *args);

/* ac_ctl_preview_write decodes result's png_base64 and writes it to png (a temporary
 * file beside it, then renamed: an existing file is replaced whole or not at all), then
 * prints a summary (or nothing with json). result loses png_base64 and gains "png" (the
 * path), for --json. 0, or 1 with a message on stderr. */
int ac_ctl_preview_write(FILE *out, json_t *result, const char *png, bool json);

#endif
