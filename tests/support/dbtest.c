/*
 * dbtest.c - catalogues for the tests; the contract is in dbtest.h.
 */
#include "dbtest.h"

#include <stdio.h>

#include "schema.h"
#include "test.h"

long long q_int(ac_db_t *db, const char *sql, const char *arg)
{
    return afdb_int(ac_db_handle(db), sql, arg, -999);
}

const char *q_text(ac_db_t *db, const char *sql, const char *arg)
{
    static char buf[8][512];
    static int k;

    k = (k + 1) % 8;
    return afdb_text(ac_db_handle(db), sql, arg, buf[k], sizeof buf[k]);
}

/* open_db opens path with the daemon's connection. */
static ac_db_t *open_db(const char *path)
{
    ac_err_t e = {0};
    ac_db_t *db = ac_db_open(path, NULL, &e);

    if (db == NULL)
        AC_TEST_FAIL("open %s: %s", path, e.msg);
    return db;
}

ac_db_t *dbtest_create(const char *path, afdb_variant_t v)
{
    sqlite3_close(afdb_create(path, v));
    return open_db(path);
}

ac_db_t *dbtest_open(sqlite3 *h, const char *path)
{
    ac_err_t e = {0};
    ac_db_t *db;

    sqlite3_close(h);
    db = open_db(path);
    if (ac_schema_prepare(db, NULL, &e) != 0)
        AC_TEST_FAIL("prepare %s: %s", path, e.msg);
    return db;
}

void dbtest_add_file(sqlite3 *h, const char *dir, afdb_file_t f)
{
    char path[256];

    snprintf(path, sizeof path, "%s/%s.fits", dir, f.id);
    f.name = path;
    afdb_add_file(h, &f);
}

/* lights_add adds the light id of session to /data/lights with the given columns. */
static void lights_add(sqlite3 *h, const char *id, const char *session, const char *date,
                       const char *type, const char *exptime, int calibrated, int softdelete,
                       const char *original)
{
    afdb_file_t f = afdb_light(id, session, NULL, date, exptime);

    f.type = type;
    f.calibrated = calibrated;
    f.softdelete = softdelete;
    f.original = original;
    dbtest_add_file(h, "/data/lights", f);
}

ac_db_t *lights_db(afdb_variant_t v)
{
    const char *path = v == AFDB_MIGRATED ? "cat-migrated.db" : "cat-models.db";
    sqlite3 *h = afdb_create(path, v);
    afdb_file_t d;

    afdb_add_session(h, "S1", "M 31", "2024-10-04", "300", "-10.1", "Ha");
    afdb_add_session(h, "S2", "M 42", "2024-10-06", "60", "-10", "L");
    afdb_add_session(h, "S3", "NGC 7000", "2024-10-03", "120", "0", "OIII");
    afdb_add_session(h, "SD", "Dark", "2024-10-04", "300", "-10", NULL);
    lights_add(h, "L1", "S1", "2024-10-05T02:10:07.25", "LIGHT FRAME", "300", 0, 0, NULL);
    lights_add(h, "L2", "S1", "2024-10-05T02:15:09.50", "LIGHT", "300.0", AFDB_NULL, AFDB_NULL,
               NULL);
    lights_add(h, "L3", "S1", "2024-10-05T02:20:11.00", "Light Frame", "300", 0, 0, NULL);
    lights_add(h, "L4", "S1", "2024-10-05T02:25:13.00", "LIGHT FRAME", "300", 1, 0, NULL);
    lights_add(h, "L5", "S1", "2024-10-05T02:30:15.00", "LIGHT FRAME", "300", 0, 1, NULL);
    lights_add(h, "C1", "S1", "2024-10-05T02:10:07.25", "LIGHT FRAME", "300", AFDB_NULL, 0,
               "/data/lights/L0.fits");
    lights_add(h, "L6", "S3", "2024-10-03T21:00:00", "LIGHT FRAME", "120", 0, 0, NULL);
    lights_add(h, "M2L", "S2", "2024-10-06T22:00:00", "LIGHT FRAME", "60", 1, 0, NULL);
    lights_add(h, "U1", NULL, "2024-10-05T03:00:00", "LIGHT FRAME", "300", 0, 0, NULL);
    lights_add(h, "L7", "S9", "2024-10-07T01:00:00", "LIGHT FRAME", "300", 0, 0, NULL);
    d = afdb_light("D1", "S1", NULL, "2024-10-05T08:00:00", "300");
    d.type = "DARK FRAME";
    d.object = "Dark";
    d.filter = NULL;
    dbtest_add_file(h, "/data/darks", d);
    return dbtest_open(h, path);
}
