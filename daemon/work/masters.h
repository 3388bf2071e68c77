/*
 * masters.h - the one master loader: reading a set of masters (bias, dark, flat,
 * flat-dark), checking each file's MD5 against the one expected, and preparing them into
 * a calibration set (ac_calset_t) for a dark scale k. The daemon's master cache runs the
 * steps on the pool, each master's read (with its MD5) on its own thread, then the
 * preparation; `astrocald calibrate` does the same with the MD5 hashed apart, so that its
 * masters load (and hash) concurrently, and hands the MD5s to its lights when they are
 * known (serve/oneshot_masters.h); ac_masters_load does it all on one thread.
 *
 * The steps, each usable alone:
 *   ac_masters_load_one  read master i: pixels, metadata and, unless the caller hashes the
 *                        file apart, its MD5 from the same read (ac_imgio_load_image);
 *                        then the MD5 check;
 *   ac_masters_hash_one  the MD5 of master i's file (ac_digest_file) for a caller that
 *                        loads the pixels on one thread and hashes on another; the same
 *                        check;
 *   ac_masters_prepare   the set for one k (ac_calib_prepare_take), taking the masters'
 *                        pixel buffers, or copies of them when the caller needs several k;
 *   ac_masters_set_md5s  once hashed apart: the MD5s into the masters and into sets
 *                        prepared before (their provenance, for the output headers);
 *   ac_masters_load      the whole set on the calling thread: load_one (MD5 in the same
 *                        read) for each master given, then prepare.
 * Errors name the master and why: "master dark: PATH: checksum mismatch: file MD5 ...,
 * catalogue hash_value ...", "master flat: PATH: truncated: ...", "master bias: PATH: has
 * IMAGETYP ..." (ac_masters_check_type). A failed preparation (AC_EMASTER, AC_EGEOMETRY,
 * AC_EMETADATA) keeps ac_calib_prepare_take's message, which names the file and the
 * property.
 *
 * Ownership: ac_masters_t borrows its paths and expected MD5s and owns the images it loaded
 * (ac_masters_free); a prepared set owns its planes (ac_calset_free).
 * Thread: any thread, no shared state. load_one and hash_one for one index may run on two
 * threads at the same time, and for different indices on any number: each writes only
 * img[i] and loaded[i] (load_one) or hashed[i] (hash_one). prepare, set_md5s and free run
 * once every step on the set has returned.
 */
#ifndef AC_MASTERS_H
#define AC_MASTERS_H

#include <stdbool.h>

#include "calib.h"
#include "err.h"

enum { AC_M_BIAS = 0, AC_M_DARK, AC_M_FLAT, AC_M_FLATDARK, AC_M_COUNT };

typedef struct ac_masters {
    const char *path[AC_M_COUNT]; /* NULL or "" when absent; borrowed */
    const char *md5[AC_M_COUNT];  /* the MD5 expected (the catalogue's), NULL or "": none */
    ac_image_t img[AC_M_COUNT];   /* written by load_one */
    bool loaded[AC_M_COUNT];      /* written by load_one */
    char hashed[AC_M_COUNT][33];  /* written by hash_one */
} ac_masters_t;

/* Flags of ac_masters_load_one. */
enum { AC_MASTERS_HASH_APART = 1 }; /* no MD5 in the read: the caller runs hash_one */

/* ac_masters_kind_name returns "bias", "dark", "flat" or "flat-dark" (a static string). */
const char *ac_masters_kind_name(int i);

/* ac_masters_given says whether master i is part of the set (its path is not empty). */
bool ac_masters_given(const ac_masters_t *m, int i);

/* ac_masters_load_one reads master i into m->img[i] (loaded[i] true on success) and checks
 * its MD5 when one is expected and read. 0, or the loader's error or AC_EMASTER (checksum
 * mismatch), the message starting "master KIND: ". */
int ac_masters_load_one(ac_masters_t *m, int i, unsigned flags, ac_err_t *e);

/* ac_masters_hash_one computes the MD5 of master i's file into m->hashed[i] and checks it
 * when one is expected. 0, -errno, -ENOMEM or AC_EMASTER, the message as above. */
int ac_masters_hash_one(ac_masters_t *m, int i, ac_err_t *e);

/* ac_masters_check_type says whether loaded master i has a frame type that may serve as
 * its kind: its own, unknown (no IMAGETYP), or a dark for a flat-dark. Otherwise, unless
 * force, AC_EMETADATA: "master KIND: PATH has IMAGETYP 'X' (a T frame); use --force to use
 * it anyway". 0 for a master not loaded. */
int ac_masters_check_type(const ac_masters_t *m, int i, bool force, ac_err_t *e);

/* ac_masters_image returns master i when loaded, else NULL (borrowed). */
ac_image_t *ac_masters_image(ac_masters_t *m, int i);

/* ac_masters_prepare builds cs for dark scale k from the loaded masters. keep: prepare
 * from copies (the masters' buffers stay for another k); else the buffers are taken
 * (released even on failure). 0, -ENOMEM ("out of memory copying masters") or
 * ac_calib_prepare_take's error. */
int ac_masters_prepare(ac_masters_t *m, double k, const ac_calib_opts_t *o, bool keep,
                       ac_calset_t *cs, ac_err_t *e);

/* ac_masters_set_md5s copies the MD5s hashed apart into the loaded masters and into
 * sets[0..nsets) (sets may be NULL): each set gets the MD5 of exactly the masters it
 * applies. */
void ac_masters_set_md5s(ac_masters_t *m, ac_calset_t *sets, int nsets);

/* ac_masters_load loads the set (load_one, MD5 in the same read, for each master given,
 * in the order bias, dark, flat, flat-dark) and prepares it for k into cs, then frees the
 * images. *bad (may be NULL) is the master at fault: unreadable, checksum mismatch, or
 * refused by the preparation (NaN-filled, all zero, a saturated flat...; see
 * ac_calset_t.bad_master), or -1 when no single master is.
 * 0 or the first error. */
int ac_masters_load(ac_masters_t *m, double k, const ac_calib_opts_t *o, ac_calset_t *cs,
                    int *bad, ac_err_t *e);

/* ac_masters_free frees the images' pixels (NULL-safe; loaded[] cleared). */
void ac_masters_free(ac_masters_t *m);

#endif
