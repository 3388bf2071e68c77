/*
 * importtest.h - the fixture of the import tests (tests/unit/test-importer*.c): an import run
 * on a real libuv loop with what its callback saw, AstroFiler databases prepared by the
 * schema, cameras and frames from tests/support/fitsgen.h, and catalogue queries (with
 * tests/support/dbtest.h). Built once into the ac_testunit library (importtest.c). Paths are
 * relative to the test directory. Failures fail the test. Thread: the test's thread.
 */
#ifndef AC_IMPORTTEST_H
#define AC_IMPORTTEST_H

#include <stdint.h>

#include "afdb.h"
#include "db.h"
#include "dbtest.h"
#include "fitsgen.h"
#include "importer.h"

/* How many error and skip entries a run keeps. */
#define IMPORTTEST_MAX_KEPT 16

/* What the callback saw, copied out of the borrowed result. */
struct run {
    int calls;
    ac_import_result_t r; /* counts only; lists below */
    int n_err, n_skip;
    char err_path[IMPORTTEST_MAX_KEPT][512], err_msg[IMPORTTEST_MAX_KEPT][1024];
    char skip_path[IMPORTTEST_MAX_KEPT][512], skip_msg[IMPORTTEST_MAX_KEPT][1024];
};

/* on_done is run_import's import callback: it copies res into the struct run ud. */
void on_done(void *ud, const ac_import_result_t *res);

/* The number of loop iterations (uv_check callbacks) of the last run_import. */
extern int n_checks;

/* run_import imports dir (relative to the test directory) on a fresh loop and returns what
 * the callback saw, in a static struct overwritten by the next call. The callback must run
 * exactly once, and never from inside ac_import_start. */
struct run *run_import(ac_db_t *db, const char *dir, const ac_import_opts_t *opts);

/* The set-up most import tests share: camera(&cam, seed), the default night of that camera
 * (to adjust, then write_night), and an AFDB_MIGRATED database af.db opened by open_db.
 * import_fx_free closes the database and frees the generator. */
struct import_fx {
    ac_gen_camera_t cam;
    ac_gen_t *g;
    ac_gen_night_t n;
    ac_db_t *db;
};

void import_fx_init(struct import_fx *x, uint64_t seed);
void import_fx_free(struct import_fx *x);

/* write_raw_night writes x's night with n_lights lights and no masters under dir. */
void write_raw_night(struct import_fx *x, int n_lights, const char *dir);

/* open_db creates an AstroFiler database of variant v at name, opens it and prepares
 * astrocald's schema; owned by the caller (ac_db_close). */
ac_db_t *open_db(const char *name, afdb_variant_t v);

/* camera_ex sets *cam (may be NULL) to a small (64 x 48) mono camera of seed with 5 stars at
 * longitude sitelong (NAN: no SITELONG) writing the given keyword set and type names, and
 * returns its generator, owned by the caller (ac_gen_free). */
ac_gen_t *camera_ex(ac_gen_camera_t *cam, uint64_t seed, double sitelong, int keys, int names);

/* camera is camera_ex with SITELONG = 11 (UTC+1), standard keywords, long type names. */
ac_gen_t *camera(ac_gen_camera_t *cam, uint64_t seed);

/* frame_obj writes one raw frame of type to path (its directory is made) with DATE-OBS
 * date, filter (NULL: none), exptime, OBJECT object (NULL: the default) and frame index;
 * frame is frame_obj with the default OBJECT. */
void frame_obj(ac_gen_t *g, ac_gen_type_t type, const char *path, const char *date,
               const char *filter, double exptime, const char *object, int index);
void frame(ac_gen_t *g, ac_gen_type_t type, const char *path, const char *date,
           const char *filter, double exptime, int index);

/* write_night writes night n of g under dir. */
void write_night(ac_gen_t *g, ac_gen_night_t *n, const char *dir);

/* col reads column c of the row of table whose key column equals key (as q_text). */
const char *col(ac_db_t *db, const char *table, const char *keycol, const char *c,
                const char *key);

/* abspath returns <test dir>/rel in one of 8 static buffers used in turn. */
const char *abspath(const char *rel);

/* count counts the rows of `from` (a table or a join) that satisfy where (with ?1 = arg). */
long long count(ac_db_t *db, const char *from, const char *where, const char *arg);

#endif
