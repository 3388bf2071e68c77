/*
 * print_int.h - the helpers astrocalctl's renderers share (print.c, print_grade.c); not
 * part of print.h's contract.
 *
 * Thread: any (no global state).
 */
#ifndef AC_PRINT_INT_H
#define AC_PRINT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* ac_print_str returns o[k] when it is a string, else NULL; ac_print_dash returns s, or "-"
 * for NULL or ""; ac_print_num_i / _f return o[k] as a number (0 / NAN when absent);
 * ac_print_fnum formats o[k] with fmt (a double conversion) into buf, or returns "-";
 * ac_print_base returns the part of path after its last '/'. */
const char *ac_print_str(json_t *o, const char *k);
const char *ac_print_dash(const char *s);
long long ac_print_num_i(json_t *o, const char *k);
double ac_print_num_f(json_t *o, const char *k);
const char *ac_print_fnum(char *buf, size_t size, json_t *o, const char *k, const char *fmt);
const char *ac_print_base(const char *path);
/* ac_print_list_of sets *list to the array r[key]: 0 when it has rows, 1 when it is empty
 * (none is printed as a line), -EINVAL when it is not an array. */
int ac_print_list_of(FILE *out, json_t *r, const char *key, const char *none, json_t **list);
/* ac_print_id_text formats a string or integer id (into buf for an integer), or "-". */
const char *ac_print_id_text(char *buf, size_t size, json_t *v);

/* A table: columns separated by two spaces, numbers right-aligned ('r' in align). */
#define MAX_COLS 16

typedef struct ac_print_table {
    int ncols;
    const char *head[MAX_COLS];
    bool right[MAX_COLS];
    char **cells;
    size_t rows, cap;
    bool oom;
} ac_print_table_t;

void ac_print_table_init(ac_print_table_t *t, const char *align, const char *const *head);
/* ac_print_table_add appends a row of ncols strings (copied; NULL prints as "-"). */
void ac_print_table_add(ac_print_table_t *t, const char *const *row);
/* ac_print_table_print prints and frees the table. 0 or -ENOMEM. */
int ac_print_table_print(ac_print_table_t *t, FILE *out, const char *indent);

/* ---- grading (print_grade.c) ---- */

/* ac_print_grade_cells fills cells[0..6] (each 32 bytes) with a file's FWHM, HFR,
 * eccentricity, stars, SNR, score and verdict from its "grade" object (NULL: "-"). */
void ac_print_grade_cells(json_t *grade, char cells[7][32]);

/* ac_print_grade_event renders the grading events (file_graded, file_verdict,
 * session_graded) after the time; false when event is not one of them. */
bool ac_print_grade_event(FILE *out, const char *event, json_t *d);

#endif
