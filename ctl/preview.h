/*
 * preview.h - astrocalctl's side of `preview` (docs/protocol.md): its arguments, and the
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

/* ac_ctl_preview_args parses "LIGHT|--session ID [--bias ID|PATH] [--dark ...] [--flat ...]
 * [--flatdark ...] [--width N] --png OUT.png" into args (a light or a master that is a
 * path is made absolute, as the catalogue stores paths); *png receives OUT (borrowed from
 * a). NULL with a message in why on a usage error. */
json_t *ac_ctl_preview_args(int n, char **a, const char **png, char *why, size_t why_size);

/* ac_ctl_preview_write decodes result's png_base64 and writes it to png (a temporary
 * file beside it, then renamed: an existing file is replaced whole or not at all), then
 * prints a summary (or nothing with json). result loses png_base64 and gains "png" (the
 * path), for --json. 0, or 1 with a message on stderr. */
int ac_ctl_preview_write(FILE *out, json_t *result, const char *png, bool json);

#endif
