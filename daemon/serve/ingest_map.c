/*
 * ingest_map.c - the string-keyed hash table of live ingest (files by path, folders by
 * path): open addressing with linear probing, FNV-1a, grown at 3/4 full. An item's first
 * member is its key (a char *), which the table does not own.
 *
 * Thread: loop thread (the tables belong to the ingest's loop).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_int.h"

static const char *key_of(const void *item)
{
    return *(char *const *)item;
}

static size_t map_find(const struct map *m, const char *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    size_t mask = m->cap - 1, i;

    for (const char *c = key; *c != '\0'; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    for (i = h & mask; m->v[i] != NULL && strcmp(key_of(m->v[i]), key) != 0; i = (i + 1) & mask)
        ;
    return i;
}

void *ac_ingest_map_get(const struct map *m, const char *key)
{
    return m->cap > 0 ? m->v[map_find(m, key)] : NULL;
}

int ac_ingest_map_put(struct map *m, void *item)
{
    if ((m->n + 1) * 4 > m->cap * 3) {
        struct map big = {NULL, m->cap > 0 ? m->cap * 2 : 64, 0};
        if ((big.v = calloc(big.cap, sizeof *big.v)) == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
            if (m->v[i] != NULL)
                big.v[map_find(&big, key_of(m->v[i]))] = m->v[i];
        big.n = m->n;
        free(m->v);
        *m = big;
    }
    m->v[map_find(m, key_of(item))] = item;
    m->n++;
    return 0;
}

/* map_del removes key (linear probing: the rest of its cluster is put back, so lookups
 * never stop early at the hole). */
void ac_ingest_map_del(struct map *m, const char *key)
{
    size_t mask = m->cap - 1, i;

    if (m->cap == 0 || m->v[i = map_find(m, key)] == NULL)
        return;
    m->v[i] = NULL;
    m->n--;
    for (i = (i + 1) & mask; m->v[i] != NULL; i = (i + 1) & mask) {
        void *x = m->v[i];
        m->v[i] = NULL;
        m->v[map_find(m, key_of(x))] = x;
    }
}
