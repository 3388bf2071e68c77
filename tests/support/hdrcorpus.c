/*
 * hdrcorpus.c - frames carrying the real headers of tests/data/headers (see hdrcorpus.h).
 * Written with cfitsio directly, never through astrocald's writer.
 */
#include "hdrcorpus.h"

#include <fitsio.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

const char *const hc_names[] = {
    "nina-1.10",   "sgp-3.1",      "sharpcap-2019", "apt-3.54",  "maximdl-5.24",     "dwarf2",
    "seestar-s50", "theskyx-10.5", "indi-ekos",     "sbig-snap", "observatory-1993", NULL,
};

#define MAX_CARDS 256

const char *hc_file(const char *name)
{
    static char buf[PATH_MAX];

    snprintf(buf, sizeof buf, "%s/tests/data/headers/%s.hdr", ac_test_srcdir(), name);
    return buf;
}

/* key_of copies the keyword of a card (up to 8 characters, trimmed). */
static void key_of(const char *card, char key[9])
{
    size_t n = 0;

    while (n < 8 && card[n] != '\0' && card[n] != ' ' && card[n] != '=')
        n++;
    memcpy(key, card, n);
    key[n] = '\0';
}

static bool structural(const char *key)
{
    return strcmp(key, "SIMPLE") == 0 || strcmp(key, "BITPIX") == 0 ||
           strncmp(key, "NAXIS", 5) == 0 || strcmp(key, "EXTEND") == 0 ||
           strcmp(key, "END") == 0;
}

/* load reads the header's cards (one per line) into cards[]. */
static int load(const char *name, char cards[MAX_CARDS][81])
{
    FILE *f = fopen(hc_file(name), "r");
    char line[256];
    int n = 0;

    if (f == NULL)
        AC_TEST_FAIL("cannot open %s", hc_file(name));
    while (fgets(line, sizeof line, f) != NULL && n < MAX_CARDS) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        if (strlen(line) > 80)
            AC_TEST_FAIL("%s: a card longer than 80 characters: %s", name, line);
        snprintf(cards[n++], 81, "%s", line);
    }
    fclose(f);
    return n;
}

static double num_of(char cards[MAX_CARDS][81], int n, const char *key, double dflt)
{
    char k[9];

    for (int i = 0; i < n; i++) {
        key_of(cards[i], k);
        if (strcmp(k, key) == 0 && cards[i][8] == '=')
            return atof(cards[i] + 10);
    }
    return dflt;
}

/* apply_edits changes the cards as hc_write says; returns the new count. */
static int apply_edits(char cards[MAX_CARDS][81], int n, const char *const *edits)
{
    for (; edits != NULL && *edits != NULL; edits++) {
        char k[9], ck[9];
        bool done = false;
        if ((*edits)[0] == '-') {
            int m = 0;
            for (int i = 0; i < n; i++) {
                key_of(cards[i], ck);
                if (strcmp(ck, *edits + 1) != 0)
                    memmove(cards[m++], cards[i], 81);
            }
            n = m;
            continue;
        }
        key_of(*edits, k);
        for (int i = 0; i < n && !done; i++) {
            key_of(cards[i], ck);
            if (strcmp(ck, k) == 0) {
                snprintf(cards[i], 81, "%s", *edits);
                done = true;
            }
        }
        if (!done && n < MAX_CARDS)
            snprintf(cards[n++], 81, "%s", *edits);
    }
    return n;
}

void hc_write(const char *path, const char *name, int w, int h, const float *px,
              const char *const *edits)
{
    static char cards[MAX_CARDS][81];
    int n = load(name, cards), st = 0, bitpix, planes;
    long naxes[3] = {w, h, 1};
    double bzero, bscale;
    fitsfile *f = NULL;
    char bang[PATH_MAX + 2];
    float *buf;
    size_t npx;

    n = apply_edits(cards, n, edits);
    bitpix = (int)num_of(cards, n, "BITPIX", 16);
    planes = (int)num_of(cards, n, "NAXIS3", 1);
    naxes[2] = planes;
    bzero = num_of(cards, n, "BZERO", 0);
    bscale = num_of(cards, n, "BSCALE", 1);
    npx = (size_t)w * (size_t)h * (size_t)planes;
    if ((buf = malloc(npx * sizeof *buf)) == NULL)
        AC_TEST_FAIL("no memory");
    for (size_t i = 0; i < npx; i++)
        buf[i] = px != NULL ? px[i % ((size_t)w * (size_t)h)] : 1000.0f;
    snprintf(bang, sizeof bang, "!%s", path);
    fits_create_file(&f, bang, &st);
    fits_create_img(f, bitpix, planes > 1 ? 3 : 2, naxes, &st);
    for (int i = 0; i < n && st == 0; i++) {
        char k[9];
        key_of(cards[i], k);
        if (!structural(k))
            fits_write_record(f, cards[i], &st);
    }
    fits_set_bscale(f, bscale, bzero, &st);
    fits_write_img(f, TFLOAT, 1, (LONGLONG)npx, buf, &st);
    fits_close_file(f, &st);
    free(buf);
    if (st != 0)
        AC_TEST_FAIL("writing %s with header %s: cfitsio status %d", path, name, st);
}
