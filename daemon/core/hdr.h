/*
 * hdr.h - a FITS header as a list of 80-character cards (pure: no cfitsio).
 *
 * The reader (imgio) fills an ac_hdr_t with the original cards of an image; the metadata
 * module (meta) looks keywords up in it; the engine builds the output header by copying
 * the original cards through ac_hdr_keep_for_output() and appending new cards with the
 * ac_hdr_add_* formatters, which produce standard fixed-format cards (FITS 4.0 §4.2).
 *
 * Ownership: an ac_hdr_t owns its card array; ac_hdr_free releases it. Lookups return
 * pointers borrowed from the header, valid until it is modified or freed.
 * Thread: no shared state; one header must not be modified by two threads at once.
 */
#ifndef AC_HDR_H
#define AC_HDR_H

#include <stdbool.h>
#include <stddef.h>

#define AC_CARD_LEN 80

typedef struct ac_hdr {
    char (*cards)[AC_CARD_LEN + 1]; /* NUL-terminated, space-padded to 80 */
    size_t n, cap;
} ac_hdr_t;

void ac_hdr_init(ac_hdr_t *h);
void ac_hdr_free(ac_hdr_t *h);
/* ac_hdr_copy makes dst an independent copy of src. 0 or -ENOMEM. */
int ac_hdr_copy(ac_hdr_t *dst, const ac_hdr_t *src);

/* ac_hdr_append_raw appends one card given as text (up to 80 characters; shorter text is
 * space-padded, longer is an error). Returns 0, -EINVAL or -ENOMEM. */
int ac_hdr_append_raw(ac_hdr_t *h, const char *card);

/* ac_hdr_find returns the index of the first card whose keyword is key (exact, upper case,
 * up to 8 characters), or -1. */
int ac_hdr_find(const ac_hdr_t *h, const char *key);

/* ac_hdr_get_value copies the value of key into out: strings unquoted with '' folded to '
 * and trailing blanks removed; numbers and logicals as written, trimmed. Returns true when
 * the keyword exists and has a value (not for COMMENT/HISTORY or undefined values). */
bool ac_hdr_get_value(const ac_hdr_t *h, const char *key, char *out, size_t size);

/* ac_hdr_get_double parses the value of key as a number (also accepted when written as a
 * quoted string, e.g. EXPTIME= '300.0', as AstroFiler masters do). True on success. */
bool ac_hdr_get_double(const ac_hdr_t *h, const char *key, double *out);

/* ac_hdr_get_bool parses a logical (T/F) value, or the strings 'T'/'F'/'TRUE'/'FALSE'/
 * 'YES'/'NO'. True on success. */
bool ac_hdr_get_bool(const ac_hdr_t *h, const char *key, bool *out);

/* ac_hdr_card_key copies the keyword of card i (trimmed) into out (at least 9 bytes). */
void ac_hdr_card_key(const ac_hdr_t *h, size_t i, char *out);

/* ac_hdr_is_output_excluded says whether keyword key must not be copied from an input
 * header to a calibrated output: structural (SIMPLE, BITPIX, NAXIS*, EXTEND, PCOUNT,
 * GCOUNT, XTENSION, END, TFIELDS, T*n of a compressed table), scaling (BZERO, BSCALE,
 * BLANK), DATAMIN/DATAMAX, compression (Z*, FZ*) and checksum (CHECKSUM, DATASUM)
 * cards, and the keywords that the calibration writes itself (CALIBRAT, CALDATE, ...). */
bool ac_hdr_is_output_excluded(const char *key);

/* ac_hdr_keep_for_output appends to dst every card of src that is not excluded. */
int ac_hdr_keep_for_output(ac_hdr_t *dst, const ac_hdr_t *src);

/* Card formatters: each appends one fixed-format card; comment may be NULL. Strings longer
 * than fit are truncated (never split with CONTINUE); a value that cannot be represented
 * (NaN, inf) is an error -EINVAL. Return 0, -EINVAL or -ENOMEM. A keyword that already
 * exists is replaced in place by ac_hdr_set_* and appended by ac_hdr_add_*. */
int ac_hdr_add_str(ac_hdr_t *h, const char *key, const char *value, const char *comment);
int ac_hdr_add_double(ac_hdr_t *h, const char *key, double value, const char *comment);
int ac_hdr_add_int(ac_hdr_t *h, const char *key, long long value, const char *comment);
int ac_hdr_add_bool(ac_hdr_t *h, const char *key, bool value, const char *comment);
int ac_hdr_add_history(ac_hdr_t *h, const char *text); /* split over several cards if long */
int ac_hdr_set_str(ac_hdr_t *h, const char *key, const char *value, const char *comment);
int ac_hdr_set_double(ac_hdr_t *h, const char *key, double value, const char *comment);

/* ac_hdr_replace replaces each card of h whose keyword a card of from has by that card, in
 * place (the other cards and their order unchanged). 0, or -ENOENT when h lacks one of
 * from's keywords: h is then unchanged. */
int ac_hdr_replace(ac_hdr_t *h, const ac_hdr_t *from);

/* ac_hdr_format_card formats one card into out (81 bytes) from a keyword and an already
 * formatted value field ("'text'", "T", "1.5") and optional comment. */
int ac_hdr_format_card(char *out, const char *key, const char *value, const char *comment);

#endif
