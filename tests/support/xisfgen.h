/*
 * xisfgen.h - a test-only XISF 1.0 writer: monolithic files with one Image from known
 * samples, in every layout astrocald reads (xisf.h) and some it refuses, written from the
 * XISF 1.0 specification (not from astrocald's reader): 16-byte preamble ("XISF0100", the
 * XML length little-endian, 4 reserved zero bytes), the XML header, zero padding, then the
 * attached block at a 4096-byte boundary; compression with zlib (compress2), lz4
 * (LZ4_compress_default), lz4hc (LZ4_compress_HC) or zstd (ZSTD_compress), optionally
 * after byte shuffling (byte k of item i at k * items + i), recorded as
 * compression="codec[+sh]:uncompressed-size[:item-size]".
 * Thread: any (no shared state).
 */
#ifndef AC_XISFGEN_H
#define AC_XISFGEN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ac_xisfgen {
    int w, h, channels;      /* channels 0 means 1 */
    const char *sample;      /* sampleFormat attribute ("UInt16", "Float32"...) */
    int sbytes;              /* bytes per sample of px */
    const void *px;          /* w * h * channels samples, host byte order */
    const char *codec;       /* NULL (uncompressed), "zlib", "lz4", "lz4hc", "zstd" */
    bool shuffle;            /* byte shuffling before compression */
    bool big_endian;         /* byteOrder="big" (samples stored big-endian) */
    const char *color_space; /* NULL: not written (Gray) */
    const char *image_attrs; /* more attributes of <Image>, verbatim (may be NULL) */
    const char *children;    /* <Image> children, verbatim: FITSKeyword, Property... */
    const char *location;    /* NULL: the real attachment; else this location attribute */
    const char *compression; /* NULL: the real one; else this compression attribute */
    long long cut;           /* > 0: the file is cut to this many bytes */
    int flip_byte;           /* > 0: the block's byte at this index is inverted */
    const char *checksum;    /* "sha1", "sha-256", "sha512": checksum attribute of the
                                stored block (before flip_byte), computed with OpenSSL */
} ac_xisfgen_t;

/* ac_xisfgen_write writes path. 0, or -1 (with a message on stderr). */
int ac_xisfgen_write(const char *path, const ac_xisfgen_t *g);

/* ac_xisfgen_from_fits writes xisf with the image of the FITS file fits (BITPIX 16 with
 * BZERO 32768 as UInt16, BITPIX -32 as Float32, read with cfitsio) and every header card
 * but the structural ones as a FITSKeyword element (name, value and comment as cfitsio
 * parses them, XML-escaped), as N.I.N.A. saves a frame in XISF; codec and shuffle as in
 * ac_xisfgen_t. 0, or -1 (with a message on stderr). */
int ac_xisfgen_from_fits(const char *fits, const char *xisf, const char *codec, bool shuffle);

#endif
