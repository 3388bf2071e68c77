/*
 * catalog_recal.c - recording a recalibrated light (catalog.h,
 * ac_catalog_record_recalibrated): the output's existing fitsfile row and the
 * astrocal_record row are updated in place, so a raw light never has two calibrated rows.
 *
 * Thread: loop thread only (checked).
 */
#include "catalog.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "catalog_int.h"
#include "schema.h"
#include "util.h"

struct recal_ctx {
    const ac_calibrated_rec_t *rec;
    const ac_schema_info_t *si;
    char out_id[AC_UUID_LEN + 1];
};

static int recal_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct recal_ctx *cx = arg;
    const ac_calibrated_rec_t *r = cx->rec;
    char now[32], sql[1024];
    bool found;
    int rc, changes = 0;

    ac_db_timestamp(now, sizeof now);
    const ac_bind_t raw[] = {AC_BIND_TEXT(r->raw_file_id)};
    rc = ac_catalog_select_text(
        db, "SELECT output_file_id FROM astrocal_record WHERE file_id = ?1", raw, 1, cx->out_id,
        sizeof cx->out_id, &found, "look up the calibration record", e);
    if (rc != 0)
        return rc;
    if (!found || cx->out_id[0] == '\0')
        return ac_err_set(e, -ENOENT, "%s: raw light %s has no calibration to replace",
                          ac_db_path(db), r->raw_file_id);
    snprintf(sql, sizeof sql,
             "UPDATE fitsfile SET fitsFileHash = ?2, fitsFileName = ?3%s%s%s%s WHERE "
             "fitsFileId = ?1",
             (cx->si->cols & AC_COL_FILE_CALDATE) ? ", fitsFileCalibrationDate = ?4" : "",
             (cx->si->cols & AC_COL_FILE_MASTER_BIAS) ? ", fitsFileMasterBias = ?5" : "",
             (cx->si->cols & AC_COL_FILE_MASTER_DARK) ? ", fitsFileMasterDark = ?6" : "",
             (cx->si->cols & AC_COL_FILE_MASTER_FLAT) ? ", fitsFileMasterFlat = ?7" : "");
    const ac_bind_t out[] = {AC_BIND_TEXT(cx->out_id),     AC_BIND_TEXT(r->output_sha256),
                             AC_BIND_TEXT(r->output_path), AC_BIND_TEXT(now),
                             AC_BIND_TEXT(r->bias_path),   AC_BIND_TEXT(r->dark_path),
                             AC_BIND_TEXT(r->flat_path)};
    rc = ac_catalog_exec(db, sql, out, AC_BIND_N(out), "update the output row", &changes, e);
    if (rc != 0)
        return rc;
    if (changes != 1)
        return ac_err_set(e, -ENOENT, "%s: the output row %s of raw light %s is gone",
                          ac_db_path(db), cx->out_id, r->raw_file_id);
    const ac_bind_t v[] = {
        AC_BIND_TEXT(r->raw_file_id),
        AC_BIND_TEXT(r->output_path),
        AC_BIND_TEXT(r->bias_path),
        AC_BIND_TEXT(r->bias_md5),
        AC_BIND_TEXT(r->dark_path),
        AC_BIND_TEXT(r->dark_md5),
        AC_BIND_TEXT(r->flat_path),
        AC_BIND_TEXT(r->flat_md5),
        AC_BIND_TEXT(r->flatdark_path),
        AC_BIND_TEXT(r->flatdark_md5),
        AC_BIND_TEXT(r->steps),
        AC_BIND_NUMBER(r->dark_scale),
        AC_BIND_NUMBER(r->pedestal),
        AC_BIND_TEXT(r->quality_json),
        AC_BIND_NUMBER(r->t_read),
        AC_BIND_NUMBER(r->t_calib),
        AC_BIND_NUMBER(r->t_write),
        AC_BIND_NUMBER(r->t_total),
        AC_BIND_TEXT(now),
    };
    return ac_catalog_exec(db,
                           "UPDATE astrocal_record SET output_path = ?2, bias_path = ?3, "
                           "bias_md5 = ?4, dark_path = ?5, dark_md5 = ?6, flat_path = ?7, "
                           "flat_md5 = ?8, flatdark_path = ?9, flatdark_md5 = ?10, steps = "
                           "?11, dark_scale = ?12, pedestal = ?13, quality_json = ?14, t_read "
                           "= ?15, t_calib = ?16, t_write = ?17, t_total = ?18, created_at = "
                           "?19 WHERE file_id = ?1",
                           v, AC_BIND_N(v), "update the calibration record", NULL, e);
}

int ac_catalog_record_recalibrated(ac_db_t *db, const ac_calibrated_rec_t *rec,
                                   char out_file_id[AC_UUID_LEN + 1], ac_err_t *e)
{
    struct recal_ctx cx;
    int rc;

    AC_DB_OWNER_CHECK(db);
    memset(&cx, 0, sizeof cx);
    if (rec == NULL || rec->raw_file_id == NULL || rec->output_path == NULL)
        return ac_err_set(e, -EINVAL, "record: raw file id and output path are required");
    cx.rec = rec;
    if ((rc = ac_schema_require(db, &cx.si, e)) != 0)
        return rc;
    if ((rc = ac_db_transact(db, recal_txn, &cx, e)) != 0)
        return rc;
    if (out_file_id != NULL)
        memcpy(out_file_id, cx.out_id, sizeof cx.out_id);
    return 0;
}
