/*
 * print_grade.c - astrocalctl's output for grading (docs/grading.md): the per-file columns
 * of `session`, the `grade` table and CSV, and the grading events of `watch`.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "print.h"
#include "print_int.h"

/* verdict_of returns the verdict a light's grade shows: "rejected*" / "accepted*" for an
 * operator's override, "failed" when it could not be measured, "-" before judging. */
static const char *verdict_of(json_t *g)
{
    const char *o = ac_print_str(g, "override"), *v = ac_print_str(g, "verdict");

    if (ac_print_str(g, "state") != NULL && strcmp(ac_print_str(g, "state"), "failed") == 0)
        return "failed";
    if (o != NULL)
        return strcmp(o, "rejected") == 0 ? "rejected*" : "accepted*";
    return v != NULL ? v : "-";
}

void ac_print_grade_cells(json_t *g, char cells[7][32])
{
    for (int i = 0; i < 7; i++)
        strcpy(cells[i], "-");
    if (g == NULL)
        return;
    /* (ac_print_fnum writes nothing when a value is absent: the cell keeps its "-".) */
    ac_print_fnum(cells[0], 32, g, "fwhm", "%.2f");
    ac_print_fnum(cells[1], 32, g, "hfr", "%.2f");
    ac_print_fnum(cells[2], 32, g, "eccentricity", "%.2f");
    ac_print_fnum(cells[3], 32, g, "stars", "%.0f");
    ac_print_fnum(cells[4], 32, g, "snr", "%.0f");
    ac_print_fnum(cells[5], 32, g, "score", "%.0f");
    snprintf(cells[6], 32, "%s", verdict_of(g));
}

/* csv_field prints s as one CSV field (quoted when it holds a comma, quote or newline). */
static void csv_field(FILE *out, const char *s, bool last)
{
    if (s == NULL)
        s = "";
    if (strpbrk(s, ",\"\n\r") != NULL) {
        fputc('"', out);
        for (; *s != '\0'; s++) {
            if (*s == '"')
                fputc('"', out);
            fputc(*s, out);
        }
        fputc('"', out);
    } else {
        fputs(s, out);
    }
    fputc(last ? '\n' : ',', out);
}

static const char *csv_num(char *buf, size_t size, json_t *o, const char *k)
{
    double v = ac_print_num_f(o, k);

    if (isnan(v))
        return "";
    snprintf(buf, size, "%.6g", v);
    return buf;
}

int ac_print_grade(FILE *out, json_t *r, bool csv)
{
    static const char *const nums[] = {
        "fwhm", "hfr",   "fwhm_arcsec", "hfr_arcsec",    "eccentricity", "stars",
        "snr",  "scale", "nonfinite",   "flat_residual", "score"};
    json_t *list = json_object_get(r, "files"), *f, *sum = json_object_get(r, "summary");
    size_t i;

    if (!json_is_array(list))
        return -EINVAL;
    if (csv) {
        fputs("file,output,state,", out);
        for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++)
            fprintf(out, "%s,", nums[k]);
        fputs("verdict,override,reasons,error\n", out);
        json_array_foreach(list, i, f)
        {
            char b[64];
            csv_field(out, ac_print_str(f, "path"), false);
            csv_field(out, ac_print_str(f, "output_path"), false);
            csv_field(out, ac_print_str(f, "state"), false);
            for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++)
                csv_field(out, csv_num(b, sizeof b, f, nums[k]), false);
            csv_field(out, ac_print_str(f, "verdict"), false);
            csv_field(out, ac_print_str(f, "override"), false);
            csv_field(out, ac_print_str(f, "reasons"), false);
            csv_field(out, ac_print_str(f, "error"), true);
        }
        return 0;
    }
    ac_print_table_t t;
    json_t *med = json_object_get(sum, "median");
    char b[5][32];

    fprintf(out, "session   %s\n", ac_print_dash(ac_print_str(r, "session")));
    fprintf(out, "graded    %lld measured, %lld rejected, %lld failed\n",
            ac_print_num_i(sum, "measured"), ac_print_num_i(sum, "rejected"),
            ac_print_num_i(sum, "failed"));
    fprintf(out, "medians   FWHM %s px, HFR %s px, eccentricity %s, %s stars, SNR %s\n\n",
            ac_print_fnum(b[0], 32, med, "fwhm", "%.2f"),
            ac_print_fnum(b[1], 32, med, "hfr", "%.2f"),
            ac_print_fnum(b[2], 32, med, "eccentricity", "%.2f"),
            ac_print_fnum(b[3], 32, med, "stars", "%.0f"),
            ac_print_fnum(b[4], 32, med, "snr", "%.0f"));
    ac_print_table_init(&t, "lrrrrrrrl",
                        (const char *const[]){"FILE", "FWHM", "HFR", "ECC", "STARS", "SNR",
                                              "SCORE", "VERDICT", "REASONS / ERROR"});
    json_array_foreach(list, i, f)
    {
        char g[7][32];
        ac_print_grade_cells(f, g);
        ac_print_table_add(&t, (const char *const[]){ac_print_base(ac_print_str(f, "path")),
                                                     g[0], g[1], g[2], g[3], g[4], g[5], g[6],
                                                     ac_print_str(f, "error")
                                                         ? ac_print_str(f, "error")
                                                         : ac_print_str(f, "reasons")});
    }
    return ac_print_table_print(&t, out, "");
}

bool ac_print_grade_event(FILE *out, const char *event, json_t *d)
{
    char b[4][32];

    if (strcmp(event, "file_graded") == 0) {
        if (ac_print_str(d, "error") != NULL)
            fprintf(out, "graded    %s: %s\n", ac_print_base(ac_print_str(d, "output_path")),
                    ac_print_str(d, "error"));
        else
            fprintf(out, "graded    %s  FWHM %s px, HFR %s px, e %s, %lld stars\n",
                    ac_print_base(ac_print_str(d, "output_path")),
                    ac_print_fnum(b[0], 32, d, "fwhm", "%.2f"),
                    ac_print_fnum(b[1], 32, d, "hfr", "%.2f"),
                    ac_print_fnum(b[2], 32, d, "eccentricity", "%.2f"),
                    ac_print_num_i(d, "stars"));
    } else if (strcmp(event, "file_verdict") == 0) {
        fprintf(out, "verdict   %s %s%s%s\n", ac_print_base(ac_print_str(d, "output_path")),
                ac_print_dash(ac_print_str(d, "verdict")),
                ac_print_str(d, "reasons") ? ": " : "",
                ac_print_str(d, "reasons") ? ac_print_str(d, "reasons") : "");
    } else if (strcmp(event, "session_graded") == 0) {
        fprintf(out, "session   %s graded, %lld rejected\n",
                ac_print_dash(ac_print_str(d, "session_id")), ac_print_num_i(d, "rejected"));
    } else {
        return false;
    }
    return true;
}
