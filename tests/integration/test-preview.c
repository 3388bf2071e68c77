/*
 * test-preview.c - `astrocalctl preview` against the real daemon: a vignetted synthetic
 * light (tests/support/fitsgen: vignette_min 0.6 in lights and flat) previewed with its
 * session's masters; the PNG is decoded by Python's PIL (independently of libpng's writer
 * here), its size is checked against the light's size and the binning, and the calibrated
 * half must be flatter than the raw half (corner-to-centre contrast of the stretched
 * images), while without the flat (--flat none) it is not. Nothing is written beside the
 * light or into the catalogue. A done session, after a restart (no plan in memory), is
 * previewed with the masters the queue recorded for it. Needs /usr/bin/python3 with PIL
 * and numpy (.ci/setup).
 */
#include <dirent.h>
#include <sqlite3.h>

#include "afdb.h"
#include "nightfix.h"
#include "support.h"

#define DW 512
#define DH 384

/* The contrast of a half: (centre - corners) / centre of the median grey level in a box at
 * the centre and in the four corners (boxes of a tenth of the size; medians ignore stars). */
#define PY_MEASURE                                                                             \
    "import sys, numpy as np\n"                                                                \
    "from PIL import Image\n"                                                                  \
    "im = Image.open(sys.argv[1]); im.load()\n"                                                \
    "print('size', im.size[0], im.size[1], im.mode)\n"                                         \
    "a = np.asarray(im.convert('L'), dtype=float)\n"                                           \
    "hw, hh = int(sys.argv[2]), int(sys.argv[3])\n"                                            \
    "for name, x0 in (('raw', 0), ('cal', hw + 8)):\n"                                         \
    "    h = a[:hh, x0:x0 + hw]\n"                                                             \
    "    bx, by = max(hw // 10, 2), max(hh // 10, 2)\n"                                        \
    "    c = np.median(h[hh//2-by//2:hh//2+by//2+1, hw//2-bx//2:hw//2+bx//2+1])\n"             \
    "    k = np.median(np.concatenate([h[:by,:bx].ravel(), h[:by,-bx:].ravel(),\n"             \
    "                                  h[-by:,:bx].ravel(), h[-by:,-bx:].ravel()]))\n"         \
    "    print(name, '%.4f' % ((c - k) / max(c, 1)))\n"                                        \
    "print('caption_rows_lit', int((a[hh:, :] > 128).sum() > 0))\n"

/* measure runs PY_MEASURE on png with the half size (w x h); fills the contrasts. */
static void measure(const char *png, int w, int h, int *pw, int *ph, double *raw, double *cal,
                    int *caption)
{
    char ws[16], hs[16];
    char *out = NULL;

    snprintf(ws, sizeof ws, "%d", w);
    snprintf(hs, sizeof hs, "%d", h);
    ASSERT_EQ(run_capture((char *const[]){"/usr/bin/python3", "-c", PY_MEASURE, (char *)png, ws,
                                          hs, NULL},
                          &out),
              0);
    ASSERT_EQ(sscanf(strstr(out, "size "), "size %d %d RGB", pw, ph), 2);
    ASSERT_EQ(sscanf(strstr(out, "raw "), "raw %lf", raw), 1);
    ASSERT_EQ(sscanf(strstr(out, "cal "), "cal %lf", cal), 1);
    ASSERT_EQ(sscanf(strstr(out, "caption_rows_lit "), "caption_rows_lit %d", caption), 1);
    printf("%s: %dx%d, contrast raw %.4f, calibrated %.4f\n", png, *pw, *ph, *raw, *cal);
    free(out);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;

    ASSERT_NOT_NULL(d);
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

TEST_TIMEOUT(preview_png_decodes_and_calibrated_half_is_flatter, 180)
{
    ac_harness_t h;
    struct night nt;
    char *out = NULL, *err = NULL;
    json_t *r;
    json_error_t je;
    int bin, pw, ph, cap, hw, hh, before;
    double raw, cal, raw2, cal2;
    sqlite3 *db;

    ac_harness_init(&h);
    make_night(&nt, 2, DW, DH);
    make_catalogue(&h, &nt, "bdf");
    ASSERT_OK(ac_harness_write_config(
        &h, (const char *[]){"AUTO_CALIBRATION.enable_light_calibration=False", NULL}));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    before = count_entries("night/lights");

    /* By file id, 520 px wide in all: each half at most 256 px, so the 512 x 384 light is
     * binned 2 x 2 into 256 x 192. */
    ASSERT_EQ(ac_harness_ctl(&h, &out, &err, "--json", "preview", nt.light_id[0], "--png",
                             "p1.png", "--width", "520", NULL),
              0);
    r = json_loads(out, 0, &je);
    ASSERT_NOT_NULL(r);
    bin = (int)json_integer_value(json_object_get(r, "bin"));
    ASSERT_EQ(bin, 2);
    ASSERT(json_object_get(r, "png_base64") == NULL); /* written to the file instead */
    ASSERT_STR_EQ(json_string_value(json_object_get(r, "png")), "p1.png");
    ASSERT_STR_EQ(json_string_value(json_object_get(r, "session")), "S-1");
    ASSERT_STR_EQ(json_string_value(json_object_get(
                      json_object_get(json_object_get(r, "masters"), "flat"), "source")),
                  "plan");
    ASSERT_CONTAINS(json_string_value(json_object_get(r, "caption")), "master_flat.fits");
    hw = DW / bin;
    hh = DH / bin;
    ASSERT_EQ(json_integer_value(json_object_get(r, "width")), 2 * hw + 8);
    json_decref(r);
    free(out);
    free(err);
    measure("p1.png", hw, hh, &pw, &ph, &raw, &cal, &cap);
    ASSERT_EQ(pw, 2 * hw + 8);
    ASSERT(ph > hh); /* the caption below */
    ASSERT_EQ(cap, 1);
    /* Vignetting: the raw corners are clearly darker; calibrated, hardly. */
    ASSERT(raw > 0.15);
    ASSERT(fabs(cal) < raw / 3);

    /* Without the flat, the vignetting stays: the test can tell. By path this time. */
    ASSERT_EQ(ac_harness_ctl(&h, NULL, NULL, "preview", nt.light[0], "--flat", "none", "--png",
                             "p2.png", "--width", "520", NULL),
              0);
    measure("p2.png", hw, hh, &pw, &ph, &raw2, &cal2, &cap);
    ASSERT(cal2 > 0.15);

    /* A session: its first light. Errors: unknown light, path not catalogued. */
    ASSERT_EQ(
        ac_harness_ctl(&h, NULL, NULL, "preview", "--session", "S-1", "--png", "p3.png", NULL),
        0);
    ASSERT(file_exists("p3.png"));
    ASSERT_EQ(ac_harness_ctl(&h, NULL, &err, "preview", "NOPE", "--png", "p4.png", NULL), 1);
    ASSERT_CONTAINS(err, "not_found");
    free(err);
    ASSERT_EQ(ac_harness_ctl(&h, NULL, &err, "preview", "/etc/passwd", "--png", "p4.png", NULL),
              1);
    ASSERT_CONTAINS(err, "not in the catalogue");
    free(err);
    ASSERT(!file_exists("p4.png"));
    ASSERT_EQ(ac_harness_ctl(&h, NULL, &err, "preview", nt.light_id[0], NULL), 64);
    free(err);

    /* Nothing beside the lights, nothing in the catalogue. */
    ASSERT_EQ(count_entries("night/lights"), before);
    db = open_db(&h);
    ASSERT_EQ(count_calibrated_rows(db), 0);
    ASSERT_EQ(afdb_int(db, "SELECT count(*) FROM astrocal_record", NULL, -1), 0);
    sqlite3_close(db);
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}

TEST_TIMEOUT(preview_of_a_calibrated_session_uses_its_recorded_masters, 120)
{
    ac_harness_t h;
    struct night nt;
    char *out = NULL;
    json_t *r, *flat;
    int pw, ph, cap;
    double raw, cal;

    ac_harness_init(&h);
    make_night(&nt, 2, DW / 2, DH / 2);
    make_catalogue(&h, &nt, "bdf");
    ASSERT_OK(ac_harness_write_config(&h, NULL));
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT(wait_done(&h, 2, 60000));
    /* After a restart nothing of the done session is planned in memory. */
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    forget_notify(&h);
    ASSERT_OK(ac_harness_start(&h, NULL));
    ASSERT_OK(ac_harness_wait_ready(&h, 20000));
    ASSERT_EQ(ac_harness_ctl(&h, &out, NULL, "--json", "preview", nt.light_id[1], "--png",
                             "done.png", NULL),
              0);
    r = json_loads(out, 0, NULL);
    ASSERT_NOT_NULL(r);
    flat = json_object_get(json_object_get(r, "masters"), "flat");
    ASSERT_STR_EQ(json_string_value(json_object_get(flat, "path")), nt.flat);
    ASSERT_STR_EQ(json_string_value(json_object_get(flat, "source")), "session");
    ASSERT_EQ(json_integer_value(json_object_get(r, "bin")), 1); /* 256 x 192 fits as is */
    json_decref(r);
    free(out);
    measure("done.png", DW / 2, DH / 2, &pw, &ph, &raw, &cal, &cap);
    ASSERT_EQ(pw, DW + 8);
    ASSERT(fabs(cal) < raw / 3);
    ASSERT_EQ(ac_harness_stop(&h, 30000), 0);
    ac_gen_free(nt.g);
    ac_harness_free(&h);
}
