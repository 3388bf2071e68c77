/*
 * unpack.h - turning the files AstroFiler converts on import into the FITS files it
 * registers (adapter): an XISF image into "<stem>.fits" beside it, the first FITS member
 * of a ".fit.zip" / ".fits.zip" archive into the archive's folder. AstroFiler 1.2's
 * file_formats handlers (XisfFileHandler, ZipFileHandler) do the same; astrocald's
 * importer registers the result in their place (importer.h). `.fits.gz` files are not
 * unpacked: cfitsio reads them as they are.
 *
 * XISF (ac_unpack_xisf): the image is read through imgio (xisf.h: pixels, FITSKeyword and
 * property cards) and written as a plain FITS image of the same sample type where FITS
 * has it exactly (UInt8 -> BITPIX 8, UInt16 -> BITPIX 16 with BZERO 32768, Float32 ->
 * BITPIX -32; UInt32 and Float64, read as float32 like every frame, -> BITPIX -32),
 * header: the XISF's cards in order, plus XISFFILE = the XISF's base name (as AstroFiler's
 * converter writes it). The file is written under a temporary name (outfile.h) and
 * renamed into place, durably, streamed in strips (a compressed XISF block is held whole
 * while converting, xisf.h). An existing "<stem>.fits" is reused when it is a conversion
 * of this file (XISFFILE names it) at least as new as the XISF, converted again when it is
 * an older conversion, and never overwritten otherwise (AC_EFORMAT, naming both files).
 *
 * ZIP (ac_unpack_zip, libzip): the archive's members are listed in order; the first whose
 * name ends in .fit, .fits or .fts (any case) is extracted, streamed through a temporary
 * file, to the archive's folder under its base name (members' folders are not recreated,
 * so no member can write outside that folder). An existing file of that name is reused
 * when its size and CRC-32 equal the member's, never overwritten otherwise. *n_fits tells
 * how many FITS members there were (AstroFiler also takes the first and only warns).
 *
 * Errors: 0, or AC_EFORMAT (not convertible: the reason), AC_EFITS (unreadable or corrupt),
 * -errno, with e naming the file.
 * Thread: any thread (file I/O only); no shared state.
 */
#ifndef AC_UNPACK_H
#define AC_UNPACK_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* ac_unpack_xisf converts src into "<stem>.fits" (written into out, size bytes) or reuses
 * it (*reused). */
int ac_unpack_xisf(const char *src, char *out, size_t size, bool *reused, ac_err_t *e);

/* ac_unpack_zip extracts src's first FITS member (its path into out) or reuses it. */
int ac_unpack_zip(const char *src, char *out, size_t size, int *n_fits, bool *reused,
                  ac_err_t *e);

#endif
