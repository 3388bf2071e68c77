/*
 * hdrupdate.h - updating header cards of an existing FITS image in place (grading, issue
 * 11), then hashing the file again for the catalogue.
 *
 * The image HDU (the first with data: the primary array, or a tile-compressed image's
 * table) gets every card of set (replaced where the keyword exists, else inserted before
 * END) and loses the keywords in del; CHECKSUM is brought up to date (DATASUM is kept: the
 * data does not change). Outputs of astrocald reserve AC_GRADE_CARDS blank slots after
 * END (work/engine.c), so the header keeps its size and cfitsio rewrites only the header
 * blocks; a file without the room is still updated correctly, cfitsio then moves the data
 * (slow, never wrong). The update is in place (not through a temporary file, which would
 * copy the whole image): the header blocks are rewritten and the file fsynced. Before it,
 * the file is checked against expect_sha256 (when not NULL or ""): a file changed since it
 * was recorded is refused with -ESTALE and left alone. After it, sha256 receives the
 * SHA-256 of the whole file (hex, size >= 65), read from the page cache.
 *
 * Thread: any (pool threads); one file must not be updated by two threads at once.
 */
#ifndef AC_HDRUPDATE_H
#define AC_HDRUPDATE_H

#include <stddef.h>

#include "err.h"
#include "hdr.h"

/* ac_hdrupdate_file: see above. set and del may be NULL (del: a NULL-terminated list).
 * Returns 0, -ESTALE, AC_EFITS, or -errno. */
int ac_hdrupdate_file(const char *path, const ac_hdr_t *set, const char *const *del,
                      const char *expect_sha256, char *sha256, size_t size, ac_err_t *e);

#endif
