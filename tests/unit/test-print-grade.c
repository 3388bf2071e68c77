/*
 * test-print-grade.c - astrocalctl's grading output (ctl/print_grade.c, print_event.c): the
 * grading columns of `session` and `sessions`, `grade` as a table and as CSV, and the
 * grading events, on canned results written by hand from docs/protocol.md.
 */
#include <stdlib.h>
#include <string.h>

#include "../../ctl/print.h"
#include "printtest.h"
#include "test.h"

static int grade_table(FILE *f, json_t *j)
{
    return ac_print_grade(f, j, false);
}

static int grade_csv(FILE *f, json_t *j)
{
    return ac_print_grade(f, j, true);
}

/* render_g renders text with fn (ac_print_session, ac_print_sessions, grade_table or
 * grade_csv). */
#define render_g(text, fn, unused) render((fn), (text), 0)

#define GRADE_A                                                                                \
    "{\"file_id\":\"L1\",\"path\":\"/d/m31_001.fits\",\"output_path\":\"/d/m31_001_c.fits\","  \
    "\"state\":\"measured\",\"error\":null,\"fwhm\":2.891,\"hfr\":1.482,\"fwhm_arcsec\":4.23," \
    "\"hfr_arcsec\":2.17,\"eccentricity\":0.04,\"stars\":118,\"snr\":2165.4,\"scale\":1.4633," \
    "\"nonfinite\":0,\"flat_residual\":-0.0016,\"score\":100,\"verdict\":\"accepted\","        \
    "\"override\":null,\"reasons\":null,\"qreject\":null}"
#define GRADE_B                                                                                \
    "{\"file_id\":\"L2\",\"path\":\"/d/m31_002.fits\",\"output_path\":\"/d/m31_002_c.fits\","  \
    "\"state\":\"measured\",\"error\":null,\"fwhm\":2.95,\"hfr\":1.5,\"fwhm_arcsec\":null,"    \
    "\"hfr_arcsec\":null,\"eccentricity\":0.05,\"stars\":77,\"snr\":1690,\"scale\":null,"      \
    "\"nonfinite\":0,\"flat_residual\":null,\"score\":61.2,\"verdict\":\"rejected\","          \
    "\"override\":null,\"reasons\":\"stars 77 < 0.75 x 118; snr 1690.0 < 0.70 x 2165.4\","     \
    "\"qreject\":\"stars 77 < 0.75 x 118; snr 1690.0 < 0.70 x 2165.4\"}"

TEST(print_grade_session_columns)
{
    char *got = render_g(
        "{\"session\":{\"id\":\"S\",\"object\":\"M31\",\"date\":\"2024-10-05\",\"filter\":"
        "\"L\","
        "\"state\":\"done\",\"reason\":null,\"priority\":0,\"total\":3,\"files\":{\"pending\":"
        "0,"
        "\"running\":0,\"done\":3,\"failed\":0,\"skipped\":0,\"cancelled\":0},\"masters\":{"
        "\"bias\":null,\"dark\":null,\"flat\":null,\"flatdark\":null}},\"files\":["
        "{\"file_id\":\"L1\",\"path\":\"/d/m31_001.fits\",\"state\":\"done\",\"attempts\":1,"
        "\"error\":null,\"output_path\":\"/d/"
        "m31_001_c.fits\",\"seconds\":3.2,\"grade\":" GRADE_A
        "},{\"file_id\":\"L2\",\"path\":\"/d/m31_002.fits\",\"state\":\"done\",\"attempts\":1,"
        "\"error\":null,\"output_path\":\"/d/"
        "m31_002_c.fits\",\"seconds\":3.1,\"grade\":" GRADE_B
        "},{\"file_id\":\"L3\",\"path\":\"/d/m31_003.fits\",\"state\":\"done\",\"attempts\":1,"
        "\"error\":null,\"output_path\":\"/d/"
        "m31_003_c.fits\",\"seconds\":3.0,\"grade\":null}]}",
        ac_print_session, false);
    const char *table = strstr(got, "FILE ");

    ASSERT_NOT_NULL(table);
    ASSERT_STR_EQ(table,
                  "FILE          STATE  TRIES   TIME  FWHM   HFR   ECC  STARS   SNR  SCORE  "
                  "VERDICT   OUTPUT / ERROR / REASONS\n"
                  "m31_001.fits  done       1  3.2 s  2.89  1.48  0.04    118  2165    100  "
                  "accepted  m31_001_c.fits\n"
                  "m31_002.fits  done       1  3.1 s  2.95  1.50  0.05     77  1690     61  "
                  "rejected  stars 77 < 0.75 x 118; snr 1690.0 < 0.70 x 2165.4\n"
                  "m31_003.fits  done       1  3.0 s     -     -     -      -     -      -  "
                  "-         m31_003_c.fits\n");
    free(got);
}

TEST(print_grade_sessions_columns_only_when_graded)
{
    char *got = render_g(
        "{\"sessions\":[{\"id\":\"S\",\"object\":\"M31\",\"date\":\"2024-10-05\",\"filter\":"
        "\"L\",\"state\":\"done\",\"reason\":null,\"priority\":0,\"total\":3,\"files\":{"
        "\"pending\":0,\"running\":0,\"done\":3,\"failed\":0,\"skipped\":0,\"cancelled\":0},"
        "\"grading\":{\"measured\":2,\"failed\":0,\"rejected\":1,\"accepted\":1,\"unjudged\":0,"
        "\"median\":{\"fwhm\":2.92,\"hfr\":1.49,\"eccentricity\":0.045,\"stars\":97.5,\"snr\":"
        "1927.7}}},{\"id\":\"T\",\"object\":\"M42\",\"date\":\"2024-10-06\",\"filter\":\"R\","
        "\"state\":\"queued\",\"reason\":null,\"priority\":0,\"total\":1,\"files\":{"
        "\"pending\":1,"
        "\"running\":0,\"done\":0,\"failed\":0,\"skipped\":0,\"cancelled\":0},\"grading\":{"
        "\"measured\":0,\"failed\":0,\"rejected\":0,\"accepted\":0,\"unjudged\":0,\"median\":{"
        "\"fwhm\":null,\"hfr\":null,\"eccentricity\":null,\"stars\":null,\"snr\":null}}}]}",
        ac_print_sessions, false);

    ASSERT_STR_EQ(got,
                  "SESSION  OBJECT  DATE        FILTER  STATE   PRI  PROGRESS              "
                  " FAILED  ETA  FWHM  STARS  REJECTED  REASON\n"
                  "S        M31     2024-10-05  L       done      0  [##########] 100% 3/3 "
                  "      0    -  2.92     98         1  -\n"
                  "T        M42     2024-10-06  R       queued    0  [----------]   0% 0/1 "
                  "      0    -     -      -         -  -\n");
    free(got);
}

TEST(print_grade_table_and_csv)
{
    const char *r =
        "{\"session\":\"S\",\"judged\":true,\"summary\":{\"measured\":2,\"failed\":0,"
        "\"rejected\":1,\"accepted\":1,\"unjudged\":0,\"median\":{\"fwhm\":2.92,"
        "\"hfr\":1.49,\"eccentricity\":0.045,\"stars\":97.5,\"snr\":1927.7}},"
        "\"files\":[" GRADE_A "," GRADE_B "]}";
    char *got = render_g(r, grade_table, false);

    ASSERT_CONTAINS(got, "graded    2 measured, 1 rejected, 0 failed\n");
    ASSERT_CONTAINS(got, "medians   FWHM 2.92 px, HFR 1.49 px, eccentricity 0.04, 98 stars, "
                         "SNR 1928\n");
    ASSERT_CONTAINS(got,
                    "m31_002.fits  2.95  1.50  0.05     77  1690     61  rejected  stars 77");
    free(got);
    got = render_g(r, grade_csv, true);
    ASSERT_STR_EQ(got,
                  "file,output,state,fwhm,hfr,fwhm_arcsec,hfr_arcsec,eccentricity,stars,snr,"
                  "scale,nonfinite,flat_residual,score,verdict,override,reasons,error\n"
                  "/d/m31_001.fits,/d/m31_001_c.fits,measured,2.891,1.482,4.23,2.17,0.04,118,"
                  "2165.4,1.4633,0,-0.0016,100,accepted,,,\n"
                  "/d/m31_002.fits,/d/m31_002_c.fits,measured,2.95,1.5,,,0.05,77,1690,,0,,61.2,"
                  "rejected,,stars 77 < 0.75 x 118; snr 1690.0 < 0.70 x 2165.4,\n");
    free(got);
    /* A field with a comma or a quote is quoted, quotes doubled. */
    got = render_g(
        "{\"session\":\"S\",\"summary\":{},\"files\":[{\"path\":\"/d/a,\\\"b\\\".fits\","
        "\"state\":\"failed\",\"error\":\"cfitsio: bad\"}]}",
        grade_csv, true);
    ASSERT_CONTAINS(got, "\n\"/d/a,\"\"b\"\".fits\",,failed,");
    ASSERT_CONTAINS(got, ",cfitsio: bad\n");
    free(got);
}

TEST(print_grade_events)
{
    ac_print_watch_t w = {0};
    json_t *d =
        json_loads("{\"file_id\":\"L2\",\"output_path\":\"/d/m31_002_c.fits\",\"verdict\":"
                   "\"rejected\",\"reasons\":\"stars 77 < 0.75 x 118\"}",
                   0, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    ASSERT_OK(ac_print_event(f, &w, "file_verdict", "2026-12-07T10:00:00Z", d));
    json_decref(d);
    d = json_loads("{\"session_id\":\"S\",\"rejected\":2,\"judged\":true}", 0, NULL);
    ASSERT_OK(ac_print_event(f, &w, "session_graded", "2026-12-07T10:00:00Z", d));
    json_decref(d);
    fclose(f);
    ASSERT_CONTAINS(buf, "verdict   m31_002_c.fits rejected: stars 77 < 0.75 x 118\n");
    ASSERT_CONTAINS(buf, "session   S graded, 2 rejected\n");
    free(buf);
    ac_print_watch_free(&w);
}
