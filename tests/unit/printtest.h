/*
 * printtest.h - what the rendering tests share (defined in test-print.c): a renderer run on
 * canned JSON. Failures fail the test. Thread: the test's thread.
 */
#ifndef AC_PRINTTEST_H
#define AC_PRINTTEST_H

#include <stdio.h>

#include <jansson.h>

/* render runs fn on the JSON text, requires it to return want_rc, and returns what it
 * printed (malloc'd). */
char *render(int (*fn)(FILE *, json_t *), const char *text, int want_rc);

/* expect requires fn on text to return 0 and print exactly want. */
void expect(int (*fn)(FILE *, json_t *), const char *text, const char *want);

#endif
