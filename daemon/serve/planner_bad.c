/*
 * planner_bad.c - masters found broken (see planner.h, "Broken masters"): a master, or a
 * set of masters unusable together, is marked once with the reason and its files'
 * identities; matching keeps it out while the files are unchanged. Marking also sets
 * aside the plans that use it, so the scheduler does not start their files with the
 * broken masters before the next pass.
 *
 * Thread: loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "planner_int.h"
#include "util.h"

const ac_bad_master_t *ac_planner_bad_master(ac_planner_t *pl, const char *path)
{
    for (size_t i = 0; i < pl->nbad; i++) {
        ac_bad_master_t *b = &pl->bad[i];
        ac_mident_t now;

        if (strcmp(b->path, path) != 0)
            continue;
        ac_mcache_ident(path, &now);
        if (ac_mcache_ident_equal(&now, &b->ident))
            return b;
        ac_log_notice("master %s changed: it is a candidate again (validated when used)", path);
        pl->bad[i] = pl->bad[--pl->nbad];
        return NULL;
    }
    return NULL;
}

/* same_set says whether key names the same masters and dark scale as b. */
static bool same_set(const ac_mkey_t *a, const ac_mkey_t *b)
{
    if (a->k != b->k)
        return false;
    for (int i = 0; i < AC_M_COUNT; i++)
        if (strcmp(a->path[i], b->path[i]) != 0)
            return false;
    return true;
}

const ac_bad_set_t *ac_planner_bad_set(ac_planner_t *pl, const ac_mkey_t *key)
{
    for (size_t i = 0; i < pl->nbadsets; i++) {
        ac_bad_set_t *b = &pl->badsets[i];
        bool changed = false;

        if (!same_set(&b->key, key))
            continue;
        for (int m = 0; m < AC_M_COUNT && !changed; m++) {
            ac_mident_t now;
            ac_mcache_ident(b->key.path[m], &now);
            changed = !ac_mcache_ident_equal(&now, &b->ident[m]);
        }
        if (!changed)
            return b;
        ac_log_notice("a master of a set found unusable changed: the set is tried again");
        pl->badsets[i] = pl->badsets[--pl->nbadsets];
        return NULL;
    }
    return NULL;
}

void ac_planner_short_reason(const char *reason, const char *path, char *out, size_t size)
{
    const char *hit = path[0] != '\0' ? strstr(reason, path) : NULL;

    if (hit == NULL) {
        ac_strlcpy(out, reason, size);
        return;
    }
    snprintf(out, size, "%.*s%s%s", (int)(hit - reason), reason, ac_path_base(path),
             hit + strlen(path));
}

/* set_aside makes plans that use path (or, with path NULL, exactly key's set) wait until
 * the next pass. */
static void set_aside(ac_planner_t *pl, const char *path, const ac_mkey_t *key)
{
    for (size_t i = 0; i < pl->nplans; i++) {
        ac_plan_t *p = &pl->plans[i];
        bool uses = false;

        if (p->status != AC_MATCH_READY)
            continue;
        if (path == NULL)
            uses = same_set(&p->key, key);
        for (int m = 0; path != NULL && m < AC_M_COUNT; m++)
            uses = uses || strcmp(p->key.path[m], path) == 0;
        if (!uses)
            continue;
        p->status = AC_MATCH_WAITING;
        ac_strlcpy(p->reason, "planning again: a master was found unusable", sizeof p->reason);
    }
}

bool ac_planner_mark_bad_master(ac_planner_t *pl, const char *path, const char *reason)
{
    ac_bad_master_t *b;

    if (ac_planner_bad_master(pl, path) != NULL)
        return false;
    if (ac_grow((void **)&pl->bad, &pl->capbad, pl->nbad, sizeof *pl->bad) != 0)
        return false;
    b = &pl->bad[pl->nbad++];
    memset(b, 0, sizeof *b);
    ac_strlcpy(b->path, path, sizeof b->path);
    ac_strlcpy(b->reason, reason, sizeof b->reason);
    ac_mcache_ident(path, &b->ident);
    ac_log_warn("unusable master %s, kept out of matching until the file changes: %s", path,
                reason);
    set_aside(pl, path, NULL);
    return true;
}

bool ac_planner_mark_bad_set(ac_planner_t *pl, const ac_mkey_t *key, const char *reason)
{
    ac_bad_set_t *b;

    if (ac_planner_bad_set(pl, key) != NULL)
        return false;
    if (ac_grow((void **)&pl->badsets, &pl->capbadsets, pl->nbadsets, sizeof *pl->badsets) != 0)
        return false;
    b = &pl->badsets[pl->nbadsets++];
    memset(b, 0, sizeof *b);
    b->key = *key;
    ac_strlcpy(b->reason, reason, sizeof b->reason);
    for (int m = 0; m < AC_M_COUNT; m++)
        ac_mcache_ident(key->path[m], &b->ident[m]);
    ac_log_warn("masters unusable together, not used again until one of them changes: %s",
                reason);
    set_aside(pl, NULL, key);
    return true;
}

void ac_planner_key(ac_planner_t *pl, const struct ac_planner_inputs *in,
                    ac_match_result_t *res, ac_mkey_t *key)
{
    static const int map[AC_M_COUNT] = {AC_MATCH_BIAS, AC_MATCH_DARK, AC_MATCH_FLAT,
                                        AC_MATCH_FLATDARK};

    memset(key, 0, sizeof *key);
    key->k = res->dark_k > 0 ? res->dark_k : 1.0;
    for (int i = 0; i < AC_M_COUNT; i++) {
        int ci = res->chosen[map[i]];
        if (ci < 0)
            continue;
        ac_strlcpy(key->path[i], in->cands[ci].path, sizeof key->path[i]);
        if (in->masters.items[ci].hash_md5 != NULL)
            ac_strlcpy(key->md5[i], in->masters.items[ci].hash_md5, sizeof key->md5[i]);
    }
    if (res->status == AC_MATCH_READY) {
        const ac_bad_set_t *bs = ac_planner_bad_set(pl, key);
        if (bs != NULL) {
            res->status = AC_MATCH_WAITING;
            snprintf(res->reason, sizeof res->reason,
                     "the masters chosen are unusable together (%.400s); waiting until one "
                     "of them changes or another master arrives",
                     bs->reason);
        }
    }
}
