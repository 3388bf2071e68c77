/*
 * test-importer-files.c - `astrocalctl import DIR` (daemon/serve/importer.c) over what a
 * folder holds besides new lights: files registered before, masters, incomplete, unreadable
 * and foreign files, alternative keywords, compressed files; and how it runs: batches that
 * keep the loop turning, reads in parallel registered in the walk's order, calibration
 * frames and masters first with a progress report per batch, cancelling, bad folders,
 * single files. The fixture is tests/support/importtest.h; hashes are checked
 * with the sha256sum/md5sum tools. The sessions are tested in test-importer.c.
 */
#include <errno.h>
#include <fitsio.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <uv.h>

#include "db.h"
#include "fitsgen.h"
#include "fsutil.h"
#include "importer.h"
#include "importtest.h"
#include "test.h"
#include "tools.h"

/* ---- Duplicates, masters ---- */

TEST(importer_twice_registers_nothing_new)
{
    struct import_fx x;
    ac_import_opts_t o;
    struct run *r;
    long long files, sessions, masters;
    char cmd[2048];

    import_fx_init(&x, 16);
    x.n.n_lights = 3;
    x.n.raw_cal = 2; /* + 8 raw calibration frames; masters: 3 */
    write_night(x.g, &x.n, "twice");
    r = run_import(x.db, "twice", NULL);
    ASSERT_EQ(r->r.registered, 11);
    ASSERT_EQ(r->r.masters, 3);
    ASSERT_EQ(r->r.duplicates, 0);
    files = q_int(x.db, "SELECT count(*) FROM fitsfile", NULL);
    sessions = q_int(x.db, "SELECT count(*) FROM fitssession", NULL);
    masters = q_int(x.db, "SELECT count(*) FROM Masters", NULL);
    ASSERT_EQ(files, 11);
    ASSERT_EQ(masters, 3);

    /* Again: every file is a duplicate by hash (masters by path and MD5). */
    r = run_import(x.db, "twice", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.files, 14);
    ASSERT_EQ(r->r.registered + r->r.masters + r->r.sessions_created, 0);
    ASSERT_EQ(r->r.duplicates, 14);
    /* Again, in batches of 4 rows. */
    ac_import_opts_default(&o);
    o.batch_rows = 4;
    r = run_import(x.db, "twice", &o);
    ASSERT_EQ(r->r.registered + r->r.masters + r->r.sessions_created + r->r.errors, 0);
    ASSERT_EQ(r->r.duplicates, 14);
    /* A copy under another name is the same file by hash. */
    snprintf(cmd, sizeof cmd, "cp twice/lights/M_31_L_300s_0001.fits twice/copy.fits");
    ASSERT_OK(system(cmd));
    r = run_import(x.db, "twice", NULL);
    ASSERT_EQ(r->r.registered + r->r.masters, 0);
    ASSERT_EQ(r->r.duplicates, 15);
    ASSERT_EQ(q_int(x.db, "SELECT count(*) FROM fitsfile", NULL), files);
    ASSERT_EQ(q_int(x.db, "SELECT count(*) FROM fitssession", NULL), sessions);
    ASSERT_EQ(q_int(x.db, "SELECT count(*) FROM Masters", NULL), masters);
    ASSERT_EQ(count(x.db, "fitsfile", "fitsFileName = ?1", abspath("twice/copy.fits")), 0);
    import_fx_free(&x);
}

TEST(importer_masters_rows)
{
    static const char *const kinds[3] = {"bias", "dark", "flat"};
    struct import_fx x;
    struct run *r;

    import_fx_init(&x, 17);
    x.n.n_lights = 1;
    write_night(x.g, &x.n, "m"); /* AstroFiler masters, NCOMBINE 20, EXPTIME = '300.0' */
    r = run_import(x.db, "m/masters", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.masters, 3);
    ASSERT_EQ(r->r.registered + r->r.errors + r->r.skipped, 0);
    ASSERT_EQ(q_int(x.db, "SELECT count(*) FROM fitsfile", NULL), 0); /* Masters only */
    ASSERT_EQ(q_int(x.db, "SELECT count(*) FROM Masters", NULL), 3);
    ASSERT_EQ(q_int(x.db, "SELECT count(DISTINCT master_id) FROM Masters", NULL), 3);
    ASSERT_EQ(count(x.db, "Masters",
                    "master_id IS NULL OR master_type IS NULL OR master_path IS NULL OR "
                    "creation_date IS NULL OR file_count IS NULL OR is_validated IS NULL OR "
                    "soft_delete IS NULL",
                    NULL),
              0);
    for (int i = 0; i < 3; i++) {
        char rel[64];
        const char *path, *ct;
        struct stat st;
        snprintf(rel, sizeof rel, "m/masters/master_%s.fits", kinds[i]);
        path = abspath(rel);
        ASSERT_OK(stat(path, &st));
#define MCOL(c) col(x.db, "Masters", "master_path", c, path)
        ASSERT_STR_EQ(MCOL("master_type"), kinds[i]);
        ASSERT_EQ(strncmp(MCOL("master_id"), kinds[i], strlen(kinds[i])), 0);
        ASSERT_STR_EQ(MCOL("hash_value"), ac_tools_hash("md5sum", path));
        ASSERT_EQ(atoll(MCOL("file_size")), (long long)st.st_size);
        ASSERT_STR_EQ(MCOL("file_count"), "20");
        ASSERT_STR_EQ(MCOL("is_validated"), "0");
        ASSERT_STR_EQ(MCOL("soft_delete"), "0");
        ASSERT_STR_EQ(MCOL("telescope"), "SimScope 80/480");
        ASSERT_STR_EQ(MCOL("instrument"), "SimCam 640M");
        ASSERT_STR_EQ(MCOL("binning_x"), "1");
        ASSERT_STR_EQ(MCOL("binning_y"), "1");
        ASSERT_STR_EQ(MCOL("gain"), "100");
        ASSERT_STR_EQ(MCOL("offset"), "50");
        ASSERT_STR_EQ(MCOL("ccd_temp"), "-10.0"); /* CCD-TEMP = -10.0: the set point */
        ASSERT_NULL(MCOL("source_session_id"));
        ct = MCOL("creation_date"); /* 'YYYY-MM-DD HH:MM:SS.ffffff' */
        ASSERT_EQ(strlen(ct), 26);
        ASSERT(ct[4] == '-' && ct[10] == ' ' && ct[19] == '.');
        /* exposure_time for darks only, filter_name for flats only. */
        if (i == 1)
            ASSERT_STR_EQ(MCOL("exposure_time"), "300.0");
        else
            ASSERT_NULL(MCOL("exposure_time"));
        if (i == 2)
            ASSERT_STR_EQ(MCOL("filter_name"), "L");
        else
            ASSERT_NULL(MCOL("filter_name"));
#undef MCOL
    }
    import_fx_free(&x);
}

/* ---- Broken, unfinished and foreign files ---- */

TEST(importer_incomplete_and_unreadable_files)
{
    struct import_fx x;
    char tmp[512];
    struct run *r;
    FILE *f;
    bool seen_trunc = false;

    import_fx_init(&x, 18);
    write_raw_night(&x, 4, "bad");
    ASSERT_OK(ac_gen_write_bad(x.g, AC_GEN_BAD_TRUNCATED, "bad/lights/truncated.fits", NULL));
    ASSERT_OK(
        ac_gen_write_bad(x.g, AC_GEN_BAD_HEADER_ONLY, "bad/lights/header_only.fits", NULL));
    ASSERT_OK(ac_gen_write_bad(x.g, AC_GEN_BAD_NOT_FITS, "bad/lights/not_fits.fits", NULL));
    /* An empty file and one whose header is still being written (the first 1000 bytes). */
    ASSERT_NOT_NULL(f = fopen("bad/lights/empty.FIT", "w"));
    fclose(f);
    ASSERT_OK(system("head -c 1000 bad/lights/M_31_L_300s_0001.fits > bad/lights/part.fits"));
    /* astrocald's own temporary file, and a file that is not FITS by name. */
    ASSERT_OK(ac_fsutil_tmpname(abspath("bad/lights/out_calibrated.fits"), tmp, sizeof tmp));
    ASSERT_NOT_NULL(f = fopen(tmp, "w"));
    fputs("partial", f);
    fclose(f);
    ASSERT_NOT_NULL(f = fopen("bad/notes.txt", "w"));
    fputs("not an image", f);
    fclose(f);

    r = run_import(x.db, "bad", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.files, 4 + 5 + 1);
    ASSERT_EQ(r->r.registered, 4); /* the import went on */
    ASSERT_EQ(r->r.skipped_incomplete, 4);
    ASSERT_EQ(r->r.skipped_temporary, 1);
    ASSERT_EQ(r->r.skipped, 5);
    ASSERT_EQ(r->r.errors, 1);
    ASSERT_EQ(r->n_err, 1);
    ASSERT_STR_EQ(r->err_path[0], abspath("bad/lights/not_fits.fits"));
    ASSERT_CONTAINS(r->err_msg[0], "not a FITS file");
    ASSERT_EQ(r->n_skip, 5);
    for (int i = 0; i < r->n_skip; i++) {
        if (strcmp(r->skip_path[i], abspath("bad/lights/truncated.fits")) == 0) {
            ASSERT_CONTAINS(r->skip_msg[i], "incomplete");
            ASSERT_CONTAINS(r->skip_msg[i], "truncated");
            seen_trunc = true;
        }
        if (strcmp(r->skip_path[i], tmp) == 0)
            ASSERT_CONTAINS(r->skip_msg[i], "temporary");
    }
    ASSERT(seen_trunc);
    ASSERT_EQ(q_int(x.db, "SELECT count(*) FROM fitsfile", NULL), 4);
    ASSERT_EQ(count(x.db, "fitsfile",
                    "fitsFileName LIKE '%truncated%' OR fitsFileName LIKE '%part.fits'", NULL),
              0);
    import_fx_free(&x);
}

TEST(importer_types_and_unsupported_frames)
{
    ac_gen_camera_t cam;
    ac_gen_t *g = camera(&cam, 19);
    ac_db_t *db = open_db("af.db", AFDB_MODELS); /* the other schema variant */
    ac_gen_frame_t f;
    ac_err_t e = {0};
    struct run *r;
    const char *d = "2024-03-15T22:00:00.000";

    ASSERT_OK(ac_fsutil_mkdirs("t", NULL));
#define WRITE(name)                                                                            \
    do {                                                                                       \
        if (ac_gen_write_frame(g, &f, name, &e) != 0)                                          \
            AC_TEST_FAIL("%s", e.msg);                                                         \
    } while (0)
    /* 'Object' is a light to everybody but AstroFiler's substring test: stored 'LIGHT'. */
    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    f.date_obs = d;
    f.imagetyp = "Object";
    WRITE("t/object.fits");
    /* 'Zero' is a bias: stored 'BIAS', session 'Bias'. */
    ac_gen_frame_default(&f, AC_GEN_BIAS);
    f.date_obs = d;
    f.imagetyp = "Zero";
    f.index = 2;
    WRITE("t/zero.fits");
    /* Unknown frame type, a light without OBJECT, a DATE-OBS that is not ISO. */
    ac_gen_frame_default(&f, AC_GEN_LIGHT);
    f.date_obs = d;
    f.imagetyp = "Focus";
    f.index = 3;
    WRITE("t/focus.fits");
    f.imagetyp = NULL;
    f.object = "";
    f.index = 4;
    WRITE("t/noobject.fits");
    f.object = "M 31";
    f.date_obs = "15/03/2024";
    f.index = 5;
    WRITE("t/baddate.fts");
    /* A light already calibrated by another tool (CALIBRAT = T): registered, calibrated. */
    f.date_obs = d;
    f.index = 6;
    WRITE("t/cal.fits");
    {
        /* And object.fits gets an integer EXPTIME = 300 (Python prints '300'). */
        fitsfile *ff = NULL;
        int st = 0;
        fits_open_file(&ff, "t/cal.fits", READWRITE, &st);
        fits_write_key_log(ff, "CALIBRAT", 1, "calibrated", &st);
        fits_close_file(ff, &st);
        fits_open_file(&ff, "t/object.fits", READWRITE, &st);
        fits_update_key_lng(ff, "EXPTIME", 300, "[s]", &st);
        fits_close_file(ff, &st);
        ASSERT_EQ(st, 0);
    }
#undef WRITE
    r = run_import(db, "t", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.registered, 3);
    ASSERT_EQ(r->r.skipped_unsupported, 3);
    ASSERT_EQ(r->r.errors, 0);
    for (int i = 0; i < r->n_skip; i++) {
        const char *base = strrchr(r->skip_path[i], '/') + 1;
        if (strcmp(base, "focus.fits") == 0)
            ASSERT_CONTAINS(r->skip_msg[i], "'Focus'");
        else if (strcmp(base, "noobject.fits") == 0)
            ASSERT_CONTAINS(r->skip_msg[i], "OBJECT");
        else if (strcmp(base, "baddate.fts") == 0)
            ASSERT_CONTAINS(r->skip_msg[i], "DATE-OBS '15/03/2024'");
        else
            AC_TEST_FAIL("unexpected skip %s", r->skip_path[i]);
    }
#define TCOL(c, rel) col(db, "fitsFile", "fitsFileName", c, abspath(rel))
    ASSERT_STR_EQ(TCOL("fitsFileType", "t/object.fits"), "LIGHT");
    ASSERT_STR_EQ(TCOL("fitsFileExpTime", "t/object.fits"), "300");
    ASSERT_STR_EQ(TCOL("fitsFileType", "t/zero.fits"), "BIAS");
    ASSERT_STR_EQ(TCOL("fitsFileObject", "t/zero.fits"), "Bias");
    ASSERT_STR_EQ(TCOL("fitsFileCalibrated", "t/cal.fits"), "1");
    ASSERT_STR_EQ(TCOL("fitsFileCalibrated", "t/object.fits"), "0");
#undef TCOL
    /* The models variant has no is_auto_calibration column: sessions are still made. */
    ASSERT_EQ(q_int(db, "SELECT count(*) FROM fitsSession", NULL), 2);
    ac_db_close(db);
    ac_gen_free(g);
}

TEST(importer_alternative_keywords)
{
    ac_gen_camera_t cam;
    ac_gen_t *g;
    ac_db_t *db = open_db("af.db", AFDB_MIGRATED);
    struct run *r;
    const char *id;

    /* FRAME, EXPOSURE, BINX/BINY, CCD_TEMP, BLKLEVEL and N.I.N.A.'s short type names. */
    g = camera_ex(&cam, 20, 11.0, AC_GEN_KEYS_ALT, AC_GEN_NAMES_SHORT);
    frame(g, AC_GEN_LIGHT, "alt/l.fits", "2024-03-15T22:00:00.000", "Ha", 180, 1);
    frame(g, AC_GEN_FLATDARK, "alt/fd.fits", "2024-03-15T21:00:00.000", NULL, 2.5, 2);
    r = run_import(db, "alt", NULL);
    ASSERT_EQ(r->r.registered, 2);
    id = q_text(db, "SELECT fitsFileId FROM fitsfile WHERE fitsFileName = ?1",
                abspath("alt/l.fits"));
    ASSERT_STR_EQ(q_text(db, "SELECT fitsFileType FROM fitsfile WHERE fitsFileId = ?1", id),
                  "LIGHT");
    ASSERT_STR_EQ(q_text(db, "SELECT fitsFileExpTime FROM fitsfile WHERE fitsFileId = ?1", id),
                  "180.0");
    ASSERT_STR_EQ(q_text(db, "SELECT fitsFileXBinning FROM fitsfile WHERE fitsFileId = ?1", id),
                  "1");
    ASSERT(strcmp(q_text(db, "SELECT fitsFileCCDTemp FROM fitsfile WHERE fitsFileId = ?1", id),
                  "0") != 0); /* read from CCD_TEMP */
    ASSERT_STR_EQ(q_text(db,
                         "SELECT fitsSessionOffset FROM fitssession s JOIN fitsfile f ON "
                         "f.fitsFileSession = s.fitsSessionId WHERE f.fitsFileId = ?1",
                         id),
                  "50");
    ASSERT_STR_EQ(q_text(db,
                         "SELECT fitsFileType || '|' || fitsFileObject || '|' || "
                         "fitsFileExpTime FROM fitsfile WHERE fitsFileName = ?1",
                         abspath("alt/fd.fits")),
                  "DARKFLAT|Dark|2.5");
    ac_db_close(db);
    ac_gen_free(g);
}

/* ---- The loop, cancelling, bad arguments, single files ---- */

TEST(importer_batches_keep_the_loop_turning)
{
    struct import_fx x;
    ac_import_opts_t o;
    struct run *r;

    import_fx_init(&x, 21);
    write_raw_night(&x, 9, "b");
    ac_import_opts_default(&o);
    o.batch_rows = 2;
    r = run_import(x.db, "b", &o);
    ASSERT_EQ(r->r.registered, 9);
    ASSERT_EQ(r->r.sessions_created, 1);
    ASSERT_EQ(q_int(x.db, "SELECT count(DISTINCT fitsFileSession) FROM fitsfile", NULL), 1);
    /* 9 rows, 2 per iteration: at least 5 loop iterations spent registering. */
    ASSERT(n_checks >= 5);
    import_fx_free(&x);
}

TEST(importer_parallel_reads_register_in_the_walks_order)
{
    struct import_fx x;
    ac_import_opts_t o;
    struct run *r;
    FILE *f;

    /* 9 lights; copies of 4 of them named to come first in the walk (A_*), and a file
     * that is not FITS between them and the originals (B_*). */
    import_fx_init(&x, 26);
    write_raw_night(&x, 9, "par");
    for (int i = 1; i <= 4; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd,
                 "cp par/lights/M_31_L_300s_000%d.fits par/lights/A_copy_%d.fits", i, i);
        ASSERT_OK(system(cmd));
    }
    ASSERT_NOT_NULL(f = fopen("par/lights/B_not_fits.fits", "w"));
    fputs("not an image", f);
    fclose(f);
    ac_import_opts_default(&o);
    o.readers = 8;
    o.batch_rows = 3;
    r = run_import(x.db, "par", &o);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.files, 14);
    ASSERT_EQ(r->r.registered, 9);
    ASSERT_EQ(r->r.duplicates, 4);
    ASSERT_EQ(r->r.errors, 1);
    ASSERT_STR_EQ(r->err_path[0], abspath("par/lights/B_not_fits.fits"));
    /* The first of two equal files in the walk's order is the one registered, whatever
     * order the reads ended in (as AstroFiler, which reads them one after the other). */
    for (int i = 1; i <= 4; i++) {
        char copy[64], orig[64];
        snprintf(copy, sizeof copy, "par/lights/A_copy_%d.fits", i);
        snprintf(orig, sizeof orig, "par/lights/M_31_L_300s_000%d.fits", i);
        ASSERT_EQ(count(x.db, "fitsfile", "fitsFileName = ?1", abspath(copy)), 1);
        ASSERT_EQ(count(x.db, "fitsfile", "fitsFileName = ?1", abspath(orig)), 0);
    }
    ASSERT_EQ(q_int(x.db, "SELECT count(DISTINCT fitsFileHash) FROM fitsfile", NULL), 9);
    /* One reader at a time: nothing new, the same counts. */
    o.readers = 1;
    r = run_import(x.db, "par", &o);
    ASSERT_EQ(r->r.registered + r->r.sessions_created, 0);
    ASSERT_EQ(r->r.duplicates, 13);
    ASSERT_EQ(r->r.errors, 1);
    import_fx_free(&x);
}

/* What the import's progress callback saw: how many calls, and the catalogue at the first
 * one that found a light registered. */
struct progress_seen {
    ac_db_t *db;
    int calls, lights_at_first, cal_at_first, masters_at_first;
    int hashed, hashed_ok; /* master_hashed calls; those whose MD5 and file are right */
};

static void on_master_hashed(void *ud, const ac_import_item_t *it)
{
    struct progress_seen *p = ud;
    struct stat st;

    p->hashed++;
    if (stat(it->path, &st) == 0 && st.st_ino == it->st.st_ino &&
        st.st_size == it->st.st_size && it->same_file &&
        strcmp(it->md5, ac_tools_hash("md5sum", it->path)) == 0)
        p->hashed_ok++;
}

static void on_progress(void *ud)
{
    struct progress_seen *p = ud;
    long long lights = q_int(p->db,
                             "SELECT count(*) FROM fitsfile WHERE "
                             "fitsFileType LIKE '%LIGHT%'",
                             NULL);

    p->calls++;
    if (lights > 0 && p->lights_at_first == 0) {
        p->lights_at_first = (int)lights;
        p->cal_at_first = (int)q_int(p->db,
                                     "SELECT count(*) FROM fitsfile WHERE "
                                     "fitsFileType NOT LIKE '%LIGHT%'",
                                     NULL);
        p->masters_at_first = (int)q_int(p->db, "SELECT count(*) FROM Masters", NULL);
    }
}

TEST(importer_registers_calibration_first_and_reports_each_batch_and_master)
{
    struct progress_seen seen = {0};
    struct import_fx x;
    ac_import_opts_t o;
    struct run *r;

    /* lights/ comes before masters/ and z_darks/ in the walk's order; bias/, darks/,
     * flatdarks/, flats/ before it. */
    import_fx_init(&x, 31);
    x.n.n_lights = 4;
    x.n.raw_cal = 2; /* 8 raw calibration frames; 3 masters */
    write_night(x.g, &x.n, "ord");
    ASSERT_OK(system("mkdir -p ord/z_darks && mv ord/darks/* ord/z_darks/ && rmdir ord/darks"));
    ac_import_opts_default(&o);
    o.batch_rows = 2;
    o.readers = 3;
    o.progress = on_progress;
    o.master_hashed = on_master_hashed;
    o.hooks_ud = &seen;
    seen.db = x.db;
    r = run_import(x.db, "ord", &o);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.registered, 12);
    ASSERT_EQ(r->r.masters, 3);
    /* 15 files, 2 per batch: 8 batches, the last one followed by the import's callback. */
    ASSERT_EQ(seen.calls, 7);
    /* Every calibration frame and master was registered before the first light... */
    ASSERT_EQ(seen.cal_at_first, 8);
    ASSERT_EQ(seen.masters_at_first, 3);
    ASSERT(seen.lights_at_first >= 1 && seen.lights_at_first < 4);
    /* Each master's MD5 handed over, as md5sum gives it, with the file it was read from. */
    ASSERT_EQ(seen.hashed, 3);
    ASSERT_EQ(seen.hashed_ok, 3);
    ASSERT_EQ(q_int(x.db,
                    "SELECT (SELECT min(rowid) FROM fitsfile WHERE fitsFileType LIKE "
                    "'%LIGHT%') > (SELECT max(rowid) FROM fitsfile WHERE fitsFileType "
                    "NOT LIKE '%LIGHT%')",
                    NULL),
              1);
    /* ...and the lights in the walk's order. */
    ASSERT_EQ(q_int(x.db,
                    "SELECT count(*) FROM fitsfile a JOIN fitsfile b ON a.rowid < "
                    "b.rowid WHERE a.fitsFileType LIKE '%LIGHT%' AND b.fitsFileType "
                    "LIKE '%LIGHT%' AND a.fitsFileName > b.fitsFileName",
                    NULL),
              0);
    /* Nothing new the second time: no progress to report. */
    seen.calls = 0;
    r = run_import(x.db, "ord", &o);
    ASSERT_EQ(r->r.duplicates, 15);
    ASSERT_EQ(seen.calls, 0);
    ASSERT_EQ(seen.hashed, 6); /* duplicates too: their MD5 is as fresh */
    import_fx_free(&x);
}

TEST(importer_cancel_and_bad_folders)
{
    struct import_fx x;
    ac_import_opts_t o;
    atomic_int cancel = 1;
    uv_loop_t loop;
    ac_err_t e = {0};
    struct run *r;

    import_fx_init(&x, 22);
    write_raw_night(&x, 2, "c");
    ac_import_opts_default(&o);
    o.cancel = &cancel;
    r = run_import(x.db, "c", &o);
    ASSERT_EQ(r->r.code, AC_ECANCELED);
    ASSERT_EQ(r->r.registered, 0);
    ASSERT_EQ(q_int(x.db, "SELECT count(*) FROM fitsfile", NULL), 0);

    r = run_import(x.db, "missing", NULL);
    ASSERT_EQ(r->r.code, -ENOENT);
    ASSERT_CONTAINS(r->r.message, abspath("missing"));
    r = run_import(x.db, "c/lights/M_31_L_300s_0001.fits", NULL);
    ASSERT_EQ(r->r.code, -ENOTDIR);

    /* A relative path is refused at once and the callback never runs. */
    ASSERT_OK(uv_loop_init(&loop));
    ASSERT_EQ(ac_import_start(&loop, x.db, "c", NULL, on_done, NULL, &e), -EINVAL);
    ASSERT_CONTAINS(e.msg, "absolute");
    ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
    ASSERT_OK(uv_loop_close(&loop));
    import_fx_free(&x);
}

TEST(importer_scan_file_and_names)
{
    ac_gen_camera_t cam;
    ac_gen_t *g = camera(&cam, 23);
    ac_import_item_t *it = NULL;
    ac_import_opts_t o;

    frame(g, AC_GEN_LIGHT, "one/l.fits", "2024-03-16T00:30:00.000", "L", 300, 1);
    ASSERT_OK(ac_import_scan_file("one/l.fits", NULL, &it));
    ASSERT_EQ(it->kind, AC_IMPORT_FRAME);
    ASSERT_EQ(it->type, AC_FRAME_LIGHT);
    ASSERT_STR_EQ(it->sha256, ac_tools_hash("sha256sum", "one/l.fits"));
    ASSERT_STR_EQ(it->md5, "");
    ASSERT_STR_EQ(it->night, "2024-03-15");
    ASSERT_STR_EQ(it->session_object, "M 31");
    ASSERT_STR_EQ(it->gain, "100");
    ASSERT_NULL(it->reason);
    ac_import_item_free(it);
    /* Live ingest: a file modified within the settle time is left for later. */
    ac_import_opts_default(&o);
    o.settle_s = 3600;
    ASSERT_OK(ac_import_scan_file("one/l.fits", &o, &it));
    ASSERT_EQ(it->kind, AC_IMPORT_SKIPPED);
    ASSERT_EQ(it->skip, AC_IMPORT_SKIP_SETTLING);
    ac_import_item_free(it);
    ASSERT_OK(ac_import_scan_file("one/missing.fits", NULL, &it));
    ASSERT_EQ(it->kind, AC_IMPORT_FAILED);
    ASSERT_EQ(it->code, -ENOENT);
    ac_import_item_free(it);

    ASSERT(ac_import_is_fits_name("a.fits"));
    ASSERT(ac_import_is_fits_name("a.FIT"));
    ASSERT(ac_import_is_fits_name("a.fts"));
    ASSERT(ac_import_is_fits_name("a.fits.fz"));
    ASSERT(ac_import_is_fits_name("a.Fit.GZ"));
    ASSERT(!ac_import_is_fits_name("a.fz"));
    ASSERT(!ac_import_is_fits_name(".fits"));
    ASSERT(!ac_import_is_fits_name("a.fits.bak"));
    ASSERT(ac_import_is_fits_name("a.xisf")); /* converted on import (unpack.h) */
    ASSERT(ac_import_is_fits_name("a.fits.ZIP"));
    ac_gen_free(g);
}

TEST(importer_compressed_files)
{
    struct import_fx x;
    struct stat st;
    char cmd[512];
    struct run *r;

    import_fx_init(&x, 24);
    x.n.n_lights = 2;
    x.n.raw_cal = 1;
    x.n.masters = AC_GEN_RAW;
    x.n.fz = true;
    write_night(x.g, &x.n, "fz");
    /* A tile-compressed light cut short: its table's heap is incomplete. */
    ASSERT_OK(stat("fz/lights/M_31_L_300s_0002.fits.fz", &st));
    snprintf(cmd, sizeof cmd,
             "head -c %lld fz/lights/M_31_L_300s_0002.fits.fz > fz/cut.fits.fz",
             (long long)st.st_size - 2880);
    ASSERT_OK(system(cmd));
    r = run_import(x.db, "fz", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.registered, 2 + 4);
    ASSERT_EQ(r->r.skipped_incomplete, 1);
    ASSERT_EQ(r->r.errors, 0);
    ASSERT_STR_EQ(q_text(x.db,
                         "SELECT fitsFileExpTime || '|' || fitsFileType FROM fitsfile WHERE "
                         "fitsFileName = ?1",
                         abspath("fz/lights/M_31_L_300s_0001.fits.fz")),
                  "300.0|LIGHT FRAME");
    ASSERT_STR_EQ(q_text(x.db, "SELECT fitsFileHash FROM fitsfile WHERE fitsFileName = ?1",
                         abspath("fz/lights/M_31_L_300s_0001.fits.fz")),
                  ac_tools_hash("sha256sum", abspath("fz/lights/M_31_L_300s_0001.fits.fz")));
    import_fx_free(&x);
}
