/*
 * test-headers.c - registration of frames carrying real capture-software headers
 * (tests/data/headers, issue 9) against AstroFiler's own importer: every frame is written
 * (tests/support/hdrcorpus.c), imported by astrocald (`astrocalctl import`'s code) into one
 * catalogue and registered by AstroFiler's FileProcessor.registerFitsImage
 * (../shared/peers/astrofiler) into another; wherever AstroFiler registers a file the rows
 * must be equal, and where it refuses one astrocald must refuse it too in a neutral folder,
 * or register it with the type its folder names (better).
 *
 * Needs /usr/bin/python3 with astropy and peewee (.ci/setup installs them); the test fails,
 * saying so, when they are missing.
 */
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hdrcorpus.h"
#include "importtest.h"
#include "test.h"
#include "tools.h"

#define NCOL 11

/* The fitsfile columns compared, in the order AstroFiler's script prints them. */
static const char *const cols[NCOL] = {
    "fitsFileType",     "fitsFileObject",     "fitsFileExpTime",  "fitsFileXBinning",
    "fitsFileYBinning", "fitsFileCCDTemp",    "fitsFileTelescop", "fitsFileInstrument",
    "fitsFileFilter",   "fitsFileCalibrated", "fitsFileDate",
};

/* AstroFiler's importer on every file named: prints "name<TAB>ok<TAB>col...". */
static const char *const af_script =
    "import os, sys, logging\n"
    "logging.disable(logging.CRITICAL)\n"
    "os.environ['ASTROFILER_DB_PATH'] = os.path.abspath('af-astrofiler.db')\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from astrofiler.models import fitsFile, fitsSession, Mapping, Masters\n"
    "from astrofiler.models.base import db\n"
    "db.connect(); db.create_tables([fitsFile, fitsSession, Mapping, Masters], safe=True)\n"
    "from astrofiler.core.file_processing import FileProcessor\n"
    "fp = FileProcessor()\n"
    "cols = ['fitsFileType', 'fitsFileObject', 'fitsFileExpTime', 'fitsFileXBinning',\n"
    "        'fitsFileYBinning', 'fitsFileCCDTemp', 'fitsFileTelescop', 'fitsFileInstrument',\n"
    "        'fitsFileFilter', 'fitsFileCalibrated', 'fitsFileDate']\n"
    "for p in sys.argv[2:]:\n"
    "    root, name = os.path.split(os.path.abspath(p))\n"
    "    try:\n"
    "        fid = fp.registerFitsImage(root, name, False)\n"
    "    except Exception as e:\n"
    "        fid = False\n"
    "    if not fid:\n"
    "        print(name + '\\t0'); continue\n"
    "    r = fitsFile.get(fitsFile.fitsFileId == fid)\n"
    "    vals = ['' if getattr(r, c) is None else str(getattr(r, c)) for c in cols]\n"
    "    print(name + '\\t1\\t' + '\\t'.join(vals))\n";

struct af_row {
    char name[64];
    bool ok;
    char v[NCOL][128];
};

/* run_astrofiler registers the files with AstroFiler; returns how many rows it printed. */
static int run_astrofiler(char paths[][128], int n, struct af_row *rows)
{
    const char *argv[32];
    char line[4096];
    int got = 0;
    FILE *p;

    for (int i = 0; i < n; i++)
        argv[i] = paths[i];
    p = ac_tools_astrofiler_popen(af_script, argv, n);
    while (fgets(line, sizeof line, p) != NULL && got < n) {
        struct af_row *r = &rows[got];
        char *save = NULL, *t = strtok_r(line, "\t\n", &save);
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", t != NULL ? t : "");
        t = strtok_r(NULL, "\t\n", &save);
        r->ok = t != NULL && strcmp(t, "1") == 0;
        /* strtok_r would merge empty columns: split on single tabs by hand. */
        if (r->ok && save != NULL) {
            char *s = save;
            for (int c = 0; c < NCOL && s != NULL; c++) {
                char *tab = strpbrk(s, "\t\n");
                size_t l = tab != NULL ? (size_t)(tab - s) : strlen(s);
                snprintf(r->v[c], sizeof r->v[c], "%.*s", (int)l, s);
                s = tab != NULL && *tab == '\t' ? tab + 1 : NULL;
            }
        }
        got++;
    }
    if (pclose(p) != 0 || got != n) {
        system("tail -5 af.err >&2");
        AC_TEST_FAIL(
            "AstroFiler's importer did not run (%d of %d files): needs /usr/bin/python3 "
            "with astropy and peewee (.ci/setup)",
            got, n);
    }
    return got;
}

static const char *ours(ac_db_t *db, const char *col, const char *abs)
{
    char sql[256];

    snprintf(sql, sizeof sql,
             "SELECT COALESCE(CAST(%s AS TEXT), '') FROM fitsfile WHERE fitsFileName = ?1",
             col);
    return q_text(db, sql, abs);
}

TEST_TIMEOUT(headers_registration_equals_astrofiler, 300)
{
    char paths[32][128], abs[PATH_MAX];
    struct af_row af[32];
    ac_db_t *db;
    struct run *r;
    int n = 0, same = 0;

    mkdir("night", 0755);
    for (; hc_names[n] != NULL; n++) {
        snprintf(paths[n], sizeof paths[n], "night/%s.fits", hc_names[n]);
        hc_write(paths[n], hc_names[n], 64, 48, NULL, NULL);
    }
    db = open_db("af.db", AFDB_MIGRATED);
    r = run_import(db, "night", NULL);
    ASSERT_EQ(r->r.errors, 0);
    run_astrofiler(paths, n, af);
    for (int i = 0; i < n; i++) {
        bool registered;
        ASSERT_NOT_NULL(realpath(paths[i], abs));
        registered =
            q_int(db, "SELECT count(*) FROM fitsfile WHERE fitsFileName = ?1", abs) == 1;
        fprintf(stderr, "%-18s astrofiler %-10s astrocald %s\n", hc_names[i],
                af[i].ok ? "registered" : "refused", registered ? "registered" : "refused");
        if (!af[i].ok) {
            /* In a folder that names nothing, astrocald refuses what AstroFiler refuses. */
            if (registered)
                AC_TEST_FAIL("%s: AstroFiler refuses it, astrocald registered it", hc_names[i]);
            continue;
        }
        if (!registered)
            AC_TEST_FAIL("%s: AstroFiler registers it, astrocald does not", hc_names[i]);
        for (int c = 0; c < NCOL; c++) {
            const char *mine = ours(db, cols[c], abs);
            if (strcmp(mine, af[i].v[c]) != 0)
                AC_TEST_FAIL("%s: %s is '%s', AstroFiler's '%s'", hc_names[i], cols[c], mine,
                             af[i].v[c]);
        }
        same++;
    }
    /* The headers AstroFiler reads (N.I.N.A., SGP, APT, MaxIm DL, Seestar, TheSkyX, INDI). */
    ASSERT_EQ(same, 7);
    ac_db_close(db);
}

/* write_at writes header name at path (folders created), with a TESTFILE card that makes
 * every file's content (and so its hash) unique. */
static void write_at(const char *path, const char *name)
{
    static int serial;
    char dir[PATH_MAX], *p, card[81];
    const char *edits[] = {card, NULL};

    snprintf(dir, sizeof dir, "%s", path);
    for (p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(dir, 0755);
        *p = '/';
    }
    snprintf(card, sizeof card, "TESTFILE= %20d / makes the file unique", ++serial);
    hc_write(path, name, 64, 48, NULL, edits);
}

TEST_TIMEOUT(headers_type_from_path_registers_what_astrofiler_cannot, 120)
{
    static const struct {
        const char *path, *header, *type, *why;
    } ok[] = {
        /* ASIAIR's layout, with headers that name no type (sbig-snap, SharpCap). */
        {"in/Autorun/Dark/Dark_60s_Bin1_20240320-235959_0018.fit", "sbig-snap", "DARK",
         "file name 'Dark_60s_Bin1_20240320-235959_0018.fit'"},
        {"in/Autorun/Flat/x_0001.fit", "sbig-snap", "FLAT", "folder 'Flat'"},
        {"in/SharpCap Captures/2019-04-29/darks/frame_0001.fits", "sharpcap-2019", "DARK",
         "folder 'darks'"},
        {"in/SharpCap Captures/2019-04-29/FlatDarks/frame_0001.fits", "sharpcap-2019",
         "DARKFLAT", "folder 'FlatDarks'"},
        /* The DWARF: EXP and BINNING = '2*2' are read too. */
        {"in/DWARF_DARK/15s_gain_110_0001.fits", "dwarf2", "DARK", "folder 'DWARF_DARK'"},
        {"in/M33/Lights/m33_0001.fits", "sbig-snap", "LIGHT", "folder 'Lights'"},
        {"in/bias/offset_0001.fits", "observatory-1993", "BIAS",
         "file name 'offset_0001.fits'"},
        /* The DWARF app's raw lights: no IMAGETYP, a blank OBJECT; the folder says both. */
        {"in/DWARF_RAW_TELE_M 42_EXP_15_GAIN_110_2023-06-10-21-38-19-442/0001.fits", "dwarf2",
         "LIGHT", "; OBJECT 'M 42' from the folder"},
    };
    static const char *const untyped[] = {"in/misc/capture_0001.fits",
                                          "in/Light_DarkNebula/capture_0002.fits"};
    char abs[PATH_MAX];
    ac_db_t *db;
    struct run *r;
    size_t nok = sizeof ok / sizeof ok[0];

    for (size_t i = 0; i < nok; i++)
        write_at(ok[i].path, ok[i].header);
    write_at(untyped[0], "sbig-snap");
    write_at(untyped[1], "sbig-snap");
    db = open_db("af.db", AFDB_MIGRATED);
    r = run_import(db, "in", NULL);
    ASSERT_EQ(r->r.errors, 0);
    ASSERT_EQ(r->r.registered, (int)nok);
    ASSERT_EQ(r->r.inferred, (int)nok);
    ASSERT_EQ(r->r.skipped_untyped, 2);
    ASSERT_EQ(r->r.skipped, 2);
    for (int k = 0; k < r->n_skip; k++) {
        if (strstr(r->skip_path[k], "misc") != NULL)
            ASSERT_CONTAINS(r->skip_msg[k], "nearest folders name a frame type");
        else
            ASSERT_CONTAINS(r->skip_msg[k],
                            "'Light_DarkNebula' names more than one frame type");
    }
    for (size_t i = 0; i < nok; i++) {
        ASSERT_NOT_NULL(realpath(ok[i].path, abs));
        ASSERT_STR_EQ(
            q_text(db, "SELECT fitsFileType FROM fitsfile WHERE fitsFileName = ?1", abs),
            ok[i].type);
        ASSERT_CONTAINS(q_text(db, "SELECT reason FROM astrocal_inferred WHERE path = ?1", abs),
                        ok[i].why);
    }
    /* The session of the light lists it as typed from its path (what `plan` shows). */
    {
        ac_inferred_list_t il;
        ac_err_t e = {0};
        ASSERT_NOT_NULL(realpath(ok[5].path, abs));
        const char *sid =
            q_text(db, "SELECT fitsFileSession FROM fitsfile WHERE fitsFileName = ?1", abs);
        ASSERT_OK(ac_catalog_session_inferred(db, sid, &il, &e));
        ASSERT_EQ(il.n, 1);
        ASSERT_STR_EQ(il.items[0].frame_type, "light");
        ASSERT_CONTAINS(il.items[0].reason, "folder 'Lights'");
        ac_catalog_inferred_free(&il);
    }
    /* The DWARF's exposure (EXP = 15.) and binning (BINNING = '2*2'), as Python prints
     * them. */
    ASSERT_NOT_NULL(realpath(ok[4].path, abs));
    ASSERT_STR_EQ(ours(db, "fitsFileExpTime", abs), "15.0");
    ASSERT_STR_EQ(ours(db, "fitsFileXBinning", abs), "2");
    ASSERT_STR_EQ(ours(db, "fitsFileYBinning", abs), "2");
    /* The legacy date 'dd/mm/yy' + UT of the 1993 observatory header. */
    ASSERT_NOT_NULL(realpath(ok[6].path, abs));
    ASSERT_STR_EQ(ours(db, "fitsFileDate", abs), "1993-03-28T07:18:51");
    ac_db_close(db);
}

TEST(headers_type_from_path_off_leaves_files_untyped)
{
    ac_import_opts_t o;
    ac_db_t *db;
    struct run *r;

    write_at("in/Darks/d1.fits", "sbig-snap");
    ac_import_opts_default(&o);
    o.type_from_path = false;
    db = open_db("af.db", AFDB_MIGRATED);
    r = run_import(db, "in", &o);
    ASSERT_EQ(r->r.registered, 0);
    ASSERT_EQ(r->r.skipped_untyped, 1);
    ASSERT_CONTAINS(r->skip_msg[0], "type_from_path is off");
    /* The folder above the imported one is never read: "Darks" is the import root. */
    ac_import_opts_default(&o);
    r = run_import(db, "in/Darks", &o);
    ASSERT_EQ(r->r.registered, 0);
    ASSERT_EQ(r->r.skipped_untyped, 1);
    ac_db_close(db);
}
