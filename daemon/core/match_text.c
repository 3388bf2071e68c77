/*
 * match_text.c - the words of matching (see match.h): the plan text of `astrocalctl plan`
 * (ac_match_plan_text), the names of types, verdicts and statuses for JSON builders, the
 * type of a Masters.master_type or IMAGETYP value, and the chosen note of a type. They only
 * read a result that ac_match_run (match.c) filled; nothing here decides a match.
 *
 * The reason a pinned type waits (ac_match_pin_waiting) is written here too.
 * Ownership: names are static strings; notes are borrowed from the result.
 * Thread: pure functions, any thread.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "match.h"
#include "meta.h"

/* A bounded text builder that counts what it could not write (snprintf semantics). */
typedef struct out {
    char *buf;
    size_t size, len;
} out_t;

__attribute__((format(printf, 2, 3))) static void putf(out_t *o, const char *fmt, ...)
{
    va_list ap;
    int w;
    size_t room = o->len < o->size ? o->size - o->len : 0;

    va_start(ap, fmt);
    w = vsnprintf(room > 0 ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (w > 0)
        o->len += (size_t)w;
}

size_t ac_match_plan_text(const ac_match_result_t *res, char *buf, size_t size)
{
    out_t o = {buf, size, 0};

    if (buf != NULL && size > 0)
        buf[0] = '\0';
    if (res == NULL)
        return 0;
    putf(&o, "status: %s\n", res->status == AC_MATCH_READY ? "ready" : res->reason);
    for (int t = 0; t < AC_MATCH_NTYPES; t++) {
        int ch = res->chosen[t];
        bool any = false;

        for (size_t i = 0; i < res->n; i++)
            any = any || res->notes[i].type == t;
        if (t == AC_MATCH_FLATDARK && !any)
            continue;
        if (ch >= 0) {
            const ac_match_note_t *nt = &res->notes[ch];
            putf(&o, "%s: #%" PRId64 " %s (%s)", ac_match_type_name(t), nt->id, nt->name,
                 nt->reason);
            if (t == AC_MATCH_BIAS && res->bias_why[0] != '\0')
                putf(&o, " [%s: %s]", res->bias_needed ? "needed" : "used", res->bias_why);
            putf(&o, "\n");
            if (nt->warning[0] != '\0')
                putf(&o, "  warning: %s\n", nt->warning);
        } else if (t == AC_MATCH_BIAS && res->bias_needed) {
            putf(&o, "bias: none (needed: %s)\n", res->bias_why);
        } else if (t == AC_MATCH_BIAS) {
            putf(&o, "bias: not needed\n");
        } else {
            putf(&o, "%s: none\n", ac_match_type_name(t));
        }
        for (size_t i = 0; i < res->n; i++) {
            const ac_match_note_t *nt = &res->notes[i];
            if (nt->type != t || (int)i == ch)
                continue;
            putf(&o, "  #%" PRId64 " %s: %s%s\n", nt->id, nt->name,
                 nt->verdict == AC_MATCH_REJECTED ? "rejected: "
                 : nt->verdict == AC_MATCH_LOWER  ? "ranked lower: "
                                                  : "",
                 nt->reason);
        }
    }
    for (size_t i = 0; i < res->n; i++)
        if (res->notes[i].type < 0)
            putf(&o, "other: #%" PRId64 " %s: rejected: %s\n", res->notes[i].id,
                 res->notes[i].name, res->notes[i].reason);
    return o.len;
}

const char *ac_match_type_name(int type)
{
    static const char *names[] = {"bias", "dark", "flat", "flat-dark"};
    return type >= 0 && type < AC_MATCH_NTYPES ? names[type] : "unknown";
}

const char *ac_match_verdict_name(int verdict)
{
    static const char *names[] = {"rejected", "ranked-lower", "chosen", "unused"};
    return verdict >= 0 && verdict <= AC_MATCH_UNUSED ? names[verdict] : "unknown";
}

const char *ac_match_status_name(int status)
{
    return status == AC_MATCH_READY ? "ready" : "waiting";
}

int ac_match_type_from_name(const char *name)
{
    switch (ac_meta_classify(name, NULL)) {
    case AC_FRAME_BIAS:
        return AC_MATCH_BIAS;
    case AC_FRAME_DARK:
        return AC_MATCH_DARK;
    case AC_FRAME_FLAT:
        return AC_MATCH_FLAT;
    case AC_FRAME_FLATDARK:
        return AC_MATCH_FLATDARK;
    default:
        return -1;
    }
}

const ac_match_note_t *ac_match_chosen(const ac_match_result_t *res, int type)
{
    if (res == NULL || type < 0 || type >= AC_MATCH_NTYPES || res->chosen[type] < 0)
        return NULL;
    return &res->notes[res->chosen[type]];
}

void ac_match_pin_waiting(const ac_match_pin_t *p, int type, const ac_match_note_t *notes,
                          size_t n, char *buf, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        if (notes[i].type != type || !notes[i].pinned)
            continue;
        snprintf(buf, size, "the pinned %s %s, which %s: %s", ac_match_type_name(type),
                 p->label,
                 notes[i].fatal ? "cannot be used even with --force"
                 : p->force     ? "does not match"
                                : "does not match (--force accepts it)",
                 notes[i].reason);
        return;
    }
    snprintf(buf, size, "the pinned %s %s, which is not a usable master in the catalogue",
             ac_match_type_name(type), p->label);
}
