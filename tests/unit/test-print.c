/*
 * test-print.c - astrocalctl's rendering (ctl/print*.c; the grading output is in
 * test-print-grade.c) on canned results written by hand from docs/protocol.md, and
 * astrocalctl itself end to end against a fake daemon (the control server from
 * daemon/serve/ctlsrv.c with canned handlers).
 */
#include <pthread.h>

#include "../../ctl/print.h"
#include "ctlsrv.h"
#include "ctlsrv_fixture.h"
#include "harness.h"
#include "printtest.h"
#include "test.h"

char *render(int (*fn)(FILE *, json_t *), const char *text, int want_rc)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    if (j == NULL)
        AC_TEST_FAIL("canned JSON does not parse: %s", je.text);
    f = open_memstream(&buf, &len);
    ASSERT_NOT_NULL(f);
    ASSERT_EQ(fn(f, j), want_rc);
    fclose(f);
    json_decref(j);
    return buf;
}

void expect(int (*fn)(FILE *, json_t *), const char *text, const char *want)
{
    char *got = render(fn, text, 0);

    ASSERT_STR_EQ(got, want);
    free(got);
}

TEST(print_bars_and_progress)
{
    char b[128];

    /* 70/120 = 0.583: 12 cells -> 7.0 filled, 58 %. */
    ASSERT_STR_EQ(ac_print_bar(b, sizeof b, 70.0 / 120.0, 12), "[#######-----]");
    ASSERT_STR_EQ(ac_print_progress(b, sizeof b, 70, 120, 12), "[#######-----]  58% 70/120");
    /* Full only when complete: 119/120 is 9.9 cells -> 9, 99 %. */
    ASSERT_STR_EQ(ac_print_progress(b, sizeof b, 119, 120, 10), "[#########-]  99% 119/120");
    ASSERT_STR_EQ(ac_print_progress(b, sizeof b, 120, 120, 4), "[####] 100% 120/120");
    ASSERT_STR_EQ(ac_print_progress(b, sizeof b, 0, 0, 5), "[-----]   0% 0/0");
    ASSERT_STR_EQ(ac_print_bar(b, sizeof b, -1, 3), "[---]");
    ASSERT_STR_EQ(ac_print_bar(b, sizeof b, NAN, 3), "[---]");
    ASSERT_STR_EQ(ac_print_bar(b, sizeof b, 7, 3), "[###]");
    ASSERT_STR_EQ(ac_print_bar(b, 4, 0.5, 3), ""); /* too small a buffer: empty, not cut */
}

TEST(print_durations_and_sizes)
{
    char b[64];

    ASSERT_STR_EQ(ac_print_duration(b, sizeof b, -1), "-");
    ASSERT_STR_EQ(ac_print_duration(b, sizeof b, NAN), "-");
    ASSERT_STR_EQ(ac_print_duration(b, sizeof b, 3.21), "3.2 s");
    ASSERT_STR_EQ(ac_print_duration(b, sizeof b, 9.96), "10 s");
    ASSERT_STR_EQ(ac_print_duration(b, sizeof b, 45.4), "45 s");
    ASSERT_STR_EQ(ac_print_duration(b, sizeof b, 59.6), "1 min 00 s");
    ASSERT_STR_EQ(ac_print_duration(b, sizeof b, 200), "3 min 20 s");
    ASSERT_STR_EQ(ac_print_duration(b, sizeof b, 7385), "2 h 03 min");
    ASSERT_STR_EQ(ac_print_duration(b, sizeof b, 86400 + 4 * 3600 + 59), "1 d 04 h");
    ASSERT_STR_EQ(ac_print_mib(b, sizeof b, 412.0 * 1048576), "412 MiB");
    ASSERT_STR_EQ(ac_print_mib(b, sizeof b, 2147483648.0), "2048 MiB");
    ASSERT_STR_EQ(ac_print_mib(b, sizeof b, 10.0 * 1073741824), "10.0 GiB");
    ASSERT_STR_EQ(ac_print_mib(b, sizeof b, NAN), "-");
}

static const char status_json[] =
    "{\"state\":\"running\",\"pause_reason\":null,\"uptime_s\":7385,\"workers\":2,"
    "\"in_flight\":2,"
    "\"files\":{\"pending\":45,\"running\":2,\"done\":70,\"failed\":3,\"skipped\":0,"
    "\"cancelled\":0},"
    "\"sessions\":{\"waiting\":1,\"queued\":3,\"paused\":0,\"done\":5,\"cancelled\":0,"
    "\"partial\":1,\"failed\":2},"
    "\"last_session\":\"session 3f2a failed (0 calibrated, 6 failed)\","
    "\"rate_fps\":0.85,\"eta_s\":59,"
    "\"memory\":{\"budget_bytes\":2147483648,\"used_bytes\":432013312},"
    "\"throttle\":{\"load_per_cpu\":0.42,\"cpu_pressure\":3.1,\"backing_off\":false,"
    "\"reason\":null},"
    "\"running\":[{\"file_id\":\"f1\",\"path\":\"/data/M31/m31_L_0001.fits\","
    "\"session_id\":\"3f2a6c1e-0000-4000-8000-000000000001\",\"step\":\"calibrating\","
    "\"progress\":0.4,\"seconds\":3.2},"
    "{\"file_id\":\"f2\",\"path\":\"/data/M31/m31_L_0002_long_name.fits\","
    "\"session_id\":\"3f2a6c1e-0000-4000-8000-000000000001\",\"step\":\"writing\","
    "\"progress\":1.0,\"seconds\":12.0}]}";

TEST(print_status)
{
    /* 7385 s = 2 h 03 min; 45+2+70+3 = 120 files, 70 done = 58 %, 11 of 20 cells;
     * 432013312 B = 412 MiB. Running table: FILE is as wide as the longer base name (25),
     * STEP as "calibrating" (11), PROGRESS as "[####------]  40%" (17), TIME right-aligned
     * to "3.2 s" (5). */
    expect(ac_print_status, status_json,
           "astrocald running, up 2 h 03 min, 2 workers, 2 in flight\n"
           "files     [###########---------]  58% 70/120  pending 45  running 2  done 70  "
           "failed 3  skipped 0  cancelled 0\n"
           "rate      0.85 frames/s, ETA 59 s\n"
           "sessions  queued 3  waiting 1  paused 0  done 5  partial 1  failed 2  cancelled 0\n"
           "last      session 3f2a failed (0 calibrated, 6 failed)\n"
           "memory    412 MiB of 2048 MiB\n"
           "throttle  load 0.42 per CPU, CPU pressure 3.1%\n"
           "\n"
           "FILE                       STEP         PROGRESS            TIME  SESSION\n"
           "m31_L_0001.fits            calibrating  [####------]  40%  3.2 s  "
           "3f2a6c1e-0000-4000-8000-000000000001\n"
           "m31_L_0002_long_name.fits  writing      [##########] 100%   12 s  "
           "3f2a6c1e-0000-4000-8000-000000000001\n");
}

TEST(print_status_paused_idle_and_backing_off)
{
    char *got = render(
        ac_print_status,
        "{\"state\":\"paused\",\"pause_reason\":\"free disk space below the reserve\","
        "\"uptime_s\":30,\"workers\":4,\"in_flight\":0,"
        "\"files\":{\"pending\":0,\"running\":0,\"done\":0,\"failed\":0,\"skipped\":0,"
        "\"cancelled\":0},"
        "\"sessions\":{\"waiting\":0,\"queued\":0,\"paused\":0,\"done\":0,\"cancelled\":0},"
        "\"rate_fps\":0,\"eta_s\":null,\"memory\":{\"budget_bytes\":0,\"used_bytes\":0},"
        "\"throttle\":{\"load_per_cpu\":2.5,\"cpu_pressure\":61.04,\"backing_off\":true,"
        "\"reason\":\"load 2.50 per CPU above 1.5\"},\"running\":[]}",
        0);

    ASSERT_CONTAINS(got, "astrocald paused (free disk space below the reserve), up 30 s, "
                         "4 workers, 0 in flight\n");
    ASSERT_CONTAINS(got, "files     [--------------------]   0% 0/0  pending 0");
    ASSERT_CONTAINS(got, "rate      0.00 frames/s, ETA -\n");
    ASSERT_CONTAINS(got, "throttle  load 2.50 per CPU, CPU pressure 61.0%, backing off: "
                         "load 2.50 per CPU above 1.5\n\nnothing running\n");
    free(got);
}

TEST(print_status_version_pid_and_last_error)
{
    char *got = render(
        ac_print_status,
        "{\"version\":\"1.2.3\",\"pid\":4242,\"state\":\"running\",\"pause_reason\":null,"
        "\"uptime_s\":5,\"workers\":1,\"in_flight\":0,"
        "\"files\":{\"pending\":0,\"running\":0,\"done\":0,\"failed\":1,\"skipped\":0,"
        "\"cancelled\":0},"
        "\"sessions\":{\"waiting\":0,\"queued\":0,\"paused\":0,\"done\":0,\"cancelled\":0},"
        "\"rate_fps\":0,\"eta_s\":null,\"memory\":{\"budget_bytes\":0,\"used_bytes\":0},"
        "\"throttle\":{\"load_per_cpu\":0.1,\"cpu_pressure\":null,\"backing_off\":false,"
        "\"reason\":null},\"running\":[],"
        "\"last_error\":{\"at\":\"2026-12-07T11:20:01Z\",\"message\":\"/d/a.fits: "
        "truncated\"}}",
        0);

    ASSERT_CONTAINS(got, "astrocald 1.2.3 (pid 4242) running, up 5.0 s, 1 workers");
    ASSERT_CONTAINS(got, "CPU pressure -%\nlast error 2026-12-07T11:20:01Z: /d/a.fits: "
                         "truncated\n\nnothing running\n");
    free(got);
}

TEST(print_sessions_aligns_utf8_and_numbers)
{
    /* "Nébuleuse" is 9 characters in 10 bytes: the OBJECT column is 9 characters wide. */
    expect(ac_print_sessions,
           "{\"sessions\":["
           "{\"id\":\"3f2a\",\"object\":\"M31\",\"date\":\"2024-10-05\",\"filter\":\"Ha\","
           "\"state\":\"queued\",\"reason\":null,\"priority\":0,\"total\":120,"
           "\"files\":{\"pending\":45,\"running\":2,\"done\":70,\"failed\":3,\"skipped\":0,"
           "\"cancelled\":0},\"eta_s\":200.0},"
           "{\"id\":\"9b1d0c2e\",\"object\":\"N\xC3\xA9"
           "buleuse\",\"date\":\"2024-10-06\","
           "\"filter\":null,\"state\":\"waiting\","
           "\"reason\":\"waiting for dark 300 s, -10 C, gain 100, 1x1\",\"priority\":10,"
           "\"total\":8,\"files\":{\"pending\":8,\"running\":0,\"done\":0,\"failed\":0,"
           "\"skipped\":0,\"cancelled\":0}}]}",
           "SESSION   OBJECT     DATE        FILTER  STATE    PRI  PROGRESS                  "
           "FAILED         ETA  REASON\n"
           "3f2a      M31        2024-10-05  Ha      queued     0  [#####-----]  58% 70/120  "
           "     3  3 min 20 s  -\n"
           "9b1d0c2e  N\xC3\xA9"
           "buleuse  2024-10-06  -       waiting   10  "
           "[----------]   0% 0/8          0           -  waiting for dark 300 s, -10 C, gain "
           "100, 1x1\n");
    expect(ac_print_sessions, "{\"sessions\":[]}", "no light sessions\n");
}

TEST(print_session_detail)
{
    expect(ac_print_session,
           "{\"session\":{\"id\":\"3f2a\",\"object\":\"M31\",\"date\":\"2024-10-05\","
           "\"filter\":\"Ha\",\"state\":\"queued\",\"reason\":null,\"priority\":-2,\"total\":3,"
           "\"files\":{\"pending\":1,\"running\":0,\"done\":1,\"failed\":1,\"skipped\":0,"
           "\"cancelled\":0},"
           "\"masters\":{\"bias\":null,\"dark\":\"/repo/Masters/D300.fits\","
           "\"flat\":\"/repo/Masters/FHa.fits\",\"flatdark\":null}},"
           "\"files\":["
           "{\"file_id\":\"a\",\"path\":\"/data/m31_001.fits\",\"state\":\"done\","
           "\"attempts\":1,\"error\":null,\"output_path\":\"/out/m31_001_calibrated.fits\","
           "\"seconds\":3.24},"
           "{\"file_id\":\"b\",\"path\":\"/data/m31_002.fits\",\"state\":\"failed\","
           "\"attempts\":3,\"error\":\"dimensions differ\",\"output_path\":null,"
           "\"seconds\":null},"
           "{\"file_id\":\"c\",\"path\":\"/data/m31_003.fits\",\"state\":\"pending\","
           "\"attempts\":0,\"error\":null,\"output_path\":null,\"seconds\":null}]}",
           "session   3f2a\n"
           "object    M31, filter Ha, date 2024-10-05\n"
           "state     queued, priority -2\n"
           "progress  [######--------------]  33% 1/3  pending 1  running 0  done 1  "
           "failed 1  skipped 0  cancelled 0\n"
           "masters   bias      -\n"
           "          dark      /repo/Masters/D300.fits\n"
           "          flat      /repo/Masters/FHa.fits\n"
           "          flatdark  -\n"
           "\n"
           "FILE          STATE    TRIES   TIME  OUTPUT / ERROR\n"
           "m31_001.fits  done         1  3.2 s  m31_001_calibrated.fits\n"
           "m31_002.fits  failed       3      -  dimensions differ\n"
           "m31_003.fits  pending      0      -  -\n");
}

TEST(print_masters)
{
    char *got = render(
        ac_print_masters,
        "{\"masters\":["
        "{\"id\":12,\"type\":\"dark\",\"path\":\"/repo/Masters/D300.fits\",\"telescope\":null,"
        "\"instrument\":\"ASI2600MM\",\"exposure\":300,\"filter\":null,\"ccd_temp\":-10,"
        "\"gain\":100,\"offset\":50,\"binning\":\"1x1\",\"date\":\"2024-10-01\","
        "\"valid\":true,\"reason\":null},"
        "{\"id\":3,\"type\":\"flat\",\"path\":\"/repo/Masters/FHa.fits\","
        "\"telescope\":\"RedCat 51\",\"instrument\":\"ASI2600MM\",\"exposure\":null,"
        "\"filter\":\"Ha\",\"ccd_temp\":null,\"gain\":null,\"offset\":null,\"binning\":\"2x2\","
        "\"date\":\"2024-10-05\",\"valid\":false,\"reason\":\"checksum differs\"}]}",
        0);

    /* ID right-aligned to 2; EXPOSURE right-aligned to 8; TEMP to 5 ("-10.0"). */
    ASSERT_STR_EQ(got,
                  "ID  TYPE  INSTRUMENT  TELESCOPE  EXPOSURE  FILTER   TEMP  GAIN  OFFSET  "
                  "BIN  DATE        VALID  FILE       REASON\n"
                  "12  dark  ASI2600MM   -             300 s  -       -10.0   100      50  "
                  "1x1  2024-10-01  yes    D300.fits  -\n"
                  " 3  flat  ASI2600MM   RedCat 51         -  Ha          -     -       -  "
                  "2x2  2024-10-05  no     FHa.fits   checksum differs\n");
    free(got);
    /* Without any invalid master there is no REASON column. */
    got = render(ac_print_masters,
                 "{\"masters\":[{\"id\":1,\"type\":\"bias\",\"path\":\"/m/B.fits\","
                 "\"telescope\":null,\"instrument\":\"C\",\"exposure\":null,\"filter\":null,"
                 "\"ccd_temp\":null,\"gain\":0,\"offset\":0,\"binning\":\"1x1\","
                 "\"date\":\"2024-01-01\",\"valid\":true,\"reason\":null}]}",
                 0);
    ASSERT_STR_EQ(got, "ID  TYPE  INSTRUMENT  TELESCOPE  EXPOSURE  FILTER  TEMP  GAIN  OFFSET  "
                       "BIN  DATE        VALID  FILE\n"
                       " 1  bias  C           -                 -  -          -     0       0  "
                       "1x1  2024-01-01  yes    B.fits\n");
    free(got);
}

TEST(print_plan)
{
    expect(
        ac_print_plan,
        "{\"plans\":[{\"session_id\":\"3f2a\",\"status\":\"ready\",\"reason\":null,"
        "\"later\":true,\"dark_scale\":1.0,"
        "\"chosen\":{\"bias\":null,\"dark\":{\"id\":12,\"path\":\"/repo/Masters/D300.fits\"},"
        "\"flat\":{\"id\":3,\"path\":\"/repo/Masters/FHa.fits\"},\"flatdark\":null},"
        "\"candidates\":[{\"type\":\"dark\",\"id\":12,\"path\":\"/repo/Masters/D300.fits\","
        "\"accepted\":true,\"reason\":\"same night\"},"
        "{\"type\":\"dark\",\"id\":14,\"path\":\"/repo/Masters/D120.fits\","
        "\"accepted\":false,\"reason\":\"exposure 120 s differs\"}],"
        "\"text\":\"dark #12 from the same night\\nflat #3 taken after the light\"},"
        "{\"session_id\":\"9b1d\",\"status\":\"waiting\",\"reason\":\"waiting for dark 300 s\","
        "\"later\":false,\"dark_scale\":0.5,\"chosen\":{\"bias\":null,\"dark\":null,"
        "\"flat\":null,\"flatdark\":null},\"candidates\":[],\"text\":\"\"}]}",
        "session 3f2a: ready\n"
        "  uses a master made after the light (nothing earlier fits)\n"
        "  bias      -\n"
        "  dark      #12   /repo/Masters/D300.fits\n"
        "  flat      #3    /repo/Masters/FHa.fits\n"
        "  flatdark  -\n"
        "  candidates:\n"
        "    TYPE  ID  USED  FILE       REASON\n"
        "    dark  12  yes   D300.fits  same night\n"
        "    dark  14  no    D120.fits  exposure 120 s differs\n"
        "  dark #12 from the same night\n"
        "  flat #3 taken after the light\n"
        "\n"
        "session 9b1d: waiting (waiting for dark 300 s)\n"
        "  dark scaled by 0.5\n"
        "  bias      -\n"
        "  dark      -\n"
        "  flat      -\n"
        "  flatdark  -\n");
    expect(ac_print_plan, "{\"plans\":[]}", "no sessions to plan\n");
}

TEST(print_plan_header_keywords_and_inferred_types)
{
    expect(ac_print_plan,
           "{\"plans\":[{\"session_id\":\"d1\",\"status\":\"ready\",\"reason\":null,"
           "\"later\":false,\"dark_scale\":0.5,\"chosen\":{\"bias\":null,\"dark\":null,"
           "\"flat\":null,\"flatdark\":null},\"candidates\":[],\"text\":\"\","
           "\"header\":{\"type_key\":null,\"exposure\":15,\"exposure_key\":\"EXP\","
           "\"ccd_temp\":null,\"ccd_temp_key\":null,\"set_temp\":-10,\"set_temp_key\":"
           "\"SET-TEMP\",\"binning_key\":\"BINNING\",\"date_obs\":\"2023-06-10T21:38:19\","
           "\"date_key\":\"DATE-OBS\",\"bayerpat\":\"GBRG\"},"
           "\"inferred\":[{\"path\":\"/n/Lights/a.fits\",\"type\":\"light\",\"reason\":"
           "\"no IMAGETYP, FRAME or FRAMETYP; folder 'Lights'\"}]}]}",
           "session d1: ready\n"
           "  dark scaled by 0.5\n"
           "  light header: exposure 15 s (EXP), set point -10.0 C (SET-TEMP), date "
           "2023-06-10T21:38:19 (DATE-OBS), type from the path, binning from BINNING\n"
           "  frame type inferred from the path for 1 frame:\n"
           "    a.fits: light (no IMAGETYP, FRAME or FRAMETYP; folder 'Lights')\n"
           "  bias      -\n"
           "  dark      -\n"
           "  flat      -\n"
           "  flatdark  -\n");
}

/* result renders through ac_print_result. */
static char *result(const char *cmd, const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    ASSERT_NOT_NULL(j);
    ASSERT_OK(ac_print_result(f, cmd, j));
    fclose(f);
    json_decref(j);
    return buf;
}

#define EXPECT_RESULT(cmd, text, want)                                                         \
    do {                                                                                       \
        char *got_ = result(cmd, text);                                                        \
        ASSERT_STR_EQ(got_, want);                                                             \
        free(got_);                                                                            \
    } while (0)

TEST(print_short_results)
{
    EXPECT_RESULT("version", "{\"version\":\"0.1.0\",\"protocol\":1}",
                  "astrocald 0.1.0 (protocol 1)\n");
    EXPECT_RESULT("enqueue", "{\"session\":\"abc\",\"priority\":5,\"state\":\"queued\"}",
                  "session abc: queued, priority 5\n");
    EXPECT_RESULT("pause", "{\"state\":\"paused\",\"session\":null}", "queue paused\n");
    EXPECT_RESULT("resume", "{\"state\":\"queued\",\"session\":\"abc\"}",
                  "session abc: queued\n");
    EXPECT_RESULT("cancel", "{\"session\":\"abc\",\"cancelled_files\":4}",
                  "session abc: cancelled 4 files\n");
    EXPECT_RESULT("retry", "{\"retried\":3}", "3 files queued for retry\n");
    EXPECT_RESULT("reload",
                  "{\"changed\":[\"log_level\",\"max_in_flight\"],\"ignored\":[\"workers\"]}",
                  "configuration reloaded; changed: log_level, max_in_flight; needs a restart: "
                  "workers\n");
    EXPECT_RESULT("reload", "{\"changed\":[],\"ignored\":[]}",
                  "configuration reloaded; changed: -; needs a restart: -\n");
    EXPECT_RESULT("import",
                  "{\"registered\":42,\"duplicates\":3,\"skipped\":1,"
                  "\"errors\":[{\"path\":\"/data/x.fits\",\"message\":\"not a FITS file\"}]}",
                  "registered 42, duplicates 3, skipped 1, errors 1\n"
                  "  /data/x.fits: not a FITS file\n");
    EXPECT_RESULT(
        "config",
        "{\"config\":{\"AUTO_CALIBRATION\":{\"enable_light_calibration\":\"True\","
        "\"calibration_output_suffix\":\"_calibrated\"},\"WORKERS\":{\"workers\":\"2\"}}}",
        "[AUTO_CALIBRATION]\nenable_light_calibration = True\n"
        "calibration_output_suffix = _calibrated\n\n[WORKERS]\nworkers = 2\n");
    /* A command this astrocalctl does not know how to draw: the JSON, on one line. */
    EXPECT_RESULT("future", "{\"a\":[1,2]}", "{\"a\":[1,2]}\n");
}

TEST(print_rejects_results_without_their_fields)
{
    free(render(ac_print_status, "{\"state\":\"running\"}", -EINVAL));
    free(render(ac_print_sessions, "{\"sessions\":{}}", -EINVAL));
    free(render(ac_print_session, "{\"session\":{\"id\":\"x\"}}", -EINVAL));
    free(render(ac_print_masters, "{}", -EINVAL));
    free(render(ac_print_plan, "{\"plans\":null}", -EINVAL));
    free(render(ac_print_import, "{\"registered\":1}", -EINVAL));
    free(render(ac_print_config, "{\"config\":[]}", -EINVAL));
}

TEST(print_events)
{
    static const char *const ev[][2] = {
        {"file_started",
         "{\"file_id\":\"f1\",\"path\":\"/d/m31_001.fits\",\"session_id\":\"s1\"}"},
        {"file_progress", "{\"file_id\":\"f1\",\"step\":\"calibrating\",\"progress\":0.4}"},
        {"file_progress", "{\"file_id\":\"zz\",\"step\":\"reading\",\"progress\":0.999}"},
        {"file_done", "{\"file_id\":\"f1\",\"path\":\"/d/m31_001.fits\","
                      "\"output_path\":\"/o/m31_001_calibrated.fits\",\"seconds\":3.2,"
                      "\"quality\":{}}"},
        {"file_failed",
         "{\"file_id\":\"f2\",\"path\":\"/d/m31_002.fits\",\"error\":\"disk full\","
         "\"attempts\":2,\"will_retry\":true}"},
        {"session_state", "{\"session_id\":\"s1\",\"state\":\"done\",\"reason\":null}"},
        {"master_new", "{\"id\":12,\"type\":\"dark\",\"path\":\"/r/D.fits\"}"},
        {"queue_state", "{\"state\":\"paused\",\"reason\":\"disk space low\"}"},
        {"mystery", "{\"a\":1}"}};
    ac_print_watch_t w = {0};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    setenv("TZ", "UTC", 1);
    tzset();
    for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++) {
        json_t *d = json_loads(ev[i][1], 0, NULL);
        ASSERT_NOT_NULL(d);
        ASSERT_OK(ac_print_event(f, &w, ev[i][0], "2026-11-25T21:04:05Z", d));
        json_decref(d);
    }
    fclose(f);
    ASSERT_STR_EQ(buf, "21:04:05  started   m31_001.fits  session s1\n"
                       "21:04:05  progress  m31_001.fits  calibrating 40%\n"
                       "21:04:05  progress  zz  reading 99%\n"
                       "21:04:05  done      m31_001.fits -> m31_001_calibrated.fits  3.2 s\n"
                       "21:04:05  failed    m31_002.fits: disk full (attempt 2, will retry)\n"
                       "21:04:05  session   s1 done\n"
                       "21:04:05  master    new dark #12 /r/D.fits\n"
                       "21:04:05  queue     paused: disk space low\n"
                       "21:04:05  mystery   {\"a\":1}\n");
    free(buf);
    ac_print_watch_free(&w);
}

/* ---- astrocalctl end to end against a fake daemon ---------------------------------------- */

struct fake {
    struct srv_thread st; /* the server; fake_emit closes it */
    uv_timer_t timer;
};

static void fake_emit(uv_timer_t *t)
{
    struct fake *fk = t->data;

    ac_ctlsrv_broadcast_event(fk->st.srv, "queue_state",
                              json_pack("{s:s,s:n}", "state", "paused", "reason"));
    ac_ctlsrv_broadcast_event(
        fk->st.srv, "master_new",
        json_pack("{s:i,s:s,s:s}", "id", 7, "type", "flat", "path", "/m/F.fits"));
    /* The daemon "goes away": astrocalctl watch must notice and exit. */
    ac_ctlsrv_close(fk->st.srv, NULL);
    fk->st.srv_closed = true;
    uv_close((uv_handle_t *)t, NULL);
}

static void fake_handler(ac_ctlsrv_client_t *c, json_t *id, const char *cmd, json_t *args,
                         void *ud)
{
    struct fake *fk = ud;

    if (strcmp(cmd, "status") == 0) {
        ac_ctlsrv_reply_ok(c, id, json_loads(status_json, 0, NULL));
    } else if (strcmp(cmd, "session") == 0) {
        ac_ctlsrv_reply_error(c, id, AC_PROTO_NOT_FOUND, "no session '%s'",
                              json_string_value(json_object_get(args, "id")));
    } else if (strcmp(cmd, "version") == 0) {
        ac_ctlsrv_reply_ok(c, id, json_pack("{s:s,s:i}", "version", "0.1.0", "protocol", 1));
    } else if (strcmp(cmd, "watch") == 0) {
        ac_ctlsrv_subscribe(c);
        ac_ctlsrv_reply_ok(c, id, json_pack("{s:b}", "watching", 1));
        uv_timer_init(&fk->st.loop, &fk->timer);
        fk->timer.data = fk;
        uv_timer_start(&fk->timer, fake_emit, 100, 0);
    } else {
        /* Echo the arguments, so the test sees what astrocalctl sent. */
        ac_ctlsrv_reply_ok(c, id, json_deep_copy(args));
    }
}

/* same_json checks that text (one line) is the JSON value want, whatever the key order. */
static void same_json(const char *text, const char *want)
{
    json_t *a = json_loads(text, 0, NULL), *b = json_loads(want, 0, NULL);

    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(b);
    ASSERT_EQ(strchr(text, '\n'), text + strlen(text) - 1); /* one line */
    if (!json_equal(a, b))
        AC_TEST_FAIL("got %s, expected %s", text, want);
    json_decref(a);
    json_decref(b);
}

/* ctl runs astrocalctl (from the build tree) with args, checks the exit status and returns
 * stdout; stderr goes to *err when err is not NULL. */
static char *ctl(ac_harness_t *h, int want, char **err, const char *const *args)
{
    char path[1100];
    const char *argv[16];
    char *out = NULL, *e = NULL;
    size_t n = 0;
    int rc;

    snprintf(path, sizeof path, "%s/astrocalctl", ac_test_bindir());
    if (access(path, X_OK) != 0)
        AC_TEST_FAIL("%s is missing: build the astrocalctl target", path);
    argv[n++] = path;
    for (size_t i = 0; args[i] != NULL; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    rc = ac_harness_run(h, argv, 10000, &out, &e);
    if (rc != want)
        AC_TEST_FAIL("astrocalctl exited %d, expected %d; stdout: %s; stderr: %s", rc, want,
                     out, e);
    if (err != NULL)
        *err = e;
    else
        free(e);
    return out;
}

TEST(astrocalctl_end_to_end_with_a_fake_daemon)
{
    ac_harness_t h;
    struct fake fk = {0};
    char *out, *err, want[2048];
    json_t *canned = json_loads(status_json, 0, NULL);
    char *canned_line = json_dumps(canned, JSON_COMPACT | JSON_REAL_PRECISION(15));

    ac_harness_init(&h);
    srv_thread_start(&fk.st, h.socket, fake_handler, &fk);

    /* --json prints the result object on one line, whatever the option's position. */
    out =
        ctl(&h, 0, NULL, (const char *const[]){"--socket", h.socket, "status", "--json", NULL});
    snprintf(want, sizeof want, "%s\n", canned_line);
    ASSERT_STR_EQ(out, want);
    free(out);
    /* Human output. */
    out = ctl(&h, 0, NULL, (const char *const[]){"--socket", h.socket, "version", NULL});
    ASSERT_STR_EQ(out, "astrocald 0.1.0 (protocol 1)\n");
    free(out);
    out = ctl(&h, 0, NULL, (const char *const[]){"--socket", h.socket, "status", NULL});
    ASSERT_CONTAINS(out, "files     [###########---------]  58% 70/120");
    free(out);
    /* The daemon's error: exit 1, "astrocalctl: CODE: MESSAGE" on stderr, nothing on stdout. */
    out = ctl(&h, 1, &err, (const char *const[]){"--socket", h.socket, "session", "x", NULL});
    ASSERT_STR_EQ(out, "");
    ASSERT_STR_EQ(err, "astrocalctl: not_found: no session 'x'\n");
    free(out);
    free(err);
    /* The arguments each command sends (echoed back by the fake). */
    out = ctl(&h, 0, NULL,
              (const char *const[]){"--socket", h.socket, "--json", "enqueue", "abc",
                                    "--priority", "-7", NULL});
    same_json(out, "{\"session\":\"abc\",\"priority\":-7}");
    free(out);
    out = ctl(
        &h, 0, NULL,
        (const char *const[]){"--socket", h.socket, "--json", "retry", "--all-failed", NULL});
    same_json(out, "{\"all_failed\":true}");
    free(out);
    out = ctl(
        &h, 0, NULL,
        (const char *const[]){"--socket", h.socket, "--json", "retry", "--file", "f-1", NULL});
    same_json(out, "{\"file\":\"f-1\"}");
    free(out);
    out =
        ctl(&h, 0, NULL, (const char *const[]){"--socket", h.socket, "--json", "pause", NULL});
    same_json(out, "{}");
    free(out);
    /* A relative directory is sent as an absolute one (the daemon has another cwd). */
    out = ctl(
        &h, 0, NULL,
        (const char *const[]){"--json", "--socket", h.socket, "import", "lights/m31", NULL});
    snprintf(want, sizeof want, "{\"dir\":\"%s/lights/m31\"}", ac_test_tmpdir());
    same_json(out, want);
    free(out);
    /* Usage errors: 64, before connecting. */
    free(ctl(&h, 64, NULL, (const char *const[]){"--socket", h.socket, "frobnicate", NULL}));
    free(ctl(&h, 64, NULL, (const char *const[]){"--socket", h.socket, "session", NULL}));
    free(ctl(&h, 64, NULL,
             (const char *const[]){"--socket", h.socket, "retry", "--file", "a", "--all-failed",
                                   NULL}));
    free(ctl(&h, 64, NULL,
             (const char *const[]){"--socket", h.socket, "status", "extra", NULL}));
    /* watch --json: the event lines exactly as sent, then the daemon goes away: 69. */
    out = ctl(&h, 69, &err,
              (const char *const[]){"--socket", h.socket, "watch", "--json", "--once", NULL});
    ASSERT_CONTAINS(out, "\"event\":\"queue_state\"");
    ASSERT_CONTAINS(out, "\"data\":{\"id\":7,\"type\":\"flat\",\"path\":\"/m/F.fits\"}}\n");
    ASSERT_EQ(strchr(out, '\n') - out + 1 < (long)strlen(out), 1); /* two lines */
    ASSERT_CONTAINS(err, "astrocald closed the connection");
    free(out);
    free(err);
    /* Nobody listening now: 69 and the hint. */
    out = ctl(&h, 69, &err, (const char *const[]){"--socket", h.socket, "status", NULL});
    snprintf(want, sizeof want,
             "astrocalctl: cannot connect to %s: No such file or directory \xE2\x80\x94 is "
             "astrocald running?\n",
             h.socket);
    ASSERT_STR_EQ(err, want);
    free(out);
    free(err);

    srv_thread_stop(&fk.st);
    json_decref(canned);
    free(canned_line);
    ac_harness_free(&h);
}

TEST(astrocalctl_per_command_help_and_option_errors)
{
    ac_harness_t h;
    char *out, *err;

    ac_harness_init(&h);
    /* help CMD and CMD --help print that command's own usage and options, on stdout. */
    out = ctl(&h, 0, NULL, (const char *const[]){"help", "enqueue", NULL});
    ASSERT_CONTAINS(out, "usage: astrocalctl [--socket PATH] [--json] [--timeout S] enqueue "
                         "SESSION [--priority N]\n");
    ASSERT_CONTAINS(out, "  --priority N      queue priority");
    ASSERT(strstr(out, "sessions") == NULL); /* not the global list */
    free(out);
    out = ctl(&h, 0, NULL, (const char *const[]){"retry", "--help", NULL});
    ASSERT_CONTAINS(out, "retry --file ID | --session ID | --all-failed | --uploads\n");
    ASSERT_CONTAINS(out, "  --all-failed      every failed file\n");
    free(out);
    out = ctl(&h, 0, NULL, (const char *const[]){"watch", "-h", NULL});
    ASSERT_CONTAINS(out, "  --once            exit when the daemon goes away\n");
    free(out);
    out = ctl(&h, 0, NULL, (const char *const[]){"help", NULL});
    ASSERT_CONTAINS(out, "\ncommands:\n  status  ");
    ASSERT_CONTAINS(out, "astrocalctl help COMMAND (or COMMAND --help) shows one command's");
    free(out);
    /* Options that do not exist are "unknown option", before or after the command. */
    out = ctl(&h, 64, &err, (const char *const[]){"--bogus", NULL});
    ASSERT_STR_EQ(out, "");
    ASSERT_CONTAINS(err, "astrocalctl: unknown option '--bogus'\n");
    free(out);
    free(err);
    out = ctl(&h, 64, &err, (const char *const[]){"enqueue", "s1", "--prio=3", NULL});
    ASSERT_CONTAINS(err, "astrocalctl: enqueue: unknown option '--prio'\n"
                         "(see astrocalctl help enqueue)\n");
    free(out);
    free(err);
    /* With --json every error is one JSON object on stdout with a stable code. */
    out = ctl(&h, 64, NULL, (const char *const[]){"--json", "--bogus", NULL});
    ASSERT_STR_EQ(out, "{\"error\":{\"code\":\"usage\",\"message\":\"unknown option "
                       "'--bogus'\"}}\n");
    free(out);
    out = ctl(&h, 64, NULL, (const char *const[]){"frobnicate", "--json", NULL});
    ASSERT_STR_EQ(out, "{\"error\":{\"code\":\"unknown_command\",\"message\":\"unknown command "
                       "'frobnicate'\"}}\n");
    free(out);
    out = ctl(&h, 64, NULL, (const char *const[]){"--json", "cancel", NULL});
    ASSERT_STR_EQ(out, "{\"error\":{\"code\":\"usage\",\"message\":\"cancel takes exactly "
                       "one of SESSION, --file ID, --all\"}}\n");
    free(out);
    out = ctl(
        &h, 69, NULL,
        (const char *const[]){"--json", "--socket", "/nonexistent/ac.sock", "status", NULL});
    ASSERT_CONTAINS(out, "{\"error\":{\"code\":\"unavailable\",\"message\":\"cannot connect to "
                         "/nonexistent/ac.sock: No such file or directory");
    free(out);
    ac_harness_free(&h);
}

TEST(print_history_lines_and_more)
{
    /* One line per event: time to the second, kind, file name (from detail.path, else the
     * file id, "-" for the session's own events), message. */
    expect(ac_print_history,
           "{\"id\":\"S1\",\"more\":true,\"events\":["
           "{\"id\":1,\"at\":\"2026-12-07 10:00:01.123456\",\"kind\":\"session_planned\","
           "\"session_id\":\"S1\",\"file_id\":null,\"message\":null,"
           "\"detail\":{\"state\":\"queued\"}},"
           "{\"id\":2,\"at\":\"2026-12-07 10:00:02.000000\",\"kind\":\"attempt\","
           "\"session_id\":\"S1\",\"file_id\":\"F1\",\"message\":\"attempt 1\","
           "\"detail\":{\"path\":\"/data/m31_001.fits\"}},"
           "{\"id\":3,\"at\":\"2026-12-07 10:00:03.000000\",\"kind\":\"failed\","
           "\"session_id\":\"S1\",\"file_id\":\"F2\",\"message\":\"not a FITS file\","
           "\"detail\":null}]}",
           "(older events left out: --limit N shows more)\n"
           "2026-12-07 10:00:01  session_planned  -                             queued\n"
           "2026-12-07 10:00:02  attempt          m31_001.fits                  attempt 1\n"
           "2026-12-07 10:00:03  failed           F2                            not a FITS "
           "file\n");
    expect(ac_print_history, "{\"id\":\"X\",\"more\":false,\"events\":[]}",
           "no history for X\n");
}

/* ---- grading (ctl/print_grade.c and the grading columns of print.c) ---- */
