/*
 * fzout.h - the tile-compressed (RICE_1) float image writer behind ac_imgout (adapter over
 * cfitsio; used by imgout.c only).
 *
 * It writes into a file astrocald already created (outfile.h), given as an open
 * descriptor: cfitsio never opens a name in the output folder. The writer stores a null
 * primary HDU (the one cfitsio itself would write) through the descriptor, then lets
 * cfitsio reopen that same open file through /proc/self/fd/<fd> (a reference to the
 * descriptor's inode, not to any name: whatever happens to the names in the folder, the
 * bytes go to the file astrocald created) and append the compressed image HDU. Nothing is
 * buffered beyond cfitsio's own tile buffers: the output streams to the file.
 *
 * Non-finite pixels are stored as nulls (ZBLANK, read back as NaN); the caller's cards are
 * written as given (filter them first).
 *
 * Ownership: ac_fzout_t is the caller's until ac_fzout_finish or ac_fzout_abort, which free
 * it; the descriptor stays the caller's. Thread: one thread at a time per writer.
 */
#ifndef AC_FZOUT_H
#define AC_FZOUT_H

#include <stddef.h>

#include "err.h"
#include "hdr.h"

typedef struct ac_fzout ac_fzout_t;

/* ac_fzout_open starts a w x h float image in fd (an empty regular file open for reading
 * and writing), quantised with quantize_level and dithered, with cards in its header.
 * path names the final file in messages. */
int ac_fzout_open(int fd, const char *path, int w, int h, const ac_hdr_t *cards,
                  float quantize_level, ac_fzout_t **out, ac_err_t *e);

/* ac_fzout_write appends n pixels (whole rows, in order; the caller's array is not
 * modified). */
int ac_fzout_write(ac_fzout_t *z, const float *px, size_t n, ac_err_t *e);

/* ac_fzout_update writes each card of cards over the card of the same keyword in the
 * compressed image's header (fits_update_card). 0 or AC_EFITS. */
int ac_fzout_update(ac_fzout_t *z, const ac_hdr_t *cards, ac_err_t *e);

/* ac_fzout_finish appends extra (may be NULL), writes the checksums of both HDUs, closes
 * cfitsio's side of the file and frees z (also on failure). */
int ac_fzout_finish(ac_fzout_t *z, const ac_hdr_t *extra, ac_err_t *e);

/* ac_fzout_abort frees z without finishing (NULL-safe). */
void ac_fzout_abort(ac_fzout_t *z);

/* ac_fzout_buffer_bytes is an estimate of the memory one writer holds (cfitsio's buffers;
 * the copy of rows with non-finite pixels comes on top). */
size_t ac_fzout_buffer_bytes(void);

#endif
