/*
 * print_plan.c - astrocalctl's rendering of `plan` (see print.h): per session its status and
 * reason, the header keywords its light was read with, the masters chosen (pinned ones
 * marked), a better master for a done session, and every candidate with the reason.
 *
 * Thread: any (no global state).
 */
#include <math.h>
#include <string.h>

#include "print.h"
#include "print_int.h"

/* print_plan_header says which header keywords gave the light's facts, and which frames
 * of the session got their type from their path (issue 9). */
static void print_plan_header(FILE *out, json_t *h, json_t *inferred)
{
    json_t *f;
    size_t i;

    if (json_is_object(h)) {
        fprintf(out, "  light header: exposure %s",
                ac_print_str(h, "exposure_key") ? "" : "unknown");
        if (ac_print_str(h, "exposure_key"))
            fprintf(out, "%g s (%s)", ac_print_num_f(h, "exposure"),
                    ac_print_str(h, "exposure_key"));
        if (ac_print_str(h, "ccd_temp_key"))
            fprintf(out, ", sensor %.1f C (%s)", ac_print_num_f(h, "ccd_temp"),
                    ac_print_str(h, "ccd_temp_key"));
        if (ac_print_str(h, "set_temp_key"))
            fprintf(out, ", set point %.1f C (%s)", ac_print_num_f(h, "set_temp"),
                    ac_print_str(h, "set_temp_key"));
        if (!ac_print_str(h, "ccd_temp_key") && !ac_print_str(h, "set_temp_key"))
            fputs(", no temperature", out);
        fprintf(out, ", date %s (%s), type from %s", ac_print_dash(ac_print_str(h, "date_obs")),
                ac_print_dash(ac_print_str(h, "date_key")),
                ac_print_str(h, "type_key") ? ac_print_str(h, "type_key") : "the path");
        if (ac_print_str(h, "binning_key"))
            fprintf(out, ", binning from %s", ac_print_str(h, "binning_key"));
        fputc('\n', out);
    }
    if (json_array_size(inferred) > 0)
        fprintf(out, "  frame type inferred from the path for %zu frame%s:\n",
                json_array_size(inferred), json_array_size(inferred) == 1 ? "" : "s");
    json_array_foreach(inferred, i, f)
    {
        if (i == 5) {
            fprintf(out, "    ... and %zu more\n", json_array_size(inferred) - 5);
            break;
        }
        fprintf(out, "    %s: %s (%s)\n", ac_print_base(ac_print_str(f, "path")),
                ac_print_dash(ac_print_str(f, "type")),
                ac_print_dash(ac_print_str(f, "reason")));
    }
}

static int print_plan(FILE *out, json_t *p)
{
    static const char *const kinds[] = {"bias", "dark", "flat", "flatdark"};
    json_t *chosen = json_object_get(p, "chosen"), *cands = json_object_get(p, "candidates");
    json_t *c;
    const char *text = ac_print_str(p, "text");
    char id[32];
    ac_print_table_t t;
    size_t i;
    int rc = 0;

    fprintf(out, "session %s: %s", ac_print_dash(ac_print_str(p, "session_id")),
            ac_print_dash(ac_print_str(p, "status")));
    if (ac_print_str(p, "reason") != NULL)
        fprintf(out, " (%s)", ac_print_str(p, "reason"));
    fputc('\n', out);
    if (!isnan(ac_print_num_f(p, "dark_scale")) &&
        fabs(ac_print_num_f(p, "dark_scale") - 1) > 1e-9)
        fprintf(out, "  dark scaled by %.4g\n", ac_print_num_f(p, "dark_scale"));
    if (json_is_true(json_object_get(p, "later")))
        fputs("  uses a master made after the light (nothing earlier fits)\n", out);
    print_plan_header(out, json_object_get(p, "header"), json_object_get(p, "inferred"));
    for (size_t k = 0; k < 4; k++) {
        json_t *ch = json_object_get(chosen, kinds[k]);
        if (json_is_object(ch)) {
            char tag[40];
            snprintf(tag, sizeof tag, "#%s",
                     ac_print_id_text(id, sizeof id, json_object_get(ch, "id")));
            fprintf(out, "  %-8s  %-5s %s%s\n", kinds[k], tag,
                    ac_print_dash(ac_print_str(ch, "path")),
                    json_is_true(json_object_get(ch, "pinned")) ? "  (pinned)" : "");
            if (ac_print_str(ch, "override") != NULL)
                fprintf(out, "            forced over: %s\n", ac_print_str(ch, "override"));
        } else
            fprintf(out, "  %-8s  -\n", kinds[k]);
    }
    if (json_is_true(json_object_get(p, "done")))
        fputs("  done; recalibrate with astrocalctl recalibrate SESSION\n", out);
    json_array_foreach(json_object_get(p, "better"), i, c)
    {
        fprintf(out, "  a better %s exists: #%lld %s (used: %s)\n",
                ac_print_dash(ac_print_str(c, "type")), ac_print_num_i(c, "id"),
                ac_print_dash(ac_print_str(c, "now")), ac_print_dash(ac_print_str(c, "used")));
    }
    if (json_array_size(cands) > 0) {
        fputs("  candidates:\n", out);
        ac_print_table_init(&t, "lrlll",
                            (const char *const[]){"TYPE", "ID", "USED", "FILE", "REASON"});
        json_array_foreach(cands, i, c)
        {
            ac_print_table_add(
                &t, (const char *const[]){
                        ac_print_str(c, "type"),
                        ac_print_id_text(id, sizeof id, json_object_get(c, "id")),
                        json_is_true(json_object_get(c, "accepted")) ? "yes" : "no",
                        ac_print_base(ac_print_str(c, "path")), ac_print_str(c, "reason")});
        }
        rc = ac_print_table_print(&t, out, "    ");
    }
    /* The daemon's own explanation, indented. */
    while (text != NULL && *text != '\0') {
        size_t n = strcspn(text, "\n");
        fprintf(out, "  %.*s\n", (int)n, text);
        text += n + (text[n] == '\n');
    }
    return rc;
}

int ac_print_plan(FILE *out, json_t *r)
{
    json_t *plans, *p;
    size_t i;
    int rc;

    if ((rc = ac_print_list_of(out, r, "plans", "no sessions to plan", &plans)) != 0)
        return rc < 0 ? rc : 0;
    json_array_foreach(plans, i, p)
    {
        if (i > 0)
            fputc('\n', out);
        if (rc == 0)
            rc = print_plan(out, p);
    }
    return rc;
}

/* ---- the other commands ----------------------------------------------------------------- */
