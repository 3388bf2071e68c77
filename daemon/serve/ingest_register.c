/*
 * ingest_register.c - live ingest's registering (see ingest.h, ingest_int.h): what a probe
 * read is registered in one transaction (ac_import_register_item for each frame or master,
 * exactly as `astrocalctl import` does; a busy database retries the whole batch later),
 * each file's outcome becomes its state (DONE, REJECTED, INCOMPLETE, or PENDING again when
 * the database refused) with its counter and log line, and new sessions are linked to
 * calibration sessions (ac_catalog_link_sessions).
 *
 * Ownership: nothing is kept; the probe and its items belong to ingest_settle.c.
 * Thread: loop thread (the owner of db).
 */
#include <string.h>

#include "catalog.h"
#include "ingest_int.h"
#include "log.h"
#include "util.h"

static bool registrable(const ac_import_item_t *it)
{
    return it != NULL && (it->kind == AC_IMPORT_FRAME || it->kind == AC_IMPORT_MASTER);
}

static int batch_txn(ac_db_t *db, void *arg, ac_err_t *e)
{
    struct probe *p = arg;

    for (size_t i = 0; i < p->n; i++) {
        struct slot *s = &p->s[i];
        s->reg_rc = 0;
        memset(&s->e, 0, sizeof s->e);
        if (!registrable(s->item))
            continue;
        s->reg_rc = ac_import_register_item(db, s->item, &s->out, &s->e);
        if (s->reg_rc == AC_EBUSY) /* the whole batch is retried */
            return ac_err_set(e, AC_EBUSY, "%s", s->e.msg);
    }
    return 0;
}

int ac_ingest_register_probe(struct ac_ingest *ing, struct probe *p)
{
    ac_err_t e = {0};
    bool any = false;
    int rc;

    for (size_t i = 0; i < p->n; i++)
        any = any || registrable(p->s[i].item);
    if (!any)
        return 0;
    if ((rc = ac_db_transact(ing->db, batch_txn, p, &e)) != 0) {
        double d = ac_backoff_fail(&ing->db_retry, (double)ac_now_ns() / 1e9,
                                   INGEST_RETRY_FIRST_S, INGEST_RETRY_CAP_S);
        if (!ac_db_unavailable(rc))
            ac_log_warn("ingest: registering a batch failed (trying again in %.0f s): %s", d,
                        e.msg);
    } else {
        ac_backoff_reset(&ing->db_retry);
    }
    return rc;
}

uint64_t ac_ingest_retry_ns(const struct ac_ingest *ing, uint64_t now)
{
    double d = ing->db_retry.failures > 0 ? ing->db_retry.delay_s : INGEST_RETRY_FIRST_S;

    return now + (uint64_t)(d * 1e9);
}

void ac_ingest_settle_read(struct ac_ingest *ing, struct slot *s, int txn_rc, uint64_t now)
{
    struct file *f = s->f;
    const ac_import_item_t *it = s->item;

    if (registrable(it) && txn_rc != 0) {
        /* The catalogue refused: read it again after the back-off. */
        ac_ingest_set_pending(ing, f, ac_ingest_retry_ns(ing, now));
        return;
    }
    if (registrable(it) && s->reg_rc == 0 && !s->out.duplicate) {
        f->st = F_DONE;
        if (it->kind == AC_IMPORT_MASTER)
            ing->c.masters++;
        else
            ing->c.registered++;
        ing->c.inferred += it->type_why != NULL;
        ing->c.sessions_created += s->out.session_created;
        ac_log_info("ingest: registered %s%s%s%s", f->path,
                    it->kind == AC_IMPORT_MASTER ? " (master)" : "",
                    it->type_why != NULL ? ": type inferred: " : "",
                    it->type_why != NULL ? it->type_why : "");
        return;
    }
    if (registrable(it) && s->reg_rc == 0) {
        ing->c.duplicates++;
        ac_log_info("ingest: %s is already in the catalogue (same content)", f->path);
    } else if (registrable(it)) {
        ing->c.rejected++;
        ac_log_warn("ingest: cannot register %s: %s", f->path, s->e.msg);
    } else if (it->kind == AC_IMPORT_SKIPPED && it->skip == AC_IMPORT_SKIP_INCOMPLETE) {
        f->st = F_INCOMPLETE;
        ac_log_notice("ingest: %s: %s; read again when it changes", f->path, it->reason);
        return;
    } else {
        ing->c.rejected++;
        ing->c.untyped += it->kind == AC_IMPORT_SKIPPED && it->skip == AC_IMPORT_SKIP_UNTYPED;
        if (it->kind == AC_IMPORT_FAILED)
            ac_log_warn("ingest: cannot read %s: %s", f->path, it->reason);
        else
            ac_log_info("ingest: not registering %s: %s", f->path, it->reason);
    }
    f->st = F_REJECTED;
}

/* Linking waits for the end of a burst (nothing on the pool), or LINK_MAX_DELAY_NS during
 * a long one: a pass reads every session, so it does not run after every batch. */
void ac_ingest_link_sessions(struct ac_ingest *ing, uint64_t now)
{
    ac_err_t e = {0};
    int n = 0;

    if (ing->link_since[0] == '\0' ||
        (ing->inflight > 0 && now - ing->linked_ns < LINK_MAX_DELAY_NS) ||
        !ac_backoff_due(&ing->link_retry, (double)now / 1e9))
        return;
    ing->linked_ns = now;
    if (ac_catalog_link_sessions(ing->db, ing->link_since, &n, &e) != 0) {
        double d = ac_backoff_fail(&ing->link_retry, (double)now / 1e9, INGEST_RETRY_FIRST_S,
                                   INGEST_RETRY_CAP_S);
        if (!ac_db_unavailable(e.code))
            ac_log_warn("ingest: linking sessions failed (trying again in %.0f s): %s", d,
                        e.msg);
        return;
    }
    ac_backoff_reset(&ing->link_retry);
    ing->c.sessions_linked += (uint64_t)n;
    ing->link_since[0] = '\0';
}
