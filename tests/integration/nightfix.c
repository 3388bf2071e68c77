/*
 * nightfix.c - a generated night and its catalogue for daemon tests (see nightfix.h).
 */
#include "nightfix.h"

#include "afdb.h"
#include "support.h"

void abspath(char *out, size_t size, const char *rel)
{
    snprintf(out, size, "%s/%s", ac_test_tmpdir(), rel);
}

/* make_night generates masters and n lights (w x h) under night/. */
void make_night(struct night *nt, int n, int w, int h)
{
    ac_gen_camera_t cam;
    ac_gen_night_t gn;
    ac_err_t e = {0};
    char rel[256];

    memset(nt, 0, sizeof *nt);
    ac_gen_camera_default(&cam, 7);
    cam.width = w;
    cam.height = h;
    snprintf(cam.instrume, sizeof cam.instrume, "ZWO ASI294MM Pro");
    snprintf(cam.telescop, sizeof cam.telescop, "C14");
    nt->g = ac_gen_new(&cam, &e);
    ASSERT_NOT_NULL(nt->g);
    ac_gen_night_default(&gn, &cam);
    gn.n_lights = n;
    gn.masters = AC_GEN_MASTER_ASTROFILER;
    if (ac_gen_write_night(nt->g, &gn, "night", &e) != 0)
        AC_TEST_FAIL("night: %s", e.msg);
    abspath(nt->dir, sizeof nt->dir, "night");
    nt->n = n;
    for (int i = 0; i < n; i++) {
        snprintf(rel, sizeof rel, "night/lights/M_31_L_300s_%04d.fits", i + 1);
        abspath(nt->light[i], sizeof nt->light[i], rel);
        snprintf(nt->light_id[i], sizeof nt->light_id[i], "L-%04d", i + 1);
    }
    abspath(nt->bias, sizeof nt->bias, "night/masters/master_bias.fits");
    abspath(nt->dark, sizeof nt->dark, "night/masters/master_dark.fits");
    abspath(nt->flat, sizeof nt->flat, "night/masters/master_flat.fits");
}

long long add_master(sqlite3 *db, const char *type, const char *path, const char *hash)
{
    return add_master_from(db, type, path, hash, NULL);
}

long long add_master_from(sqlite3 *db, const char *type, const char *path, const char *hash,
                          const char *source_session)
{
    afdb_master_t m = {0};
    char mid[64];
    static int seq;

    snprintf(mid, sizeof mid, "%s_C14_20240314_1200%02d", type, seq++);
    m.master_id = mid;
    m.type = type;
    m.path = path;
    m.telescope = strcmp(type, "flat") == 0 ? "C14" : "Unknown";
    m.instrument = "ZWO ASI294MM Pro";
    m.exposure = strcmp(type, "dark") == 0 ? "300.0" : NULL;
    m.xbin = "1";
    m.ybin = "1";
    m.ccd_temp = "-10.0";
    m.filter = strcmp(type, "flat") == 0 ? "L" : NULL;
    m.hash = hash;
    m.source_session = source_session;
    m.file_count = 20;
    m.is_validated = 1;
    return afdb_add_master(db, &m);
}

/* add_lights adds light session S-1 with the night's lights, as AstroFiler registers them. */
void add_lights(sqlite3 *db, struct night *nt)
{
    afdb_add_session(db, "S-1", "M 31", "2024-03-15", "300.0", "-10.0", "L");
    for (int i = 0; i < nt->n; i++) {
        const char *date = read_key_string(nt->light[i], "DATE-OBS");
        char d[64];
        snprintf(d, sizeof d, "%s", date ? date : "2024-03-15T21:30:00");
        afdb_file_t f = afdb_light(nt->light_id[i], "S-1", nt->light[i], d, "300.0");
        f.filter = "L";
        afdb_add_file(db, &f);
    }
}

/* make_catalogue writes an AstroFiler database with one light session of the night's
 * lights and the masters chosen by `masters` ("bdf": bias, dark, flat). */
void make_catalogue(ac_harness_t *h, struct night *nt, const char *masters)
{
    sqlite3 *db = afdb_create(h->database, AFDB_MIGRATED);

    add_lights(db, nt);
    if (strchr(masters, 'b'))
        add_master(db, "bias", nt->bias, NULL);
    if (strchr(masters, 'd'))
        add_master(db, "dark", nt->dark, NULL);
    if (strchr(masters, 'f'))
        add_master(db, "flat", nt->flat, NULL);
    sqlite3_close(db);
}

sqlite3 *open_db(ac_harness_t *h)
{
    sqlite3 *db = NULL;

    ASSERT_EQ(sqlite3_open_v2(h->database, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

long long count_calibrated_rows(sqlite3 *db)
{
    return afdb_int(db,
                    "SELECT count(*) FROM fitsfile WHERE fitsFileCalibrated = 1 AND "
                    "fitsFileOriginalFile IS NOT NULL",
                    NULL, -1);
}

long long files_in_state(sqlite3 *db, const char *state)
{
    return afdb_int(db, "SELECT count(*) FROM astrocal_file WHERE state = ?1", state, -1);
}

/* wait_state polls the queue until n files are in state (or the timeout). */
bool wait_state(ac_harness_t *h, const char *state, long long n, int timeout_ms)
{
    long long t0 = ac_harness_now_ms();

    while (ac_harness_now_ms() - t0 < timeout_ms) {
        sqlite3 *db = open_db(h);
        long long k = files_in_state(db, state);
        sqlite3_close(db);
        if (k >= n)
            return true;
        ac_harness_notify_poll(h, 100);
    }
    return false;
}

bool wait_done(ac_harness_t *h, long long n, int timeout_ms)
{
    return wait_state(h, "done", n, timeout_ms);
}

/* forget_notify drops the notifications recorded so far, so that waiting for READY=1
 * after a restart waits for the new process. */
void forget_notify(ac_harness_t *h)
{
    for (size_t i = 0; i < h->nnotify; i++)
        free(h->notify[i]);
    h->nnotify = 0;
}

/* wait_exit waits for a --drain daemon to exit by itself; returns its exit status. */
int wait_exit(ac_harness_t *h, int timeout_ms)
{
    int rc = ac_harness_wait(h, h->pid, timeout_ms, &h->status);

    if (rc == -ETIMEDOUT) {
        ac_harness_dump_log(h);
        ac_harness_kill(h);
    }
    h->pid = -1;
    return rc;
}
