/*
 * imgout-util.h - helpers shared by the tests of the image writer (test-imgout.c,
 * test-outfile.c). They assert (abort the test) on anything unexpected.
 */
#ifndef AC_IMGOUT_UTIL_H
#define AC_IMGOUT_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "hdr.h"
#include "imgout.h"

/* imgt_make_image returns a w x h test image (owned) of negative, tiny, huge, signed-zero,
 * subnormal and ordinary values. */
float *imgt_make_image(int w, int h);

/* imgt_opts_small sets the default options with an 8 KiB buffer. */
void imgt_opts_small(ac_imgout_opts_t *o);

/* imgt_base_header fills h with ordinary cards mixed with cards the writer must drop. */
void imgt_base_header(ac_hdr_t *h);

/* imgt_write_file writes img (w x h) in chunks of 1, 2, 3, ... rows and commits. */
int imgt_write_file(const char *path, int w, int h, const float *img, const ac_hdr_t *hdr,
                    int extra_n, const ac_hdr_t *extra, const ac_imgout_opts_t *o,
                    size_t *bytes, ac_err_t *e);

/* imgt_read_back reads the image in HDU hdu with cfitsio (owned), checking its size and
 * checksums. */
float *imgt_read_back(const char *path, int hdu, int w, int h);

void imgt_assert_same_bits(const float *a, const float *b, size_t n);

/* imgt_assert_reads_back reads the image of HDU 1 of path back (imgt_read_back) and requires
 * the same bits as img (w x h). */
void imgt_assert_reads_back(const char *path, const float *img, int w, int h);

/* imgt_read_keys returns the keywords of the header cards of HDU hdu, one per slot. */
int imgt_read_keys(const char *path, int hdu, char keys[][9], int max);

/* imgt_count_tmp counts our temporary files in dir; imgt_count_entries all its entries. */
int imgt_count_tmp(const char *dir);
int imgt_count_entries(const char *dir);

off_t imgt_file_size(const char *path);

/* imgt_fits_len is the FITS length of a float32 image with header_cards cards. */
uint64_t imgt_fits_len(uint64_t header_cards, uint64_t w, uint64_t h);

/* pwrite hook failing with ENOSPC from the imgt_hook_fail_at-th call (counted in
 * imgt_hook_calls). */
extern int imgt_hook_calls, imgt_hook_fail_at;
ssize_t imgt_disk_full(int fd, const void *buf, size_t n, off_t off);

#endif
