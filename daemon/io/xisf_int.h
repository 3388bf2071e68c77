/*
 * xisf_int.h - what xisf.c and xisf_cards.c share (internal to daemon/io).
 * Thread: any thread.
 */
#ifndef AC_XISF_INT_H
#define AC_XISF_INT_H

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>

#include "hdr.h"

/* ac_xisf_attr copies attribute name of n into buf (size bytes) and returns buf, or NULL
 * when n has no such attribute. */
const char *ac_xisf_attr(xmlNode *n, const char *name, char *buf, size_t size);

/* ac_xisf_is_elem says whether n is an element named name (namespace ignored). */
bool ac_xisf_is_elem(const xmlNode *n, const char *name);

/* ac_xisf_add_keyword appends the card of one FITSKeyword element to hdr; a name that is
 * not a FITS keyword leaves a HISTORY note instead. 0 or -ENOMEM. */
int ac_xisf_add_keyword(ac_hdr_t *hdr, xmlNode *n);

/* ac_xisf_add_property appends the card of one Property element when it is one of the
 * mapped properties (xisf.h) and hdr has no card of that keyword yet. 0 or -ENOMEM. */
int ac_xisf_add_property(ac_hdr_t *hdr, xmlNode *n);

#endif
