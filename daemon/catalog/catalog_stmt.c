/*
 * catalog_stmt.c - running one statement with bound values: prepare, bind, step through
 * the rows, release (see catalog_int.h, "Statements"). Every statement of the catalog
 * that is not a loop over one prepared statement goes through ac_catalog_run.
 *
 * Ownership: statements are borrowed from the connection's cache (ac_db_prepare) and
 * handed back before each function returns. Thread: the owner of the ac_db_t (the loop
 * thread); checked by ac_db_prepare.
 */
#include <errno.h>
#include <string.h>

#include "catalog_int.h"
#include "db.h"
#include "util.h"

static void bind_values(sqlite3_stmt *st, const ac_bind_t *b, size_t nb)
{
    for (size_t i = 0; i < nb; i++) {
        int idx = (int)i + 1;

        switch (b[i].type) {
        case AC_BINDT_TEXT:
            ac_db_bind_text(st, idx, b[i].text);
            break;
        case AC_BINDT_NUMBER:
            ac_db_bind_double(st, idx, b[i].number);
            break;
        case AC_BINDT_INT:
            sqlite3_bind_int64(st, idx, b[i].integer);
            break;
        case AC_BINDT_NULL:
            sqlite3_bind_null(st, idx);
            break;
        }
    }
}

int ac_catalog_run(ac_db_t *db, const char *sql, const ac_bind_t *b, size_t nb, const char *op,
                   ac_catalog_row_fn fn, void *arg, ac_err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if ((rc = ac_db_prepare(db, sql, &st, e)) != 0)
        return rc;
    bind_values(st, b, nb);
    while ((rc = ac_db_step(db, st, op, e)) == AC_DB_ROW) {
        if (fn != NULL && (rc = fn(st, arg, e)) != 0)
            break;
    }
    ac_db_release(db, st);
    return rc < 0 ? rc : 0;
}

int ac_catalog_exec(ac_db_t *db, const char *sql, const ac_bind_t *b, size_t nb, const char *op,
                    int *changes, ac_err_t *e)
{
    int rc = ac_catalog_run(db, sql, b, nb, op, NULL, NULL, e);

    if (changes != NULL)
        *changes = rc == 0 ? ac_db_changes(db) : 0;
    return rc;
}

struct exec_ctx {
    const char *sql, *op;
    const ac_bind_t *b;
    size_t nb;
    int changes;
};

static int exec_body(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct exec_ctx *x = arg;

    return ac_catalog_exec(db, x->sql, x->b, x->nb, x->op, &x->changes, e);
}

int ac_catalog_exec_txn(ac_db_t *db, const char *sql, const ac_bind_t *b, size_t nb,
                        const char *op, int *changes, ac_err_t *e)
{
    struct exec_ctx x = {sql, op, b, nb, 0};
    int rc = ac_db_transact(db, exec_body, &x, e);

    if (changes != NULL)
        *changes = rc == 0 ? x.changes : 0;
    return rc;
}

/* ---- Rows into structs ---- */

struct rows_ctx {
    const ac_row_col_t *cols;
    size_t ncols;
    void **items;
    size_t *count, cap, size;
    const char *op;
};

static int append_row(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    struct rows_ctx *rx = arg;

    if (ac_catalog_row_append(st, 0, rx->cols, rx->ncols, rx->items, rx->count, &rx->cap,
                              rx->size) != 0)
        return ac_err_set(e, -ENOMEM, "%s: out of memory", rx->op);
    return 0;
}

int ac_catalog_select_rows(ac_db_t *db, const char *sql, const ac_bind_t *b, size_t nb,
                           const ac_row_col_t *cols, size_t ncols, void **items, size_t *count,
                           size_t size, const char *op, ac_err_t *e)
{
    struct rows_ctx rx = {cols, ncols, items, count, 0, size, op};
    int rc;

    *items = NULL;
    *count = 0;
    rc = ac_catalog_run(db, sql, b, nb, op, append_row, &rx, e);
    if (rc != 0) {
        ac_catalog_rows_free(cols, ncols, *items, *count, size);
        *items = NULL;
        *count = 0;
    }
    return rc;
}

struct row_ctx {
    const ac_row_col_t *cols;
    size_t ncols;
    void *row;
    bool *found;
    const char *op;
};

static int read_row(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    struct row_ctx *rx = arg;

    *rx->found = true;
    if (ac_catalog_row_read(st, 0, rx->cols, rx->ncols, rx->row) != 0)
        return ac_err_set(e, -ENOMEM, "%s: out of memory", rx->op);
    return AC_CATALOG_STOP;
}

int ac_catalog_select_row(ac_db_t *db, const char *sql, const ac_bind_t *b, size_t nb,
                          const ac_row_col_t *cols, size_t ncols, void *row, bool *found,
                          const char *op, ac_err_t *e)
{
    struct row_ctx rx = {cols, ncols, row, found, op};
    int rc;

    *found = false;
    rc = ac_catalog_run(db, sql, b, nb, op, read_row, &rx, e);
    if (rc != 0) {
        if (*found)
            ac_catalog_row_clear(cols, ncols, row);
        *found = false;
    }
    return rc;
}

/* ---- One text value ---- */

void ac_catalog_column_copy(sqlite3_stmt *st, int col, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    ac_strlcpy(out, t != NULL ? (const char *)t : "", size);
}

struct text_ctx {
    char *out;
    size_t size;
    bool *found;
};

static int read_text(sqlite3_stmt *st, void *arg, ac_err_t *e)
{
    struct text_ctx *tx = arg;

    (void)e;
    ac_catalog_column_copy(st, 0, tx->out, tx->size);
    *tx->found = true;
    return AC_CATALOG_STOP;
}

int ac_catalog_select_text(ac_db_t *db, const char *sql, const ac_bind_t *b, size_t nb,
                           char *out, size_t size, bool *found, const char *op, ac_err_t *e)
{
    struct text_ctx tx = {out, size, found};

    *found = false;
    out[0] = '\0';
    return ac_catalog_run(db, sql, b, nb, op, read_text, &tx, e);
}

struct claim_ctx {
    const char *sql, *op;
    double now;
    const ac_row_col_t *cols;
    size_t ncols, size;
    void *row;
    bool found;
};

static int claim_body(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct claim_ctx *cx = arg;
    char ts[32];

    /* The body may run again after a busy answer: start from an empty row each time. */
    ac_catalog_row_clear(cx->cols, cx->ncols, cx->row);
    memset(cx->row, 0, cx->size);
    cx->found = false;
    ac_db_timestamp(ts, sizeof ts);
    const ac_bind_t v[] = {AC_BIND_TEXT(ts), AC_BIND_NUMBER(cx->now)};
    return ac_catalog_select_row(db, cx->sql, v, AC_BIND_N(v), cx->cols, cx->ncols, cx->row,
                                 &cx->found, cx->op, e);
}

int ac_catalog_claim(ac_db_t *db, const char *sql, double now, const ac_row_col_t *cols,
                     size_t ncols, void *row, size_t size, bool *found, const char *op,
                     ac_err_t *e)
{
    struct claim_ctx cx = {sql, op, now, cols, ncols, size, row, false};
    int rc;

    memset(row, 0, size);
    rc = ac_db_transact(db, claim_body, &cx, e);
    *found = rc == 0 && cx.found;
    return rc;
}
