/*
 * hdrupdate.c - updating header cards of an existing FITS image in place (see hdrupdate.h).
 */
#include "hdrupdate.h"

#include <errno.h>
#include <fcntl.h>
#include <fitsio.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"

static int fits_fail(ac_err_t *e, int status, const char *path, const char *what)
{
    char txt[FLEN_STATUS];

    fits_get_errstatus(status, txt);
    return ac_err_set(e, AC_EFITS, "%s: %s: cfitsio error %d (%s)", path, what, status, txt);
}

/* to_image moves f to the first HDU with image data (the primary array, or the table of a
 * tile-compressed image). */
static int to_image(fitsfile *f, int *status)
{
    int naxis = 0, nhdu = 0;

    fits_get_img_dim(f, &naxis, status);
    if (*status == 0 && naxis == 0) {
        fits_get_num_hdus(f, &nhdu, status);
        if (*status == 0 && nhdu >= 2)
            fits_movabs_hdu(f, 2, NULL, status);
    }
    return *status;
}

static int sync_path(const char *path, ac_err_t *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return ac_err_set(e, -errno, "%s: cannot open to sync: %s", path, strerror(errno));
    if (fsync(fd) != 0)
        rc = ac_err_set(e, -errno, "%s: fsync: %s", path, strerror(errno));
    close(fd);
    return rc;
}

int ac_hdrupdate_file(const char *path, const ac_hdr_t *set, const char *const *del,
                      const char *expect_sha256, char *sha256, size_t size, ac_err_t *e)
{
    fitsfile *f = NULL;
    int status = 0, rc;

    if (expect_sha256 != NULL && expect_sha256[0] != '\0') {
        char now[65];
        rc = ac_digest_file(path, AC_DIGEST_SHA256, now, sizeof now, e);
        if (rc != 0)
            return rc;
        if (strcmp(now, expect_sha256) != 0)
            return ac_err_set(e, -ESTALE,
                              "%s: changed since it was calibrated (SHA-256 %.12s..., the "
                              "catalogue has %.12s...); its header is left alone",
                              path, now, expect_sha256);
    }
    if (fits_open_diskfile(&f, path, READWRITE, &status) != 0)
        return fits_fail(e, status, path, "opening to update the header");
    if (to_image(f, &status) != 0) {
        rc = fits_fail(e, status, path, "finding the image");
        goto out;
    }
    for (size_t i = 0; set != NULL && i < set->n; i++) {
        char key[FLEN_KEYWORD], card[FLEN_CARD];
        int len = 0;
        memcpy(card, set->cards[i], AC_CARD_LEN);
        card[AC_CARD_LEN] = '\0';
        fits_get_keyname(card, key, &len, &status);
        fits_update_card(f, key, card, &status);
        if (status != 0) {
            rc = fits_fail(e, status, path, "writing a card");
            goto out;
        }
    }
    for (size_t i = 0; del != NULL && del[i] != NULL; i++) {
        fits_delete_key(f, del[i], &status);
        if (status == KEY_NO_EXIST)
            status = 0;
        if (status != 0) {
            rc = fits_fail(e, status, path, "deleting a card");
            goto out;
        }
    }
    /* DATASUM stays (the data is unchanged); only CHECKSUM is recomputed. Without a
     * DATASUM (not astrocald's output) cfitsio computes both. */
    if (fits_update_chksum(f, &status) != 0) {
        status = 0;
        fits_write_chksum(f, &status);
    }
    if (status != 0) {
        rc = fits_fail(e, status, path, "updating CHECKSUM");
        goto out;
    }
    fits_close_file(f, &status);
    f = NULL;
    if (status != 0)
        return fits_fail(e, status, path, "closing after the header update");
    if ((rc = sync_path(path, e)) != 0)
        return rc;
    return sha256 != NULL ? ac_digest_file(path, AC_DIGEST_SHA256, sha256, size, e) : 0;
out:
    status = 0;
    if (f != NULL)
        fits_close_file(f, &status);
    return rc;
}
