/*
 * masters.c - the one master loader (see masters.h): read, checksum, prepare.
 *
 * Ownership: the images' pixel buffers belong to the ac_masters_t until prepare takes them
 * (ac_calib_prepare_take sets them to NULL) or ac_masters_free releases them.
 * Thread: any thread; see masters.h for the steps that may run concurrently.
 */
#include "masters.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "imgio.h"
#include "util.h"

const char *ac_masters_kind_name(int i)
{
    static const char *const names[AC_M_COUNT] = {"bias", "dark", "flat", "flat-dark"};

    return i >= 0 && i < AC_M_COUNT ? names[i] : "?";
}

bool ac_masters_given(const ac_masters_t *m, int i)
{
    return m->path[i] != NULL && m->path[i][0] != '\0';
}

/* check_md5 compares the MD5 of master i's file with the one expected (none: passes). */
static int check_md5(const ac_masters_t *m, int i, const char *got, ac_err_t *e)
{
    const char *want = m->md5[i];

    if (want == NULL || want[0] == '\0' || strcmp(want, got) == 0)
        return 0;
    return ac_err_set(e, AC_EMASTER,
                      "%s: checksum mismatch: file MD5 %s, catalogue hash_value %s", m->path[i],
                      got, want);
}

int ac_masters_load_one(ac_masters_t *m, int i, unsigned flags, ac_err_t *e)
{
    bool apart = (flags & AC_MASTERS_HASH_APART) != 0;
    int rc;

    rc = apart ? ac_imgio_load_pixels(m->path[i], &m->img[i], e)
               : ac_imgio_load_image(m->path[i], &m->img[i], e);
    if (rc == 0) {
        m->loaded[i] = true;
        if (!apart)
            rc = check_md5(m, i, m->img[i].md5, e);
    }
    if (rc != 0)
        ac_err_prefix(e, "master %s", ac_masters_kind_name(i));
    return rc;
}

int ac_masters_hash_one(ac_masters_t *m, int i, ac_err_t *e)
{
    int rc = ac_digest_file(m->path[i], AC_DIGEST_MD5, m->hashed[i], sizeof m->hashed[i], e);

    if (rc == 0)
        rc = check_md5(m, i, m->hashed[i], e);
    if (rc != 0)
        ac_err_prefix(e, "master %s", ac_masters_kind_name(i));
    return rc;
}

int ac_masters_check_type(const ac_masters_t *m, int i, bool force, ac_err_t *e)
{
    static const ac_frame_type_t want[AC_M_COUNT] = {AC_FRAME_BIAS, AC_FRAME_DARK,
                                                     AC_FRAME_FLAT, AC_FRAME_FLATDARK};
    const ac_meta_t *meta = &m->img[i].meta;

    if (!m->loaded[i] || force || meta->type == AC_FRAME_UNKNOWN || meta->type == want[i] ||
        (i == AC_M_FLATDARK && meta->type == AC_FRAME_DARK))
        return 0;
    return ac_err_set(e, AC_EMETADATA,
                      "master %s: %s has IMAGETYP '%s' (a %s frame); use --force to use it "
                      "anyway",
                      ac_masters_kind_name(i), m->path[i], meta->imagetyp,
                      ac_meta_type_name(meta->type));
}

ac_image_t *ac_masters_image(ac_masters_t *m, int i)
{
    return m->loaded[i] ? &m->img[i] : NULL;
}

/* copy_image duplicates a master's pixels (for another dark scale). */
static int copy_image(ac_image_t *dst, const ac_image_t *src)
{
    size_t n = (size_t)src->w * (size_t)src->h;

    *dst = *src;
    dst->px = malloc(n * sizeof(float));
    if (dst->px == NULL)
        return -ENOMEM;
    memcpy(dst->px, src->px, n * sizeof(float));
    return 0;
}

int ac_masters_prepare(ac_masters_t *m, double k, const ac_calib_opts_t *o, bool keep,
                       ac_calset_t *cs, ac_err_t *e)
{
    ac_image_t copy[AC_M_COUNT], *use[AC_M_COUNT];
    int rc = 0;

    for (int i = 0; i < AC_M_COUNT; i++) {
        use[i] = ac_masters_image(m, i);
        if (use[i] != NULL && keep && rc == 0) {
            rc = copy_image(&copy[i], use[i]);
            use[i] = rc == 0 ? &copy[i] : NULL;
        } else if (keep) {
            use[i] = NULL;
        }
    }
    if (rc == 0)
        rc = ac_calib_prepare_take(cs, use[AC_M_BIAS], use[AC_M_DARK], use[AC_M_FLAT],
                                   use[AC_M_FLATDARK], k, o, e);
    else
        ac_err_set(e, rc, "out of memory copying masters");
    for (int i = 0; keep && i < AC_M_COUNT; i++)
        if (use[i] == &copy[i])
            ac_image_free(&copy[i]);
    return rc;
}

void ac_masters_set_md5s(ac_masters_t *m, ac_calset_t *sets, int nsets)
{
    for (int i = 0; i < AC_M_COUNT; i++)
        if (m->loaded[i])
            ac_strlcpy(m->img[i].md5, m->hashed[i], sizeof m->img[i].md5);
    for (int g = 0; sets != NULL && g < nsets; g++) {
        ac_calset_t *cs = &sets[g];
        char *dst[AC_M_COUNT] = {
            cs->has_bias ? cs->bias_md5 : NULL, cs->has_dark ? cs->dark_md5 : NULL,
            cs->has_flat ? cs->flat_md5 : NULL, cs->has_flatdark ? cs->flatdark_md5 : NULL};

        for (int i = 0; i < AC_M_COUNT; i++)
            if (dst[i] != NULL)
                ac_strlcpy(dst[i], m->hashed[i], sizeof cs->bias_md5);
    }
}

int ac_masters_load(ac_masters_t *m, double k, const ac_calib_opts_t *o, ac_calset_t *cs,
                    int *bad, ac_err_t *e)
{
    int rc = 0;

    if (bad != NULL)
        *bad = -1;
    for (int i = 0; i < AC_M_COUNT && rc == 0; i++) {
        if (!ac_masters_given(m, i))
            continue;
        rc = ac_masters_load_one(m, i, 0, e);
        if (rc != 0 && bad != NULL)
            *bad = i;
    }
    if (rc == 0) {
        rc = ac_masters_prepare(m, k, o, false, cs, e);
        if (rc != 0 && bad != NULL)
            *bad = cs->bad_master; /* same order as AC_M_* */
    }
    ac_masters_free(m);
    if (rc != 0 && e != NULL && e->code == 0)
        ac_err_set(e, rc, "preparing masters: %s", ac_strerror(rc));
    return rc;
}

void ac_masters_free(ac_masters_t *m)
{
    for (int i = 0; m != NULL && i < AC_M_COUNT; i++) {
        if (m->loaded[i])
            ac_image_free(&m->img[i]);
        m->loaded[i] = false;
    }
}
