/*
 * catalog_links.c - AstroFiler's session fields that say what astrocald decided (see
 * catalog.h, "AstroFiler's session fields"): the calibration sessions a light session's
 * masters came from, whether it was calibrated automatically, and which calibration
 * sessions have a master astrocald built.
 *
 * Only the columns the database has are written (schema.c discovers them: the
 * auto_calibration_* columns come with is_auto_calibration, the master_*_created flags
 * only with AstroFiler's migration 008), and a row is written only when a value changes,
 * so a planning pass that decides the same leaves AstroFiler's tables untouched.
 *
 * Thread: loop thread only (checked).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "catalog_int.h"
#include "util.h"

/* source_of resolves a master's source session: the id when a fitssession row has it,
 * else NULL with note saying why. */
static int source_of(ac_db_t *db, const ac_session_link_t *l, char *id, size_t idsize,
                     char *note, size_t notesize, ac_err_t *e)
{
    bool found = false;
    int rc;

    id[0] = note[0] = '\0';
    if (l->master == NULL)
        return 0;
    if (l->source_session == NULL || l->source_session[0] == '\0') {
        snprintf(note, notesize,
                 "the master has no source session (Masters.source_session_id "
                 "is empty)");
        return 0;
    }
    const ac_bind_t b[] = {AC_BIND_TEXT(l->source_session)};
    rc =
        ac_catalog_select_text(db,
                               "SELECT fitsSessionId FROM fitssession WHERE fitsSessionId "
                               "= ?1",
                               b, AC_BIND_N(b), id, idsize, &found, "find a source session", e);
    if (rc == 0 && !found)
        snprintf(note, notesize, "the master's source session %.60s is not in the catalogue",
                 l->source_session);
    return rc;
}

int ac_catalog_session_links(ac_db_t *db, const char *session_id,
                             const ac_session_link_t links[3], ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    char src[3][AC_UUID_LEN + 64], note[3][160];
    char sql[1400];
    int rc;

    AC_DB_OWNER_CHECK(db);
    if ((rc = ac_schema_require(db, &si, e)) != 0)
        return rc;
    for (int k = 0; k < 3; k++)
        if ((rc = source_of(db, &links[k], src[k], sizeof src[k], note[k], sizeof note[k],
                            e)) != 0)
            return rc;
    /* ?2..?4 the sources (NULL: none), ?5..?7 whether a master of the kind is used. */
    const ac_bind_t v[] = {
        AC_BIND_TEXT(session_id),
        src[0][0] ? AC_BIND_TEXT(src[0]) : AC_BIND_NULL,
        src[1][0] ? AC_BIND_TEXT(src[1]) : AC_BIND_NULL,
        src[2][0] ? AC_BIND_TEXT(src[2]) : AC_BIND_NULL,
        AC_BIND_INT(links[0].master != NULL),
        AC_BIND_INT(links[1].master != NULL),
        AC_BIND_INT(links[2].master != NULL),
        AC_BIND_TEXT(links[0].master),
        AC_BIND_TEXT(links[1].master),
        AC_BIND_TEXT(links[2].master),
        note[0][0] ? AC_BIND_TEXT(note[0]) : AC_BIND_NULL,
        note[1][0] ? AC_BIND_TEXT(note[1]) : AC_BIND_NULL,
        note[2][0] ? AC_BIND_TEXT(note[2]) : AC_BIND_NULL,
    };
    /* A link is written only where the master has a source session; without one the
     * column keeps what it had (AstroFiler's own link, or nothing). */
    bool autocal = (si->cols & AC_COL_SESS_AUTOCAL) != 0;
    bool created = (si->cols & AC_COL_SESS_CREATED) != 0;
    snprintf(sql, sizeof sql,
             "UPDATE fitssession SET %s%s%s WHERE fitsSessionId = ?1 AND (%s%s%s)",
             "fitsBiasSession = COALESCE(?2, fitsBiasSession), "
             "fitsDarkSession = COALESCE(?3, fitsDarkSession), "
             "fitsFlatSession = COALESCE(?4, fitsFlatSession)",
             autocal ? ", auto_calibration_bias_session_id = ?2, "
                       "auto_calibration_dark_session_id = ?3, "
                       "auto_calibration_flat_session_id = ?4"
                     : "",
             created ? ", master_bias_created = ?5, master_dark_created = ?6, "
                       "master_flat_created = ?7"
                     : "",
             "(?2 IS NOT NULL AND fitsBiasSession IS NOT ?2) OR "
             "(?3 IS NOT NULL AND fitsDarkSession IS NOT ?3) OR "
             "(?4 IS NOT NULL AND fitsFlatSession IS NOT ?4)",
             autocal ? " OR auto_calibration_bias_session_id IS NOT ?2 OR "
                       "auto_calibration_dark_session_id IS NOT ?3 OR "
                       "auto_calibration_flat_session_id IS NOT ?4"
                     : "",
             created ? " OR master_bias_created IS NOT ?5 OR master_dark_created IS NOT ?6 "
                       "OR master_flat_created IS NOT ?7"
                     : "");
    rc = ac_catalog_exec(db, sql, v, AC_BIND_N(v), "write a light session's calibration links",
                         NULL, e);
    if (rc != 0)
        return rc;
    /* astrocald's own record: per kind the master, its source session, or why none. */
    return ac_catalog_exec(db,
                           "UPDATE astrocal_session SET links_json = json_object("
                           "'bias', json(CASE WHEN ?8 IS NULL THEN NULL ELSE "
                           "json_object('master', ?8, 'session', ?2, "
                           "'note', ?11) END), "
                           "'dark', json(CASE WHEN ?9 IS NULL THEN NULL ELSE "
                           "json_object('master', ?9, 'session', ?3, "
                           "'note', ?12) END), "
                           "'flat', json(CASE WHEN ?10 IS NULL THEN NULL ELSE "
                           "json_object('master', ?10, 'session', "
                           "?4, 'note', ?13) END)) WHERE session_id = ?1",
                           v, AC_BIND_N(v), "record a session's master sources", NULL, e);
}

int ac_catalog_session_autocal(ac_db_t *db, const char *session_id, ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    const ac_bind_t v[] = {AC_BIND_TEXT(session_id)};
    int rc;

    AC_DB_OWNER_CHECK(db);
    if ((rc = ac_schema_require(db, &si, e)) != 0 || !(si->cols & AC_COL_SESS_AUTOCAL))
        return rc;
    return ac_catalog_exec(db,
                           "UPDATE fitssession SET is_auto_calibration = 1 WHERE "
                           "fitsSessionId = ?1 AND is_auto_calibration IS NOT 1",
                           v, AC_BIND_N(v), "mark a session calibrated automatically", NULL, e);
}

int ac_catalog_master_created(ac_db_t *db, const char *source_session, const char *type,
                              ac_err_t *e)
{
    const ac_schema_info_t *si = NULL;
    const ac_bind_t v[] = {AC_BIND_TEXT(source_session)};
    int rc;

    AC_DB_OWNER_CHECK(db);
    if (source_session == NULL || source_session[0] == '\0' || type == NULL)
        return 0;
    if ((rc = ac_schema_require(db, &si, e)) != 0 || !(si->cols & AC_COL_SESS_CREATED))
        return rc;
    if (strcmp(type, "bias") == 0)
        return ac_catalog_exec(db,
                               "UPDATE fitssession SET master_bias_created = 1 WHERE "
                               "fitsSessionId = ?1 AND master_bias_created IS NOT 1",
                               v, 1, "flag a master bias created", NULL, e);
    if (strcmp(type, "dark") == 0)
        return ac_catalog_exec(db,
                               "UPDATE fitssession SET master_dark_created = 1 WHERE "
                               "fitsSessionId = ?1 AND master_dark_created IS NOT 1",
                               v, 1, "flag a master dark created", NULL, e);
    if (strcmp(type, "flat") == 0)
        return ac_catalog_exec(db,
                               "UPDATE fitssession SET master_flat_created = 1 WHERE "
                               "fitsSessionId = ?1 AND master_flat_created IS NOT 1",
                               v, 1, "flag a master flat created", NULL, e);
    return ac_err_set(e, -EINVAL, "flag a master created: unknown type '%s'", type);
}
