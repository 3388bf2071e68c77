/*
 * hdrcorpus.h - frames carrying the real capture-software headers of tests/data/headers
 * (issue 9; the README there gives each header's source). A frame is a small image
 * (w x h, the header's BITPIX, three planes for a NAXIS3 = 3 header) written with every
 * card of the header verbatim except the structural ones (SIMPLE, BITPIX, NAXIS*, EXTEND,
 * END), which describe the small image; BZERO/BSCALE are kept as written and the pixels
 * are stored through them. Built into ac_testsupport. Failures fail the test.
 * Thread: the test's thread.
 */
#ifndef AC_HDRCORPUS_H
#define AC_HDRCORPUS_H

#include <stddef.h>

/* The headers of the corpus, NULL-terminated ("nina-1.10", ...: file names without .hdr). */
extern const char *const hc_names[];

/* hc_file returns the path of header name (in the source tree), in a static buffer. */
const char *hc_file(const char *name);

/*
 * hc_write writes path with header name and pixels px (w * h physical values; NULL: a
 * constant 1000). edits (may be NULL, NULL-terminated) change the header first: "-KEY"
 * removes every card KEY, any other text is a whole card (up to 80 characters) that
 * replaces the first card of its keyword, or is appended when there is none.
 */
void hc_write(const char *path, const char *name, int w, int h, const float *px,
              const char *const *edits);

#endif
