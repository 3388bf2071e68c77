/*
 * planner_int.h - what the planner's files share (see planner.h for the behaviour); not
 * part of the planner's contract. The files:
 *   planner.c          the header cache, candidates, matching, recording plans, the
 *                      passes and their back-off, life cycle;
 *   planner_bad.c      masters found broken (one master, or a set unusable together):
 *                      marked once, kept out until a file changes; the key of a plan
 *                      (ac_planner_key, which applies them);
 *   planner_explain.c  `astrocalctl plan` and `astrocalctl masters`;
 *   planner_pin.c      pinned masters (astrocalctl use) and recalibration plans;
 *   planner_now.c      plans of done sessions computed without recording them (the
 *                      cluster export's --calibrated-with), masters named by id or path;
 *   planner_wait.c     waiting for a better master being built or a master being
 *                      fetched from the cloud; why a session waits.
 *
 * Thread: loop thread only, like the planner.
 */
#ifndef AC_PLANNER_INT_H
#define AC_PLANNER_INT_H

#include <jansson.h>

#include "meta.h"
#include "planner.h"

/* The inputs of one matching, gathered once per planning pass. */
struct ac_planner_inputs {
    ac_session_list_t sessions;
    ac_master_list_t masters;
    ac_match_cand_t *cands;     /* one per master */
    bool *marked;               /* cands[i] is invalid because it is marked broken */
    bool *cloud;                /* cands[i] is invalid because it is only in the cloud */
    ac_calsession_list_t units; /* calibration sessions (masters to be built) */
    ac_build_row_list_t builds;
    bool snapshot; /* read on another connection (ac_planner_apply's): maybe stale */
};

/* ac_planner_inputs_load reads sessions, masters (as candidates), calibration sessions
 * and builds; ac_planner_inputs_free releases them (safe on a zeroed value). */
int ac_planner_inputs_load(ac_planner_t *pl, struct ac_planner_inputs *in, ac_err_t *e);
void ac_planner_inputs_free(struct ac_planner_inputs *in);

/* ac_planner_candidates turns Masters rows into match candidates (*out; *marked and *cloud,
 * each may be NULL: which are invalid because they are marked broken, or because their
 * file is missing and their cloud copy is not in the cache yet; all owned by the caller).
 * A master whose file is missing is read from its cloud copy when the fetcher has one. */
int ac_planner_candidates(ac_planner_t *pl, const ac_master_list_t *ml, ac_match_cand_t **out,
                          bool **marked, bool **cloud);

/* ac_planner_light_meta returns the header metadata of the first readable light of files
 * (from the header cache), or NULL. Borrowed until the next planning call. */
const ac_meta_t *ac_planner_light_meta(ac_planner_t *pl, const ac_file_list_t *files);

/* ac_planner_header_json describes which keywords gave a header's facts (exposure,
 * temperatures, binning, date, type), for `astrocalctl plan`. */
json_t *ac_planner_header_json(const ac_meta_t *m);

/* ac_planner_match runs the matching for one session, with its pins; files receives its
 * uncalibrated lights, or every raw light when it has none or for a recalibration
 * (recal) (the caller frees them and res). */
int ac_planner_match(ac_planner_t *pl, struct ac_planner_inputs *in,
                     const ac_catalog_session_t *s, bool recal, ac_file_list_t *files,
                     ac_match_light_t *light, ac_match_result_t *res, ac_err_t *e);

/* ac_planner_describe fills the light description of a session from its row and the
 * header of its first readable light in files; ac_planner_match_opts the matching's
 * options from the configuration (no pins). */
int ac_planner_describe(ac_planner_t *pl, const ac_catalog_session_t *s,
                        const ac_file_list_t *files, ac_match_light_t *l, ac_err_t *e);
void ac_planner_match_opts(const ac_planner_t *pl, ac_match_opts_t *o);

/* ac_planner_record stores a matching's outcome in memory and in the queue (ac_queue_plan:
 * the session's row, and files, the uncalibrated lights of a ready session, queued). */
int ac_planner_record(ac_planner_t *pl, struct ac_planner_inputs *in,
                      const ac_catalog_session_t *s, const ac_file_list_t *files,
                      ac_match_result_t *res, bool force, ac_err_t *e);

/* ac_planner_key fills key with the masters res chose (paths, the catalogue's MD5s) and
 * its dark scale; a set marked unusable together turns res waiting, saying so. */
void ac_planner_key(ac_planner_t *pl, const struct ac_planner_inputs *in,
                    ac_match_result_t *res, ac_mkey_t *key);

/* ac_planner_find_cand returns the candidate with a Masters id (> 0), else the one with a
 * path (non-NULL), or -1 (planner_pin.c). */
int ac_planner_find_cand(const struct ac_planner_inputs *in, int64_t id, const char *path);

/* ac_planner_find_spec returns the candidate an operator's spec names: a Masters id ("7"
 * or "#7", *by_id true; by_id may be NULL) or a path; -1 when none (planner_pin.c). */
int ac_planner_find_spec(const struct ac_planner_inputs *in, const char *spec, bool *by_id);

/* ---- planner_wait.c ---- */

/* ac_planner_better_coming says whether a master being built would suit the session
 * better than the one chosen in res (a dark of the light's exposure instead of a scaled
 * one, tonight's flat instead of another night's; never over a pinned master): then why
 * says for what it waits. */
bool ac_planner_better_coming(const ac_planner_t *pl, const struct ac_planner_inputs *in,
                              const ac_match_light_t *l, const ac_match_result_t *res,
                              char *why, size_t size);

/* ac_planner_why_waiting adds to a waiting result the masters that would have been chosen
 * but are marked broken (in->marked), naming each and why. */
void ac_planner_why_waiting(const struct ac_planner_inputs *in, const ac_match_light_t *light,
                            const ac_match_opts_t *mo, ac_match_result_t *res);

/* ac_planner_wait_for_cloud makes the session wait, with the reason, for the masters only
 * in the cloud (in->cloud) that it would choose if they were here, asking for their
 * download (hooks.fetch_master). */
void ac_planner_wait_for_cloud(ac_planner_t *pl, const struct ac_planner_inputs *in,
                               const ac_match_light_t *light, const ac_match_opts_t *mo,
                               ac_match_result_t *res);

/* ---- planner_pin.c ---- */

/* ac_planner_plan_recals plans the sessions whose recalibration is under way (files
 * pending or running with recal_output, queue.h): matched on their raw lights, recorded
 * without adding files. */
int ac_planner_plan_recals(ac_planner_t *pl, struct ac_planner_inputs *in, ac_err_t *e);

/* The candidate ids the matching's pins point to (owned; ac_planner_pins_free). */
struct ac_planner_pins {
    int64_t *ids[AC_MATCH_FLAT + 1];
};

/* ac_planner_pin_opts reads the session's pins (pin.h) into mo->pin, naming the
 * candidates of in (an astrocalctl pin wins over an AstroFiler link of its type). */
int ac_planner_pin_opts(ac_planner_t *pl, const struct ac_planner_inputs *in,
                        const char *session_id, struct ac_planner_pins *pp, ac_match_opts_t *mo,
                        ac_err_t *e);
void ac_planner_pins_free(struct ac_planner_pins *pp);

/* ---- planner_bad.c ---- */

/* ac_planner_bad_master returns the mark of path while its file is unchanged; a mark
 * whose file changed is dropped (logged once) and NULL returned. */
const ac_bad_master_t *ac_planner_bad_master(ac_planner_t *pl, const char *path);

/* ac_planner_bad_set returns the mark of key's set (same masters and dark scale) while
 * none of its files changed, else NULL (a changed one is dropped). */
const ac_bad_set_t *ac_planner_bad_set(ac_planner_t *pl, const ac_mkey_t *key);

/* ac_planner_short_reason copies reason into out with path replaced by its base name (the
 * candidate's name is shown beside it). */
void ac_planner_short_reason(const char *reason, const char *path, char *out, size_t size);

/* ac_planner_mono_s: monotonic seconds (the clock of the pass back-off). */
double ac_planner_mono_s(void);

#endif
