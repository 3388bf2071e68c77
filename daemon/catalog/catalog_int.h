/*
 * catalog_int.h - helpers shared by the catalog's .c files only (catalog*.c, queue*.c)
 * (not part of the catalog's contract; see catalog.h).
 *
 * Thread: the array and column helpers touch no connection and are safe on any thread.
 */
#ifndef AC_CATALOG_INT_H
#define AC_CATALOG_INT_H

#include <sqlite3.h>
#include <stddef.h>

/* ac_catalog_grow makes room in *items (elements of size bytes, capacity *cap) for at
 * least n + 1 elements; new elements are zeroed. 0 or -ENOMEM (items unchanged). */
int ac_catalog_grow(void **items, size_t *cap, size_t n, size_t size);

/* ac_catalog_dup_columns copies TEXT columns first, first+1, ... into *fields[0],
 * *fields[1], ... (NULL for SQL NULL). 0 or -ENOMEM (fields already copied stay set, for
 * the caller's clear function to free). */
int ac_catalog_dup_columns(sqlite3_stmt *st, int first, char **const fields[], size_t n);

/* AC_CATALOG_LIST_FREE clears every item of a list (items, n) with clear(item *) and
 * frees the array, leaving the list empty; NULL-safe. */
#define AC_CATALOG_LIST_FREE(list, clear)                                                      \
    do {                                                                                       \
        if ((list) == NULL)                                                                    \
            break;                                                                             \
        for (size_t i_ = 0; i_ < (list)->n; i_++)                                              \
            clear(&(list)->items[i_]);                                                         \
        free((list)->items);                                                                   \
        (list)->items = NULL;                                                                  \
        (list)->n = 0;                                                                         \
    } while (0)

/* ac_catalog_free_fields frees *fields[i] and sets them to NULL. */
void ac_catalog_free_fields(char **const fields[], size_t n);

#endif
