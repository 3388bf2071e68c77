/*
 * catalog_row.c - result rows into structs through row tables, arrays that grow, and the
 * older column helpers (see catalog_int.h).
 *
 * Ownership: TEXT members are owned copies (free()). Thread: any (no connection state).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_int.h"
#include "db.h"
#include "util.h"

/* ---- Row tables ---- */

int ac_catalog_row_read(sqlite3_stmt *st, int first, const ac_row_col_t *cols, size_t n,
                        void *row)
{
    for (size_t i = 0; i < n; i++) {
        int col = first + (int)i;
        void *m = (char *)row + cols[i].offset;

        switch (cols[i].type) {
        case AC_ROW_SKIP:
            break;
        case AC_ROW_TEXT:
            if (ac_db_column_dup(st, col, (char **)m) != 0)
                return -ENOMEM;
            break;
        case AC_ROW_NUMBER:
            *(double *)m = ac_db_column_number(st, col);
            break;
        case AC_ROW_INT:
            *(int *)m = ac_db_column_int(st, col, 0);
            break;
        case AC_ROW_INT64:
            *(int64_t *)m = sqlite3_column_int64(st, col);
            break;
        case AC_ROW_SIZE:
            *(int64_t *)m = sqlite3_column_type(st, col) == SQLITE_NULL
                                ? -1
                                : sqlite3_column_int64(st, col);
            break;
        case AC_ROW_BOOL:
            *(bool *)m = ac_db_column_int(st, col, 0) != 0;
            break;
        case AC_ROW_PRESENT:
            *(bool *)m = sqlite3_column_type(st, col) != SQLITE_NULL;
            break;
        case AC_ROW_ENUM:
            *(int *)m = cols[i].parse((const char *)sqlite3_column_text(st, col));
            break;
        }
    }
    return 0;
}

void ac_catalog_row_clear(const ac_row_col_t *cols, size_t n, void *row)
{
    if (row == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        if (cols[i].type == AC_ROW_TEXT) {
            char **m = (char **)((char *)row + cols[i].offset);
            free(*m);
            *m = NULL;
        }
    }
}

void ac_catalog_rows_free(const ac_row_col_t *cols, size_t n, void *items, size_t count,
                          size_t size)
{
    for (size_t i = 0; i < count; i++)
        ac_catalog_row_clear(cols, n, (char *)items + i * size);
    free(items);
}

int ac_catalog_row_append(sqlite3_stmt *st, int first, const ac_row_col_t *cols, size_t n,
                          void **items, size_t *count, size_t *cap, size_t size)
{
    if (ac_grow(items, cap, *count, size) != 0)
        return -ENOMEM;
    return ac_catalog_row_read(st, first, cols, n, (char *)*items + (*count)++ * size);
}
