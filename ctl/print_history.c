/*
 * print_history.c - astrocalctl's rendering of `history` (see print.h): one line per
 * event, oldest first: the time, the kind, the file (its name, or "-" for the session's own
 * events) and the message.
 *
 * Thread: any thread (no global state).
 */
#include <errno.h>
#include <string.h>

#include "print.h"

static const char *text(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

int ac_print_history(FILE *out, json_t *r)
{
    json_t *list = json_object_get(r, "events"), *ev;
    size_t i;

    if (!json_is_array(list))
        return -EINVAL;
    if (json_array_size(list) == 0) {
        fprintf(out, "no history for %s\n", text(r, "id") ? text(r, "id") : "-");
        return 0;
    }
    if (json_is_true(json_object_get(r, "more")))
        fputs("(older events left out: --limit N shows more)\n", out);
    json_array_foreach(list, i, ev)
    {
        json_t *detail = json_object_get(ev, "detail");
        const char *path = text(detail, "path"), *file = text(ev, "file_id");
        const char *name = path != NULL ? strrchr(path, '/') : NULL;
        const char *at = text(ev, "at"), *msg = text(ev, "message");

        if (msg == NULL) /* a session's plan without a reason: its state */
            msg = text(detail, "state");

        name = name != NULL ? name + 1 : path != NULL ? path : file != NULL ? file : "-";
        /* 'YYYY-MM-DD HH:MM:SS.ffffff': to the second. */
        fprintf(out, "%.19s  %-15s  %-28s  %s\n", at != NULL ? at : "-",
                text(ev, "kind") ? text(ev, "kind") : "-", name, msg != NULL ? msg : "");
    }
    return 0;
}
