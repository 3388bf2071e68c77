/*
 * imgio.h - reading FITS images through cfitsio (adapter).
 *
 * XISF images (a file starting with "XISF0100") are read through xisf.h behind the same
 * interface: the header is the XISF's cards, rows come as float ADU.
 *
 * Accepts 2-D images of BITPIX 8, 16, 32, -32, -64 with BZERO/BSCALE, a NAXIS3 = 1 cube,
 * and tile-compressed images (.fits.fz: the image is the first HDU with data). Refuses
 * everything else (RGB cubes, tables only, NAXIS = 0) with AC_EFORMAT and a message naming
 * the file and the offending keyword. A file shorter than its header declares (data
 * padded to 2880-byte blocks) is refused with AC_EFITS ("truncated: data needs N bytes,
 * file has M"), a file that does not start with "SIMPLE  =" (and is not gzip/bzip2/
 * compress, which cfitsio unpacks) with AC_EFITS ("not a FITS file"). Paths are plain
 * file names, never cfitsio's extended syntax. Integer BLANK pixels become NaN.
 *
 * Reading is by strips of rows into float ADU. A plain (uncompressed, not gzip) file is
 * read with one pread per strip and one loop that swaps the bytes, applies BZERO/BSCALE
 * and widens to float (cfitsio only reads its header); tile-compressed and gzip files are
 * read by cfitsio in one large read per strip (TUSHORT for BZERO=32768 16-bit data, never
 * TFLOAT on integer data). The values are the same either way. Memory: the reader holds
 * one raw scratch buffer sized for the largest strip asked for (none for the 4-byte data
 * of a plain file, converted in the caller's strip); the caller owns the float strip.
 *
 * Ownership: ac_imgin_t is owned by the caller of ac_imgio_open and released with
 * ac_imgio_close. Header and meta pointers are borrowed until close.
 * Thread: one reader per thread (cfitsio is built reentrant; a fitsfile is never shared).
 * Errors are translated to AC_EFITS with fits_get_errstatus text, never read from
 * cfitsio's global message stack.
 */
#ifndef AC_IMGIO_H
#define AC_IMGIO_H

#include <stddef.h>

#include "calib.h"
#include "err.h"
#include "hdr.h"
#include "meta.h"

typedef struct ac_imgin ac_imgin_t;

/* ac_imgio_open opens path, moves to the first HDU with image data, checks the format and
 * reads the header (for compressed images: the equivalent uncompressed image header).
 * On success *out is a new reader. */
int ac_imgio_open(const char *path, ac_imgin_t **out, ac_err_t *e);

const ac_hdr_t *ac_imgio_header(const ac_imgin_t *in);
const ac_meta_t *ac_imgio_meta(const ac_imgin_t *in);
const char *ac_imgio_path(const ac_imgin_t *in);

/* ac_imgio_read_rows reads rows [y0, y0 + nrows) into out (nrows * width floats, ADU).
 * Non-finite integer scaling never happens; float input is passed through (NaN kept). */
int ac_imgio_read_rows(ac_imgin_t *in, int y0, int nrows, float *out, ac_err_t *e);

/* ac_imgio_held_bytes: memory the reader holds besides its strip scratch: a compressed XISF
 * block, decompressed whole (xisf.h); 0 for FITS. For the caller's memory accounting. */
size_t ac_imgio_held_bytes(const ac_imgin_t *in);

/* ac_imgio_close releases the reader (NULL-safe). */
void ac_imgio_close(ac_imgin_t *in);

/* ac_imgio_load_image reads the whole image at path into img (float32 plane, metadata,
 * MD5 of the whole file, equal to md5sum's). The MD5 of a plain file is computed from the
 * bytes as they are read (the file is read once). It does not analyse the image (median,
 * mad and n_nonfinite stay 0): ac_calib_prepare_take does, or call ac_image_analyse.
 * img->px is owned by img. Thread: any thread; loads of different files may run in
 * parallel. */
int ac_imgio_load_image(const char *path, ac_image_t *img, ac_err_t *e);

/* ac_imgio_load_pixels is ac_imgio_load_image without the MD5 (img->md5 stays empty), for
 * a caller that hashes the file elsewhere at the same time (ac_digest_file). */
int ac_imgio_load_pixels(const char *path, ac_image_t *img, ac_err_t *e);

/* ac_imgio_read_header reads only the header and metadata of path (for planning and
 * registration). Unlike ac_imgio_open it accepts a colour cube (NAXIS3 = 3, meta.naxis3),
 * whose pixels astrocald never reads (ac_imgio_open refuses it with the reason). */
int ac_imgio_read_header(const char *path, ac_hdr_t *hdr, ac_meta_t *meta, ac_err_t *e);

#endif
