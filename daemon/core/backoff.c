/*
 * backoff.c - exponential back-off (see backoff.h).
 */
#include "backoff.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

double ac_backoff_delay(double first_s, double cap_s, int n)
{
    double d;

    if (n < 0)
        n = 0;
    if (n > 60) /* 2^60 times anything positive is past any cap */
        n = 60;
    d = first_s * ldexp(1.0, n);
    return d < cap_s ? d : cap_s;
}

double ac_backoff_fail(ac_backoff_t *b, double now, double first_s, double cap_s)
{
    b->delay_s = ac_backoff_delay(first_s, cap_s, b->failures);
    b->failures++;
    b->until = now + b->delay_s;
    return b->delay_s;
}

bool ac_backoff_due(const ac_backoff_t *b, double now)
{
    return b->failures == 0 || now >= b->until;
}

void ac_backoff_reset(ac_backoff_t *b)
{
    memset(b, 0, sizeof *b);
}

static ac_backoff_entry_t *find(ac_backoff_table_t *t, const char *key)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->v[i].key, key) == 0)
            return &t->v[i];
    return NULL;
}

ac_backoff_t *ac_backoff_table_get(ac_backoff_table_t *t, const char *key, bool add)
{
    ac_backoff_entry_t *en = find(t, key);

    if (en != NULL || !add)
        return en != NULL ? &en->b : NULL;
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 8;
        void *p = realloc(t->v, (size_t)cap * sizeof *t->v);
        if (p == NULL)
            return NULL;
        t->v = p;
        t->cap = cap;
    }
    en = &t->v[t->n++];
    memset(en, 0, sizeof *en);
    ac_strlcpy(en->key, key, sizeof en->key);
    return &en->b;
}

void ac_backoff_table_drop(ac_backoff_table_t *t, const char *key)
{
    ac_backoff_entry_t *en = find(t, key);

    if (en != NULL)
        *en = t->v[--t->n];
}

void ac_backoff_table_free(ac_backoff_table_t *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}
