/*
 * xisf.h - reading XISF 1.0 monolithic images (adapter; PixInsight's format, also written
 * by N.I.N.A. and Ekos). imgio.c opens a file through here when it starts with "XISF0100",
 * so every reader of frames (engine, master loader, importer) sees an XISF image as it
 * sees a FITS one: a header of FITS cards, metadata, and strips of rows in float ADU.
 *
 * What is read: the first (and only) Image element of the XML header, parsed with libxml2
 * (no network, no entity expansion): geometry "width:height:1", sampleFormat UInt8, UInt16,
 * UInt32, Float32 or Float64, byteOrder little or big, data in an attached block
 * ("attachment:position:size"), uncompressed or compressed with zlib, lz4, lz4hc or zstd
 * (zlib, liblz4, libzstd), with or without byte shuffling ("zlib+sh:size:itemsize").
 * Refused with AC_EFORMAT and the reason: more than one channel or a colour space other than
 * Gray (a debayered colour image), other sample formats (Complex), inline or embedded data,
 * compression sub-blocks, several Image elements, a non-zero offset attribute, a
 * distributed header (XISB/.xish). Refused with AC_EFITS: a bad signature, a truncated
 * header or block, XML that does not parse, a block whose (de)compressed size is wrong.
 * A block's checksum attribute (SHA-1, SHA-256 or SHA-512; SHA-3 is not checked) is
 * verified: a compressed block when it is read, an uncompressed one when its rows are read
 * in order from the first to the last (the importer's conversion, a whole-image load);
 * a mismatch is AC_EFITS ("does not match its checksum ... the file is corrupt").
 * Float samples are passed through as stored (PixInsight's [0, 1] range is not rescaled,
 * as a FITS float image is not).
 *
 * The header: every FITSKeyword element becomes a card as written (name, value, comment;
 * COMMENT and HISTORY as commentary cards), in document order. Then, for each of these
 * XISF properties whose keyword no FITSKeyword gave, a card is added:
 *   Instrument:ExposureTime -> EXPTIME, Instrument:Sensor:Temperature -> CCD-TEMP,
 *   Instrument:Sensor:TargetTemperature -> SET-TEMP, Instrument:Filter:Name -> FILTER,
 *   Instrument:Camera:Name -> INSTRUME, Instrument:Telescope:Name -> TELESCOP,
 *   Instrument:Camera:XBinning/YBinning -> XBINNING/YBINNING, Instrument:Camera:Gain ->
 *   EGAIN (e-/ADU, as the spec defines it; never GAIN), Instrument:Sensor:X/YPixelSize ->
 *   XPIXSZ/YPIXSZ, Instrument:Telescope:FocalLength (m) -> FOCALLEN (mm),
 *   Observation:Time:Start/End -> DATE-OBS/DATE-END (UTC; a "Z" or "+00:00" zone dropped,
 *   another zone converted to UTC), Observation:Object:Name -> OBJECT,
 *   Observation:Object:RA/Dec -> RA/DEC, Observation:Location:Longitude/Latitude/Elevation
 *   -> SITELONG/SITELAT/SITEELEV;
 * the Image's imageType attribute ("Light", "Dark", "MasterFlat"...) -> IMAGETYP and its
 * ColorFilterArray pattern -> BAYERPAT, when no FITSKeyword gave them. Finally the
 * structural cards (BITPIX of the samples, NAXIS = 2, NAXIS1, NAXIS2) replace any that a
 * FITSKeyword carried, so metadata describes the pixels actually read.
 *
 * Memory: an uncompressed block is read with one pread per strip, nothing held. A
 * compressed block cannot be read in parts: the first read decompresses the whole block
 * and keeps it (width x height x sample bytes, plus the compressed bytes while
 * decompressing); ac_xisf_held_bytes says how much, for the caller's memory accounting
 * (the engine takes it out of the job's memory and refuses a light whose block alone
 * exceeds it).
 * Shuffled bytes are gathered per strip from the held block (no second copy).
 *
 * Ownership: ac_xisf_t is owned by the caller of ac_xisf_open (ac_xisf_close).
 * Thread: one reader per thread; libxml2's parser is initialised once at load time.
 */
#ifndef AC_XISF_H
#define AC_XISF_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "hdr.h"

typedef struct ac_xisf ac_xisf_t;

/* ac_xisf_sniff says whether the first bytes (n of them) are an XISF monolithic file's. */
bool ac_xisf_sniff(const void *head, size_t n);

/* ac_xisf_open parses path's XML header, appends its cards to hdr (initialised by the
 * caller) and returns the reader in *out. 0, AC_EFORMAT, AC_EFITS, -ENOMEM or -errno, with
 * e naming the file and the reason. */
int ac_xisf_open(const char *path, ac_hdr_t *hdr, ac_xisf_t **out, ac_err_t *e);

/* The image: width, height and the FITS BITPIX of its samples (8, 16, 32, -32, -64; for
 * UInt16 16 with BZERO 32768 in the cards, for UInt32 32 with BZERO 2147483648). */
void ac_xisf_geometry(const ac_xisf_t *x, int *w, int *h, int *bitpix);

/* ac_xisf_read_rows converts rows [y0, y0 + nrows) to float ADU into out. */
int ac_xisf_read_rows(ac_xisf_t *x, int y0, int nrows, float *out, ac_err_t *e);

/* ac_xisf_held_bytes: bytes the reader holds now (a decompressed block), or would hold
 * after its first read when that is larger (compressed blocks): for memory accounting. */
size_t ac_xisf_held_bytes(const ac_xisf_t *x);

void ac_xisf_close(ac_xisf_t *x); /* NULL-safe */

/* ac_xisf_structural says whether key is one of the cards the reader writes itself from
 * the image (BITPIX, NAXIS*, BZERO...), which a FITSKeyword of that name never sets. */
bool ac_xisf_structural(const char *key);

#endif
