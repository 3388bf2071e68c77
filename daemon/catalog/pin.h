/*
 * pin.h - masters pinned for a light session (astrocald's table astrocal_pin) and the
 * links AstroFiler's users set in fitssession.fitsBiasSession / fitsDarkSession /
 * fitsFlatSession (compared with astrocal_link, astrocald's copy of them).
 *
 * A pin is the operator's choice of master for one type of one session: `astrocalctl use`
 * (source "astrocalctl": a Masters row, master_rowid and master_path), or a calibration
 * session the user linked in AstroFiler (source "astrofiler": cal_session_id, whose
 * masters are the candidates). The planner validates a pin by the matching rules
 * (match.h, ac_match_pin_t); this module only stores it. An astrocalctl pin wins over an
 * AstroFiler link of the same type.
 *
 * AstroFiler's links are written by AstroFiler's own linking, by astrocald's live ingest
 * (ac_catalog_link_sessions, which keeps astrocal_link current) and by the user. A link is
 * taken as the user's when it differs from astrocal_link, astrocald's copy made when it
 * first saw the session or last wrote the link: ac_catalog_pin_sync_links turns such a
 * change into (or, a link cleared, out of) an "astrofiler" pin and updates the copy.
 *
 * Errors: 0 or a negative code with e set (AC_ESQLITE, AC_EBUSY, -ENOMEM, -EINVAL).
 * Ownership: lists are owned by the caller (ac_catalog_pins_free).
 * Thread: loop thread only (the owner of the ac_db_t).
 */
#ifndef AC_PIN_H
#define AC_PIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"

/* The types that may be pinned, in this order: bias, dark, flat (ac_match_type_t's
 * first three). */
#define AC_PIN_NTYPES 3

/* One astrocal_pin row. Strings owned (NULL when NULL). */
typedef struct ac_pin {
    char *session_id, *type, *source; /* type "bias" | "dark" | "flat" */
    int64_t master_rowid;             /* 0 when none */
    char *master_path, *cal_session_id;
    bool forced;
    char *override; /* the mismatches --force accepted */
    char *created_at;
} ac_pin_t;

typedef struct ac_pin_list {
    ac_pin_t *items;
    size_t n;
} ac_pin_list_t;

void ac_catalog_pins_free(ac_pin_list_t *list);

/* ac_pin_type_index maps "bias", "dark", "flat" to 0..2, else -1. Any thread. */
int ac_pin_type_index(const char *type);

/* ac_catalog_pins lists the pins of a session (NULL: of every session), by type. */
int ac_catalog_pins(ac_db_t *db, const char *session_id, ac_pin_list_t *out, ac_err_t *e);

/* ac_catalog_pin_set stores an astrocalctl pin (replacing any pin of that session and
 * type). p's strings are borrowed; created_at is set here. */
int ac_catalog_pin_set(ac_db_t *db, const ac_pin_t *p, ac_err_t *e);

/* ac_catalog_pin_clear removes a session's astrocalctl pins of the types whose bit
 * (1 << type index) is in mask. *n (may be NULL) counts the rows removed. */
int ac_catalog_pin_clear(ac_db_t *db, const char *session_id, unsigned mask, int *n,
                         ac_err_t *e);

/* ac_catalog_pin_sync_links compares a light session's AstroFiler links with astrocal_link
 * (one transaction): the first time it records them as astrocald's copy (no pin); a link
 * the user changed since becomes an "astrofiler" pin of its calibration session, a link
 * the user cleared removes it; the copy is updated. *changed (may be NULL) says whether a
 * pin was added or removed. A session without a fitssession row has no links. */
int ac_catalog_pin_sync_links(ac_db_t *db, const char *session_id, bool *changed, ac_err_t *e);

/* ac_catalog_pin_links_written records links astrocald wrote itself (live ingest's
 * linking): astrocal_link takes them, so they are not taken for the user's. Joins an open
 * transaction. Does nothing before the astrocal tables exist. */
int ac_catalog_pin_links_written(ac_db_t *db, const char *session_id, const char *links[3],
                                 ac_err_t *e);

#endif
