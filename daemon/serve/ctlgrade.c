/*
 * ctlgrade.c - grading in the control protocol's replies (see ctlgrade.h).
 */
#include "ctlgrade.h"

#include <math.h>
#include <string.h>

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *text(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *ac_ctlgrade_row_json(const ac_grade_row_t *r)
{
    bool measured = r->state != NULL && strcmp(r->state, "measured") == 0;
    json_t *o = json_object();

    json_object_set_new(o, "file_id", text(r->file_id));
    json_object_set_new(o, "path", text(r->path));
    json_object_set_new(o, "output_path", text(r->output_path));
    json_object_set_new(o, "state", text(r->state));
    json_object_set_new(o, "error", text(r->error));
    json_object_set_new(o, "fwhm", num(r->fwhm));
    json_object_set_new(o, "hfr", num(r->hfr));
    json_object_set_new(o, "fwhm_arcsec", num(r->fwhm_arcsec));
    json_object_set_new(o, "hfr_arcsec", num(r->hfr_arcsec));
    json_object_set_new(o, "eccentricity", num(r->ecc));
    json_object_set_new(o, "stars", measured ? json_integer(r->stars) : json_null());
    json_object_set_new(o, "snr", num(r->snr));
    json_object_set_new(o, "scale", num(r->scale));
    json_object_set_new(o, "nonfinite", num(r->nonfinite));
    json_object_set_new(o, "flat_residual", num(r->flat_residual));
    json_object_set_new(o, "score", num(r->score));
    json_object_set_new(o, "verdict", text(r->verdict));
    json_object_set_new(o, "override", text(r->override));
    json_object_set_new(o, "reasons", text(r->reasons));
    json_object_set_new(o, "qreject", text(r->header_reasons));
    return o;
}

json_t *ac_ctlgrade_summary_json(const ac_grade_summary_t *s)
{
    return json_pack("{s:i,s:i,s:i,s:i,s:i,s:{s:o,s:o,s:o,s:o,s:o}}", "measured", s->measured,
                     "failed", s->failed, "rejected", s->rejected, "accepted", s->accepted,
                     "unjudged", s->unjudged, "median", "fwhm", num(s->median.fwhm), "hfr",
                     num(s->median.hfr), "eccentricity", num(s->median.ecc), "stars",
                     num(s->median.stars), "snr", num(s->median.snr));
}

const ac_grade_row_t *ac_ctlgrade_find(const ac_grade_rows_t *rows, const char *file_id)
{
    for (size_t i = 0; i < rows->n; i++)
        if (rows->items[i].file_id != NULL && strcmp(rows->items[i].file_id, file_id) == 0)
            return &rows->items[i];
    return NULL;
}

void ac_ctlgrade_session_summary(const ac_grade_rows_t *rows, const char *session_id,
                                 ac_grade_summary_t *s)
{
    ac_grade_rows_t part = {rows->items, 0};
    size_t i = 0;

    /* The rows come ordered by session: find the session's run. */
    while (i < rows->n && (rows->items[i].session_id == NULL ||
                           strcmp(rows->items[i].session_id, session_id) != 0))
        i++;
    part.items = rows->items + i;
    while (i + part.n < rows->n && rows->items[i + part.n].session_id != NULL &&
           strcmp(rows->items[i + part.n].session_id, session_id) == 0)
        part.n++;
    ac_grade_summarise(&part, s);
}
