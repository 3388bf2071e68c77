/*
 * catalog_int.h - helpers shared by the catalog's .c files only (catalog*.c, queue*.c; not
 * part of the catalog's contract, see catalog.h): reading result rows into
 * structs through a table of columns, freeing them, running one statement with bound
 * values (catalog_stmt.c), and comparing AstroFiler's values.
 *
 * Row tables: a row struct's columns are described once, as a static table of
 * ac_row_col_t (one entry per result column, in SELECT order), and the same table reads a
 * row (ac_catalog_row_read), clears a struct (ac_catalog_row_clear: frees its TEXT
 * members) and frees a list of them (AC_CATALOG_ROWS_FREE). Entries are written with
 * AC_ROW / AC_ROW_PARSE / AC_ROW_UNUSED, which check at compile time that the member has the
 * C type the column kind writes.
 *
 * Statements: ac_catalog_run and the functions built on it prepare a cached statement,
 * bind an array of ac_bind_t to ?1, ?2, ..., step it (rows to a callback, to row tables or
 * to a buffer) and release it before returning; every catalog statement that is not a
 * loop over one prepared statement goes through them.
 *
 * Ownership: TEXT members are owned copies (free()), NULL for SQL NULL; bound values are
 * borrowed for the call (SQLite copies text). Thread: the statement functions run on the
 * owner of the ac_db_t (the loop thread); the row and array helpers touch no connection
 * and are safe on any thread (the statements they read belong to the caller).
 */
#ifndef AC_CATALOG_INT_H
#define AC_CATALOG_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "schema.h"

/* ---- Arrays ---- */

/* AC_CATALOG_LIST_FREE clears every item of a list (items, n) with clear(item *) and
 * frees the array, leaving the list empty; NULL-safe. For rows with nested lists; plain
 * rows use AC_CATALOG_ROWS_FREE. */
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

/* ---- Row tables ---- */

/* What a result column becomes in the struct, and the member's C type. */
typedef enum ac_row_type {
    AC_ROW_SKIP = 0, /* not stored (the column is read by the caller, or not at all) */
    AC_ROW_TEXT,     /* char *: owned copy, NULL for SQL NULL */
    AC_ROW_NUMBER,   /* double: ac_db_column_number (NAN for NULL, '' or not a number) */
    AC_ROW_INT,      /* int: ac_db_column_int, 0 for NULL or not a number */
    AC_ROW_INT64,    /* int64_t: the integer, 0 for NULL */
    AC_ROW_SIZE,     /* int64_t: the integer, -1 for NULL (a size that may be unknown) */
    AC_ROW_BOOL,     /* bool: the number is not 0 (NULL reads as false) */
    AC_ROW_PRESENT,  /* bool: the column is not NULL */
    AC_ROW_ENUM,     /* an int-sized enum: parse(text), -1 when NULL or unknown */
} ac_row_type_t;

typedef struct ac_row_col {
    size_t offset; /* of the member in the row struct */
    ac_row_type_t type;
    int (*parse)(const char *name); /* AC_ROW_ENUM only */
} ac_row_col_t;

/* clang-format off */
/* 0, or a compile error when member m of struct type s is not of type T (or, for enums,
 * not the size of an int). */
#define AC_ROW_CHECK_(s, m, T) (0 * sizeof(char[_Generic(((s *)0)->m, T: 1, default: -1)]))
#define AC_ROW_CHECK_TEXT(s, m) AC_ROW_CHECK_(s, m, char *)
#define AC_ROW_CHECK_NUMBER(s, m) AC_ROW_CHECK_(s, m, double)
#define AC_ROW_CHECK_INT(s, m) AC_ROW_CHECK_(s, m, int)
#define AC_ROW_CHECK_INT64(s, m) AC_ROW_CHECK_(s, m, int64_t)
#define AC_ROW_CHECK_SIZE(s, m) AC_ROW_CHECK_(s, m, int64_t)
#define AC_ROW_CHECK_BOOL(s, m) AC_ROW_CHECK_(s, m, bool)
#define AC_ROW_CHECK_PRESENT(s, m) AC_ROW_CHECK_(s, m, bool)

/* AC_ROW(struct type, member, TEXT | NUMBER | INT | INT64 | SIZE | BOOL | PRESENT) */
#define AC_ROW(s, m, type) {offsetof(s, m) + AC_ROW_CHECK_##type(s, m), AC_ROW_##type, NULL}
/* AC_ROW_PARSE(struct type, member, int (*parse)(const char *)): an AC_ROW_ENUM column */
#define AC_ROW_PARSE(s, m, parse_fn)                                                           \
    {offsetof(s, m) + 0 * sizeof(char[sizeof(((s *)0)->m) == sizeof(int) ? 1 : -1]),          \
     AC_ROW_ENUM, parse_fn}
#define AC_ROW_UNUSED {0, AC_ROW_SKIP, NULL}
/* AC_ROW_SETTINGS(struct type): the six acquisition settings columns, in this order:
 * exposure, ccd_temp, gain, offset (NUMBER), xbin, ybin (INT). */
#define AC_ROW_SETTINGS(s)                                                                     \
    AC_ROW(s, exposure, NUMBER), AC_ROW(s, ccd_temp, NUMBER), AC_ROW(s, gain, NUMBER),         \
        AC_ROW(s, offset, NUMBER), AC_ROW(s, xbin, INT), AC_ROW(s, ybin, INT)
/* AC_ROW_VALUE(INT | INT64 | ...): the one entry of a table that reads a column into a
 * plain variable of the member type (the "row" is that variable). */
#define AC_ROW_VALUE(type) {0, AC_ROW_##type, NULL}
/* clang-format on */

/* The number of entries of a row table (an array, not a pointer). */
#define AC_ROW_N(table) (sizeof(table) / sizeof((table)[0]))

/* ac_catalog_row_read stores columns first, first + 1, ... first + n - 1 of st's current
 * row in the members of *row that cols[0..n-1] name. 0 or -ENOMEM (the TEXT members
 * already copied stay set, for ac_catalog_row_clear). */
int ac_catalog_row_read(sqlite3_stmt *st, int first, const ac_row_col_t *cols, size_t n,
                        void *row);

/* ac_catalog_row_clear frees the TEXT members of *row named by cols and sets them to NULL
 * (other members are left as they are). row may be NULL. */
void ac_catalog_row_clear(const ac_row_col_t *cols, size_t n, void *row);

/* ac_catalog_rows_free clears count rows of size bytes at items (ac_catalog_row_clear)
 * and frees items. AC_CATALOG_ROWS_FREE(list, table) does it for a list {items, n},
 * leaving it empty; NULL-safe. */
void ac_catalog_rows_free(const ac_row_col_t *cols, size_t n, void *items, size_t count,
                          size_t size);
#define AC_CATALOG_ROWS_FREE(list, table)                                                      \
    do {                                                                                       \
        if ((list) == NULL)                                                                    \
            break;                                                                             \
        ac_catalog_rows_free((table), AC_ROW_N(table), (list)->items, (list)->n,               \
                             sizeof *(list)->items);                                           \
        (list)->items = NULL;                                                                  \
        (list)->n = 0;                                                                         \
    } while (0)

/* ac_catalog_row_append adds one zeroed element of size bytes to a list (*items, *count,
 * capacity *cap) and reads st's current row into it (ac_catalog_row_read from column
 * first). The element is counted even when reading fails, so that freeing the list
 * releases what was copied. 0 or -ENOMEM. */
int ac_catalog_row_append(sqlite3_stmt *st, int first, const ac_row_col_t *cols, size_t n,
                          void **items, size_t *count, size_t *cap, size_t size);

/* ---- Statements: constant SQL, bound values, rows (catalog_stmt.c) ---- */

/* The value of one statement parameter. Written with the macros below (expressions, so
 * they may stand in a ?: and in an array initialiser): AC_BIND_TEXT (const char *, NULL
 * binds NULL; the text is copied by SQLite), AC_BIND_NUMBER (double, NaN binds NULL),
 * AC_BIND_INT (int64_t), AC_BIND_NULL. An array of them binds ?1, ?2, ... in order. */
typedef enum ac_bind_type {
    AC_BINDT_NULL = 0,
    AC_BINDT_TEXT,
    AC_BINDT_NUMBER,
    AC_BINDT_INT,
} ac_bind_type_t;

typedef struct ac_bind {
    ac_bind_type_t type;
    const char *text;
    double number;
    int64_t integer;
} ac_bind_t;

#define AC_BIND_TEXT(x) ((ac_bind_t){.type = AC_BINDT_TEXT, .text = (x)})
#define AC_BIND_NUMBER(x) ((ac_bind_t){.type = AC_BINDT_NUMBER, .number = (x)})
#define AC_BIND_INT(x) ((ac_bind_t){.type = AC_BINDT_INT, .integer = (x)})
#define AC_BIND_NULL ((ac_bind_t){.type = AC_BINDT_NULL})

/* The number of entries of a bind array (an array, not a pointer). */
#define AC_BIND_N(b) (sizeof(b) / sizeof((b)[0]))

/* A row callback: reads st's current row (borrowed, valid during the call). Returns 0 to
 * go on stepping, AC_CATALOG_STOP to stop (not an error), or a negative code with e set. */
typedef int (*ac_catalog_row_fn)(sqlite3_stmt *st, void *arg, ac_err_t *e);
#define AC_CATALOG_STOP 1

/* ac_catalog_run prepares sql (ac_db_prepare), binds b[0..nb-1] to ?1..?nb, steps it
 * through its rows calling fn (may be NULL: rows are stepped over) for each, and releases
 * it. op names the statement in errors. 0 (also after AC_CATALOG_STOP), or the error of
 * ac_db_prepare / ac_db_step / fn. */
int ac_catalog_run(ac_db_t *db, const char *sql, const ac_bind_t *b, size_t nb, const char *op,
                   ac_catalog_row_fn fn, void *arg, ac_err_t *e);

/* ac_catalog_exec runs a statement that returns no rows (ac_catalog_run without a
 * callback); *changes (may be NULL) receives the rows it changed. ac_catalog_exec_txn
 * does the same in a transaction of its own (ac_db_transact; a savepoint when one is
 * open), *changes 0 when it fails. */
int ac_catalog_exec(ac_db_t *db, const char *sql, const ac_bind_t *b, size_t nb, const char *op,
                    int *changes, ac_err_t *e);
int ac_catalog_exec_txn(ac_db_t *db, const char *sql, const ac_bind_t *b, size_t nb,
                        const char *op, int *changes, ac_err_t *e);

/* ac_catalog_select_rows appends every row of sql (columns from 0, read through the row
 * table cols) to a list (*items, *count) of elements of size bytes. When it fails the
 * list is freed (ac_catalog_rows_free) and left empty. AC_CATALOG_SELECT_ROWS(db, sql, b,
 * nb, table, list, op, e) does it for a list {items, n} and a row table array. */
int ac_catalog_select_rows(ac_db_t *db, const char *sql, const ac_bind_t *b, size_t nb,
                           const ac_row_col_t *cols, size_t ncols, void **items, size_t *count,
                           size_t size, const char *op, ac_err_t *e);
#define AC_CATALOG_SELECT_ROWS(db, sql, b, nb, table, list, op, e)                             \
    ac_catalog_select_rows((db), (sql), (b), (nb), (table), AC_ROW_N(table),                   \
                           (void **)&(list)->items, &(list)->n, sizeof *(list)->items, (op),   \
                           (e))

/* ac_catalog_select_row reads the first row of sql (columns from 0) into *row through the
 * row table cols; *found tells whether there was a row (row untouched when not). When it
 * fails, the TEXT members it copied are freed (ac_catalog_row_clear). */
int ac_catalog_select_row(ac_db_t *db, const char *sql, const ac_bind_t *b, size_t nb,
                          const ac_row_col_t *cols, size_t ncols, void *row, bool *found,
                          const char *op, ac_err_t *e);

/* ac_catalog_select_text copies column 0 of the first row of sql into out (size bytes,
 * truncated; "" for SQL NULL, and when there is no row); *found tells whether there was a
 * row. */
int ac_catalog_select_text(ac_db_t *db, const char *sql, const ac_bind_t *b, size_t nb,
                           char *out, size_t size, bool *found, const char *op, ac_err_t *e);

/* ac_catalog_claim runs a claiming "UPDATE ... RETURNING" in a transaction of its own
 * (ac_db_transact), binding ?1 to the current timestamp (ac_db_timestamp) and ?2 to now,
 * and reads the claimed row (columns from 0) through cols into *row (size bytes, zeroed
 * first); *found tells whether a row was claimed. */
int ac_catalog_claim(ac_db_t *db, const char *sql, double now, const ac_row_col_t *cols,
                     size_t ncols, void *row, size_t size, bool *found, const char *op,
                     ac_err_t *e);

/* ac_catalog_column_copy copies TEXT column col of st's current row into out (size bytes,
 * truncated; "" for SQL NULL). */
void ac_catalog_column_copy(sqlite3_stmt *st, int col, char *out, size_t size);

/* ---- fitsfile rows (catalog.c) ---- */

/* ac_catalog_file_columns writes the select list of a file row (alias f, for the columns
 * present): the AC_CATALOG_FILE_NCOLS columns of the row table ac_catalog_file_cols. */
#define AC_CATALOG_FILE_NCOLS 19
extern const ac_row_col_t ac_catalog_file_cols[AC_CATALOG_FILE_NCOLS];
void ac_catalog_file_columns(const ac_schema_info_t *si, char *buf, size_t size);

/* ---- Values (catalog.c) ---- */

/* ac_catalog_same_text: both NULL, or equal strings. ac_catalog_same_number: equal as
 * numbers ('300' == '300.0', relative tolerance 1e-9) when both parse, else same_text. */
bool ac_catalog_same_text(const char *a, const char *b);
bool ac_catalog_same_number(const char *a, const char *b);

#endif
