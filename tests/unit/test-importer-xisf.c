/*
 * test-importer-xisf.c - `astrocalctl import` (and so live ingest, which scans through the
 * same ac_import_scan_file) over XISF images, .fit(s).zip archives and .fits.gz files, as
 * AstroFiler 1.2's importer handles them (file_formats handlers): an XISF is converted to
 * "<stem>.fits" beside it and that file registered, with the same catalogue values and the
 * same session as the FITS frame it was made from (pixels equal, fitsverify clean); a
 * .fits.zip's first FITS member is extracted beside it and registered; a .fits.gz is
 * registered as it is. Files that cannot be imported are counted with their reason.
 * Fixture: tests/support/importtest.h; XISF files from tests/support/xisfgen.h.
 */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "imgio.h"
#include "importer.h"
#include "importtest.h"
#include "test.h"
#include "tools.h"
#include "xisfgen.h"

#define DATE "2024-03-16T00:30:00.000"

/* The catalogue values of the row of path, '|'-joined. */
static const char *row(ac_db_t *db, const char *path)
{
    return q_text(
        db,
        "SELECT fitsFileType || '|' || fitsFileExpTime || '|' || fitsFileDate || '|' "
        "|| ifnull(fitsFileFilter, 'NULL') || '|' || fitsFileCCDTemp || '|' || "
        "fitsFileXBinning || '|' || fitsFileTelescop || '|' || fitsFileInstrument || "
        "'|' || fitsFileObject || '|' || fitsFileCalibrated || '|' || fitsFileSession "
        "FROM fitsfile WHERE fitsFileName = ?1",
        abspath(path));
}

static void same_pixels(const char *a, const char *b)
{
    ac_image_t x, y;
    ac_err_t e = {0};

    if (ac_imgio_load_pixels(a, &x, &e) != 0 || ac_imgio_load_pixels(b, &y, &e) != 0)
        AC_TEST_FAIL("%s", e.msg);
    ASSERT_EQ(x.w, y.w);
    ASSERT_EQ(x.h, y.h);
    ASSERT_EQ(x.meta.bitpix, y.meta.bitpix);
    ASSERT(memcmp(x.px, y.px, (size_t)x.w * (size_t)x.h * sizeof *x.px) == 0);
    free(x.px);
    free(y.px);
}

TEST(importer_xisf_registered_as_its_fits_conversion)
{
    struct import_fx x;
    struct run *r;
    char fits_row[1024];

    import_fx_init(&x, 31);
    frame(x.g, AC_GEN_LIGHT, "n/l1.fits", DATE, "L", 300, 1);
    frame(x.g, AC_GEN_DARK, "n/d1.fits", DATE, NULL, 300, 2);
    ASSERT_OK(system("mkdir -p x/sub"));
    ASSERT_OK(ac_xisfgen_from_fits("n/l1.fits", "x/sub/l1.xisf", "zstd", true));
    ASSERT_OK(ac_xisfgen_from_fits("n/d1.fits", "x/d1.xisf", "lz4hc", false));
    r = run_import(x.db, "n", NULL);
    ASSERT_EQ(r->r.registered, 2);
    r = run_import(x.db, "x", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.files, 2);
    ASSERT_EQ(r->r.registered, 2);
    ASSERT_EQ(r->r.errors + r->r.skipped + r->r.duplicates, 0);
    ASSERT_EQ(r->r.sessions_created, 0); /* the FITS twins' sessions */
    /* The conversion is registered, with its FITS twin's values and session. */
    snprintf(fits_row, sizeof fits_row, "%s", row(x.db, "n/l1.fits"));
    ASSERT_CONTAINS(fits_row, "LIGHT FRAME|300.0|2024-03-16T00:30:00");
    ASSERT_STR_EQ(row(x.db, "x/sub/l1.fits"), fits_row);
    snprintf(fits_row, sizeof fits_row, "%s", row(x.db, "n/d1.fits"));
    ASSERT_STR_EQ(row(x.db, "x/d1.fits"), fits_row);
    ASSERT_EQ(count(x.db, "fitsfile", "fitsFileName LIKE '%.xisf'", NULL), 0);
    ASSERT_STR_EQ(q_text(x.db, "SELECT fitsFileHash FROM fitsfile WHERE fitsFileName = ?1",
                         abspath("x/sub/l1.fits")),
                  ac_tools_hash("sha256sum", "x/sub/l1.fits"));
    same_pixels("n/l1.fits", "x/sub/l1.fits");
    same_pixels("x/sub/l1.xisf", "x/sub/l1.fits");
    ac_tools_fitsverify_clean("x/sub/l1.fits");
    ac_tools_fitsverify_clean("x/d1.fits");
    /* Again: the conversions are reused; both names are duplicates. */
    r = run_import(x.db, "x", NULL);
    ASSERT_EQ(r->r.files, 4);
    ASSERT_EQ(r->r.duplicates, 4);
    ASSERT_EQ(r->r.registered + r->r.errors + r->r.skipped, 0);
    import_fx_free(&x);
}

/* zip_fits writes archive with the given files (paths, stored under their base names
 * prefixed with dir/ inside the archive). */
static void zip_fits(const char *archive, const char *const *files)
{
    int err = 0;
    zip_t *z = zip_open(archive, ZIP_CREATE | ZIP_TRUNCATE, &err);

    ASSERT_NOT_NULL(z);
    for (; *files != NULL; files++) {
        zip_source_t *s = zip_source_file(z, *files, 0, -1);
        char name[256];
        ASSERT_NOT_NULL(s);
        snprintf(name, sizeof name, "../night/%s", strrchr(*files, '/') + 1);
        ASSERT(zip_file_add(z, name, s, ZIP_FL_OVERWRITE) >= 0);
    }
    ASSERT_OK(zip_close(z));
}

TEST(importer_zip_and_gz_as_astrofiler_handles_them)
{
    struct import_fx x;
    struct run *r;
    char fits_row[1024];

    import_fx_init(&x, 32);
    frame(x.g, AC_GEN_LIGHT, "n/l1.fits", DATE, "L", 300, 1);
    frame(x.g, AC_GEN_LIGHT, "src/l3.fits", DATE, "L", 300, 3);
    r = run_import(x.db, "n", NULL);
    ASSERT_EQ(r->r.registered, 1);
    ASSERT_OK(system("mkdir -p z && cp n/l1.fits z/g1.fits && gzip z/g1.fits"));
    zip_fits("z/l3.fits.zip", (const char *const[]){"src/l3.fits", "n/l1.fits", NULL});
    zip_fits("z/notes.zip", (const char *const[]){"n/l1.fits", NULL});
    r = run_import(x.db, "z", NULL);
    ASSERT_EQ(r->r.code, 0);
    ASSERT_EQ(r->r.files, 3);
    ASSERT_EQ(r->r.registered, 2); /* g1.fits.gz as it is, l3.fits out of its archive */
    ASSERT_EQ(r->r.errors, 0);
    ASSERT_EQ(r->r.skipped_unsupported, 1);
    ASSERT_STR_EQ(r->skip_path[0], abspath("z/notes.zip"));
    ASSERT_CONTAINS(r->skip_msg[0], "not named *.fit.zip or *.fits.zip");
    /* The first FITS member, under its base name beside the archive, byte for byte (its
     * "../night/" folder in the archive is not followed). */
    ASSERT_STR_EQ(ac_tools_hash("sha256sum", "z/l3.fits"),
                  ac_tools_hash("sha256sum", "src/l3.fits"));
    ASSERT_CONTAINS(row(x.db, "z/l3.fits"), "LIGHT FRAME|300.0|2024-03-16T00:30:00");
    ASSERT_EQ(count(x.db, "fitsfile", "fitsFileName LIKE '%.zip'", NULL), 0);
    snprintf(fits_row, sizeof fits_row, "%s", row(x.db, "n/l1.fits"));
    ASSERT_STR_EQ(row(x.db, "z/g1.fits.gz"), fits_row); /* read through cfitsio's gzip */
    /* Again: the extracted file is reused (same size and CRC-32), nothing new. */
    r = run_import(x.db, "z", NULL);
    ASSERT_EQ(r->r.registered + r->r.errors, 0);
    ASSERT_EQ(r->r.duplicates, 3); /* g1.fits.gz, l3.fits.zip, and l3.fits itself */
    import_fx_free(&x);
}

TEST(importer_unreadable_xisf_and_zip_reported_with_reasons)
{
    struct import_fx x;
    struct run *r;
    static uint16_t px[3 * 8 * 6];
    ac_xisfgen_t g = {.w = 8, .h = 6, .sample = "UInt16", .sbytes = 2, .px = px};
    FILE *f;
    glob_t gl;
    int seen = 0;

    import_fx_init(&x, 33);
    frame(x.g, AC_GEN_LIGHT, "n/l1.fits", DATE, "L", 300, 1);
    ASSERT_OK(system("mkdir -p b"));
    g.channels = 3, g.color_space = "RGB";
    ASSERT_OK(ac_xisfgen_write("b/rgb.xisf", &g));
    ASSERT_OK(ac_xisfgen_from_fits("n/l1.fits", "b/cut.xisf", NULL, false));
    ASSERT_OK(truncate("b/cut.xisf", 5000));
    ASSERT_OK(ac_xisfgen_from_fits("n/l1.fits", "b/taken.xisf", "zlib", true));
    ASSERT_OK(system("cp n/l1.fits b/taken.fits"));
    ASSERT_NOT_NULL(f = fopen("b/junk.fits.zip", "w"));
    fputs("not a zip", f);
    fclose(f);
    r = run_import(x.db, "b", NULL);
    ASSERT_EQ(r->r.files, 5);
    ASSERT_EQ(r->r.registered, 1); /* taken.fits itself */
    ASSERT_EQ(r->r.skipped_unsupported, 2);
    ASSERT_EQ(r->r.skipped_incomplete, 1);
    ASSERT_EQ(r->r.errors, 1);
    ASSERT_STR_EQ(r->err_path[0], abspath("b/junk.fits.zip"));
    ASSERT_CONTAINS(r->err_msg[0], "not a readable ZIP archive");
    for (int i = 0; i < r->n_skip; i++) {
        const char *want = NULL;
        if (strcmp(r->skip_path[i], abspath("b/rgb.xisf")) == 0)
            seen |= 1, want = "a colour image (colorSpace RGB";
        if (strcmp(r->skip_path[i], abspath("b/cut.xisf")) == 0)
            seen |= 2, want = "incomplete (still being written?)";
        if (strcmp(r->skip_path[i], abspath("b/taken.xisf")) == 0)
            seen |= 4, want = "taken.fits exists and is not a conversion of this file: not "
                              "overwritten";
        if (want != NULL)
            ASSERT_CONTAINS(r->skip_msg[i], want);
    }
    ASSERT_EQ(seen, 7);
    ASSERT_EQ(glob("b/.*actmp*", 0, NULL, &gl), GLOB_NOMATCH); /* no temporary file left */
    import_fx_free(&x);
}

/* AstroFiler's own converter (file_formats/xisfFile, run with Debian's python3, numpy,
 * astropy and lz4) on the same XISF: astrocald reuses its "<stem>.fits" (XISFFILE names
 * the XISF) and registers it with the same values, session and pixels as its own
 * conversion of a copy. */
TEST(importer_xisf_conversion_equals_astrofilers)
{
    static const char script[] =
        "import sys, logging; logging.disable(logging.CRITICAL); sys.path.insert(0, "
        "sys.argv[1])\n"
        "from astrofiler.file_formats.xisfFile.xisf_converter import XISFConverter\n"
        "print(XISFConverter(sys.argv[2]).convert_to_fits(sys.argv[3]))\n";
    struct import_fx x;
    struct run *r;
    char cmd[4096], mine[1024];
    FILE *f;

    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import numpy, astropy, lz4.frame' 2>/dev/null") != 0) {
        printf("# skipped: /usr/bin/python3 with numpy, astropy and lz4 (.ci/setup)\n");
        return;
    }
    import_fx_init(&x, 34);
    frame(x.g, AC_GEN_LIGHT, "n/l1.fits", DATE, "L", 300, 1);
    ASSERT_OK(system("mkdir -p a b"));
    ASSERT_OK(ac_xisfgen_from_fits("n/l1.fits", "a/l1.xisf", "zlib", false));
    ASSERT_OK(system("cp a/l1.xisf b/l1.xisf"));
    ASSERT_NOT_NULL(f = fopen("af.py", "w"));
    fputs(script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 af.py %s/../shared/peers/astrofiler/src a/l1.xisf a/l1.fits "
             ">af.out 2>&1 || { cat af.out; exit 1; }",
             ac_test_srcdir());
    ASSERT_OK(system(cmd));
    r = run_import(x.db, "b", NULL);
    ASSERT_EQ(r->r.registered, 1);
    r = run_import(x.db, "a", NULL);
    ASSERT_EQ(r->r.registered, 1); /* AstroFiler's l1.fits (the XISF is its duplicate) */
    ASSERT_EQ(r->r.duplicates, 1);
    snprintf(mine, sizeof mine, "%s", row(x.db, "b/l1.fits"));
    ASSERT_CONTAINS(mine, "LIGHT FRAME|300.0|2024-03-16T00:30:00");
    ASSERT_STR_EQ(row(x.db, "a/l1.fits"), mine);
    same_pixels("a/l1.fits", "b/l1.fits");
    import_fx_free(&x);
}
