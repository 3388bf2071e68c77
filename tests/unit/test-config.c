/*
 * test-config.c - astrocald.conf: defaults, every value type, every error path (each must
 * name its line), comments and quoting, reload rules, printing, the sample astrocald.conf
 * and docs/configuration.md (both must mention every key).
 *
 * Expected values are written out by hand from the design note, never taken from the
 * table under test.
 */
#include "conffile.h"
#include "config.h"
#include "log.h"
#include "test.h"

#include <errno.h>
#include <stdint.h>

/* parse is ac_config_parse on a C string named "test.conf". */
static int parse(struct ac_config *c, const char *text, ac_err_t *e)
{
    ac_err_clear(e);
    return ac_config_parse(c, text, strlen(text), "test.conf", e);
}

/* read_file returns the whole file at srcdir/rel (owned, free()). */
static char *read_file(const char *rel)
{
    char path[4096];
    FILE *f;
    char *buf;
    size_t n;

    snprintf(path, sizeof path, "%s/%s", ac_test_srcdir(), rel);
    f = fopen(path, "rb");
    if (f == NULL)
        AC_TEST_FAIL("cannot open %s", path);
    buf = malloc(1 << 20);
    ASSERT_NOT_NULL(buf);
    n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

TEST(config_defaults_are_the_documented_ones)
{
    struct ac_config c;

    memset(&c, 0x5a, sizeof c);
    ac_config_default(&c);
    ASSERT(c.enable_light_calibration);
    ASSERT_STR_EQ(c.calibration_output_suffix, "_calibrated");
    ASSERT(c.preserve_original_files);
    ASSERT(!c.auto_calibrate_on_master_creation);
    ASSERT(c.calibration_quality_check);
    ASSERT_NEAR(c.max_temperature_difference, 5.0, 0);
    ASSERT_STR_EQ(c.database, "/var/lib/astrocald/astrofiler.db");
    ASSERT_STR_EQ(c.socket, "/run/astrocald/astrocald.sock");
    ASSERT_EQ(c.socket_mode, 432); /* 0660 = 6*64 + 6*8 */
    ASSERT_STR_EQ(c.state_dir, "/var/lib/astrocald");
    ASSERT_STR_EQ(c.output_dir, "");
    ASSERT_STR_EQ(c.repository_dir, "");
    ASSERT_EQ(c.log_level, 6); /* syslog LOG_INFO */
    ASSERT_EQ(c.watch_interval_ms, 1000);
    ASSERT_EQ(c.scan_interval_s, 60);
    ASSERT_EQ(c.drain_timeout_s, 60);
    ASSERT_EQ(c.workers, 2);
    ASSERT_EQ(c.max_in_flight, 0);
    ASSERT_EQ(c.memory_budget_mib, 2048);
    ASSERT_EQ(c.job_memory_mib, 32);
    ASSERT_NEAR(c.max_load_per_cpu, 1.5, 0);
    ASSERT_NEAR(c.cpu_pressure_limit, 50.0, 0);
    ASSERT_EQ(c.nice, 10);
    ASSERT_EQ(c.io_class, AC_IO_IDLE);
    ASSERT_EQ(c.free_disk_reserve_mib, 1024);
    ASSERT_EQ(c.pedestal.mode, AC_PEDESTAL_NONE);
    ASSERT(!c.dark_optimize);
    ASSERT_NEAR(c.dark_max_scale, 2.0, 0);
    ASSERT_EQ(c.dark_has_bias, AC_TRI_AUTO);
    ASSERT_EQ(c.flat_calibrated, AC_TRI_AUTO);
    ASSERT_NEAR(c.flat_floor, 0.05, 0);
    ASSERT(!c.cosmetic);
    ASSERT_NEAR(c.cosmetic_sigma, 5.0, 0);
    ASSERT(!c.compress);
    ASSERT_NEAR(c.quantize, 16.0, 0);
    ASSERT_EQ(c.required_masters, AC_NEED_DARK | AC_NEED_FLAT);
    ASSERT_NEAR(c.exposure_tolerance_s, 0.5, 0);
    ASSERT_NEAR(c.exposure_tolerance_pct, 1.0, 0);
    ASSERT(c.allow_later_masters);
    ASSERT_EQ(c.max_master_age_days, 0);
    ASSERT_NEAR(c.site_utc_offset_h, 0.0, 0);
    ASSERT_EQ(c.order, AC_ORDER_NEWEST_FIRST);
    ASSERT_EQ(c.max_attempts, 3);
    ASSERT_EQ(c.retry_backoff_s, 30);
}

TEST(config_table_is_consistent)
{
    static const char *const want_sections[] = {
        "AUTO_CALIBRATION", "DAEMON",  "WORKERS", "CALIBRATION", "MATCHING", "QUEUE",
        "INGEST",           "MASTERS", "METRICS", "NOTIFY",      "CLOUD",    "QUALITY"};
    /* Key count per section, from the design notes (issues 3 and 4; issue 8 adds
     * socket_idle_timeout_s, reader_group and admin_group to [DAEMON]; issue 9
     * type_from_path to [INGEST]; issue 10 [NOTIFY]; issue 14 [CLOUD]; issue 11 the nine
     * [QUALITY] keys). */
    static const int want_count[] = {6, 15, 9, 11, 5, 5, 4, 12, 2, 4, 12, 9};
    const char *const *sec = ac_config_sections();
    struct ac_config c;
    char text[AC_CONFIG_TEXT_MAX];
    size_t n;
    const ac_config_entry_t *t = ac_config_table(&n);
    int count[12] = {0};
    int last = 0;

    ASSERT_EQ(n, 94);
    for (int s = 0; s < 12; s++)
        ASSERT_STR_EQ(sec[s], want_sections[s]);
    ASSERT_NULL(sec[12]);
    ac_config_default(&c);
    for (size_t i = 0; i < n; i++) {
        int s;

        for (s = 0; s < 12; s++)
            if (strcmp(t[i].section, want_sections[s]) == 0)
                break;
        ASSERT(s < 12);
        ASSERT(s >= last); /* grouped by section, in file order */
        last = s;
        count[s]++;
        for (size_t j = 0; j < i; j++)
            if (strcmp(t[i].key, t[j].key) == 0)
                AC_TEST_FAIL("key %s appears twice", t[i].key);
        ASSERT(strlen(t[i].help) > 10);
        ASSERT(ac_config_find(t[i].section, t[i].key) == &t[i]);
        ASSERT(ac_config_find(NULL, t[i].key) == &t[i]);
        /* The default is written canonically, as ac_config_get_text prints it. */
        ASSERT_OK(ac_config_get_text(&c, &t[i], text, sizeof text));
        ASSERT_STR_EQ(text, t[i].def);
    }
    for (int s = 0; s < 12; s++)
        ASSERT_EQ(count[s], want_count[s]);
    ASSERT_STR_EQ(ac_config_type_name(AC_CFG_BOOL), "boolean");
    ASSERT_STR_EQ(ac_config_type_name(AC_CFG_LIST), "list");
    ASSERT_STR_EQ(ac_config_type_name(99), "?");
    ASSERT_NULL(ac_config_find("DAEMON", "workers"));
    ASSERT_NULL(ac_config_find(NULL, "worker"));
}

TEST(config_reloadable_flags_follow_the_design)
{
    static const char *const immutable[] = {
        "database", "socket", "socket_mode", "state_dir", "workers", "nice", "io_class",
        "watch_dirs", "settle_s", "rescan_interval_s",
        /* [CLOUD]: the uploader is started, and its remote fixed, at start-up. */
        "enabled", "remote", "url_prefix", "rclone_config", "rclone_program", "cache_dir"};
    size_t n;
    const ac_config_entry_t *t = ac_config_table(&n);

    for (size_t i = 0; i < n; i++) {
        bool want = true;

        for (size_t j = 0; j < sizeof immutable / sizeof immutable[0]; j++)
            if (strcmp(t[i].key, immutable[j]) == 0)
                want = false;
        if (t[i].reloadable != want)
            AC_TEST_FAIL("%s: reloadable is %d, expected %d", t[i].key, t[i].reloadable, want);
    }
}

TEST(config_parse_every_type)
{
    struct ac_config c;
    ac_err_t e = {0};
    const char *text = "[AUTO_CALIBRATION]\n"
                       "enable_light_calibration = False\n"
                       "calibration_output_suffix = _cal\n"
                       "max_temperature_difference = 2.5\n"
                       "[DAEMON]\n"
                       "database = /data/af.db\n"
                       "socket = /tmp/a.sock\n"
                       "socket_mode = 0600\n"
                       "output_dir = /out dir/x\n"
                       "log_level = DEBUG\n"
                       "watch_interval_ms = 250\n"
                       "[WORKERS]\n"
                       "workers = 64\n"
                       "memory_budget_mib = 3 GiB\n"
                       "job_memory_mib = 64M\n"
                       "free_disk_reserve_mib = 0\n"
                       "max_load_per_cpu = 0\n"
                       "io_class = best-effort\n"
                       "[CALIBRATION]\n"
                       "pedestal = 100.5\n"
                       "dark_has_bias = no\n"
                       "flat_calibrated = yes\n"
                       "flat_floor = 0.5\n"
                       "quantize = 4\n"
                       "required_masters = flat , bias\n"
                       "[MATCHING]\n"
                       "site_utc_offset_h = -5.5\n"
                       "[QUEUE]\n"
                       "order = oldest_first\n"
                       "max_attempts = +7\n";

    ASSERT_OK(parse(&c, text, &e));
    ASSERT(!c.enable_light_calibration);
    ASSERT(c.preserve_original_files); /* untouched keys keep their default */
    ASSERT_STR_EQ(c.calibration_output_suffix, "_cal");
    ASSERT_NEAR(c.max_temperature_difference, 2.5, 0);
    ASSERT_STR_EQ(c.database, "/data/af.db");
    ASSERT_STR_EQ(c.socket, "/tmp/a.sock");
    ASSERT_EQ(c.socket_mode, 384); /* 0600 */
    ASSERT_STR_EQ(c.output_dir, "/out dir/x");
    ASSERT_EQ(c.log_level, AC_LOG_DEBUG);
    ASSERT_EQ(c.watch_interval_ms, 250);
    ASSERT_EQ(c.workers, 64);
    ASSERT_EQ(c.memory_budget_mib, 3072);
    ASSERT_EQ(c.job_memory_mib, 64);
    ASSERT_EQ(c.free_disk_reserve_mib, 0);
    ASSERT_NEAR(c.max_load_per_cpu, 0, 0);
    ASSERT_EQ(c.io_class, AC_IO_BEST_EFFORT);
    ASSERT_EQ(c.pedestal.mode, AC_PEDESTAL_FIXED);
    ASSERT_NEAR(c.pedestal.adu, 100.5, 0);
    ASSERT_EQ(c.dark_has_bias, AC_TRI_NO);
    ASSERT_EQ(c.flat_calibrated, AC_TRI_YES);
    ASSERT_NEAR(c.flat_floor, 0.5, 0);
    ASSERT_NEAR(c.quantize, 4.0, 0);
    ASSERT_EQ(c.required_masters, AC_NEED_BIAS | AC_NEED_FLAT);
    ASSERT_NEAR(c.site_utc_offset_h, -5.5, 0);
    ASSERT_EQ(c.order, AC_ORDER_OLDEST_FIRST);
    ASSERT_EQ(c.max_attempts, 7);

    ASSERT_OK(parse(&c, "[CALIBRATION]\npedestal = auto\n", &e));
    ASSERT_EQ(c.pedestal.mode, AC_PEDESTAL_AUTO);
    ASSERT_OK(parse(&c, "[DAEMON]\nsocket_mode = 755\n", &e));
    ASSERT_EQ(c.socket_mode, 493); /* 0755 */
    ASSERT_OK(parse(&c, "[WORKERS]\nmemory_budget_mib = 2g\n", &e));
    ASSERT_EQ(c.memory_budget_mib, 2048);
}

TEST(config_booleans_in_every_spelling)
{
    static const char *const yes[] = {"True", "true", "TRUE", "yes", "on", "1", "Yes", "ON"};
    static const char *const no[] = {"False", "false", "FALSE", "no", "off", "0", "No", "Off"};
    struct ac_config c;
    ac_err_t e = {0};
    char text[128];

    for (size_t i = 0; i < 8; i++) {
        snprintf(text, sizeof text, "[CALIBRATION]\ncosmetic = %s\ncompress=%s\n", yes[i],
                 no[i]);
        ASSERT_OK(parse(&c, text, &e));
        ASSERT(c.cosmetic);
        ASSERT(!c.compress);
    }
}

TEST(config_astrofiler_style_section)
{
    /* As AstroFiler's settings dialog writes it (Python's configparser). */
    const char *text = "[AUTO_CALIBRATION]\n"
                       "enable_light_calibration = False\n"
                       "calibration_output_suffix = _cal\n"
                       "preserve_original_files = False\n"
                       "auto_calibrate_on_master_creation = True\n"
                       "calibration_quality_check = False\n"
                       "max_temperature_difference = 3.0\n"
                       "\n";
    struct ac_config c;
    ac_err_t e = {0};

    ASSERT_OK(parse(&c, text, &e));
    ASSERT(!c.enable_light_calibration);
    ASSERT(!c.preserve_original_files);
    ASSERT(c.auto_calibrate_on_master_creation);
    ASSERT(!c.calibration_quality_check);
    ASSERT_NEAR(c.max_temperature_difference, 3.0, 0);
    ASSERT_STR_EQ(c.calibration_output_suffix, "_cal");
    ASSERT_EQ(c.workers, 2);
}

TEST(config_comments_blanks_quotes_and_line_ends)
{
    const char *text = "\xEF\xBB\xBF# leading comment\r\n"
                       "; another\r\n"
                       "\r\n"
                       "   [DAEMON]   \r\n"
                       "  # indented comment\r\n"
                       "output_dir = /data/#2;x   \r\n"
                       "repository_dir=\"  /repo  \"\r\n"
                       "state_dir = \"\"\"/q\"\"\"\n"
                       "\t\n"
                       "[CALIBRATION]\n"
                       "required_masters=dark";
    struct ac_config c;
    ac_err_t e = {0};

    ASSERT_OK(parse(&c, text, &e));
    ASSERT_STR_EQ(c.output_dir, "/data/#2;x");
    ASSERT_STR_EQ(c.repository_dir, "  /repo  ");
    ASSERT_STR_EQ(c.state_dir, "\"\"/q\"\"");
    ASSERT_EQ(c.required_masters, AC_NEED_DARK);
    ASSERT_OK(parse(&c, "", &e));
    ASSERT_EQ(c.workers, 2);
    ASSERT_OK(ac_config_parse(&c, NULL, 0, NULL, &e));
    ASSERT_EQ(c.workers, 2);
    /* An empty value and "" both give the empty string. */
    ASSERT_OK(parse(&c, "[DAEMON]\noutput_dir =\nrepository_dir = \"\"\n", &e));
    ASSERT_STR_EQ(c.output_dir, "");
    ASSERT_STR_EQ(c.repository_dir, "");
}

/* expect_error parses text and checks the code and the whole message. */
static void expect_error(const char *text, const char *message)
{
    struct ac_config c;
    ac_err_t e = {0};
    int rc = parse(&c, text, &e);

    if (rc != AC_ECONFIG)
        AC_TEST_FAIL("parse of \"%s\" returned %d, expected AC_ECONFIG", text, rc);
    if (strcmp(e.msg, message) != 0)
        AC_TEST_FAIL("for \"%s\":\n got      \"%s\"\n expected \"%s\"", text, e.msg, message);
}

TEST(config_value_errors_name_the_line)
{
    expect_error("# c\n[WORKERS]\n\nworkers = many\n",
                 "test.conf:4: workers: expected a whole number from 1 to 64, got 'many'");
    expect_error("[WORKERS]\nworkers = 65\n",
                 "test.conf:2: workers: expected a whole number from 1 to 64, got '65'");
    expect_error("[WORKERS]\nworkers = 2.0\n",
                 "test.conf:2: workers: expected a whole number from 1 to 64, got '2.0'");
    /* Comments start only at the beginning of a line. */
    expect_error("[WORKERS]\nworkers = 4 # four\n",
                 "test.conf:2: workers: expected a whole number from 1 to 64, got '4 # four'");
    expect_error("[CALIBRATION]\ncosmetic = maybe\n",
                 "test.conf:2: cosmetic: expected True or False (or true/false, yes/no, "
                 "on/off, 1/0), got 'maybe'");
    expect_error("[AUTO_CALIBRATION]\nmax_temperature_difference = hot\n",
                 "test.conf:2: max_temperature_difference: expected a number from 0 to 100, "
                 "got 'hot'");
    expect_error("[AUTO_CALIBRATION]\nmax_temperature_difference = 101\n",
                 "test.conf:2: max_temperature_difference: expected a number from 0 to 100, "
                 "got '101'");
    expect_error("[AUTO_CALIBRATION]\nmax_temperature_difference = nan\n",
                 "test.conf:2: max_temperature_difference: expected a number from 0 to 100, "
                 "got 'nan'");
    expect_error(
        "[CALIBRATION]\nflat_floor = 0\n",
        "test.conf:2: flat_floor: expected a number above 0 and at most 0.999, got '0'");
    expect_error("[DAEMON]\nlog_level = loud\n",
                 "test.conf:2: log_level: expected one of err, warning, notice, info, debug, "
                 "got 'loud'");
    expect_error("[WORKERS]\nmemory_budget_mib = 10\n",
                 "test.conf:2: memory_budget_mib: expected a size in MiB from 64 to 1048576 "
                 "(or with a G suffix), got '10'");
    expect_error("[WORKERS]\njob_memory_mib = 4T\n",
                 "test.conf:2: job_memory_mib: expected a size in MiB from 4 to 4096 (or with "
                 "a G suffix), got '4T'");
    expect_error("[DAEMON]\nsocket_mode = 0888\n",
                 "test.conf:2: socket_mode: expected an octal mode from 0000 to 0777, like "
                 "0660, got '0888'");
    expect_error("[DAEMON]\nsocket_mode = 01777\n",
                 "test.conf:2: socket_mode: expected an octal mode from 0000 to 0777, like "
                 "0660, got '01777'");
    expect_error("[CALIBRATION]\npedestal = -5\n",
                 "test.conf:2: pedestal: expected none, auto or a number of ADU from 0 to "
                 "1000000, got '-5'");
    expect_error("[CALIBRATION]\nrequired_masters = dark,darkflat\n",
                 "test.conf:2: required_masters: expected a comma-separated list of one or "
                 "more of bias, dark, flat, got 'dark,darkflat'");
    expect_error("[CALIBRATION]\nrequired_masters =\n",
                 "test.conf:2: required_masters: expected a comma-separated list of one or "
                 "more of bias, dark, flat, got ''");
    expect_error("[CALIBRATION]\nrequired_masters = dark,,flat\n",
                 "test.conf:2: required_masters: expected a comma-separated list of one or "
                 "more of bias, dark, flat, got 'dark,,flat'");
    expect_error("[AUTO_CALIBRATION]\ncalibration_output_suffix = a/b\n",
                 "test.conf:2: calibration_output_suffix: expected a file name suffix without "
                 "'/', got 'a/b'");
    expect_error("[AUTO_CALIBRATION]\ncalibration_output_suffix =\n",
                 "test.conf:2: calibration_output_suffix: must not be empty");
    expect_error("[DAEMON]\nstate_dir = \"\"\n", "test.conf:2: state_dir: must not be empty");
}

TEST(config_long_values_and_cross_checks_name_the_line)
{
    char text[512];

    snprintf(text, sizeof text, "[DAEMON]\nsocket = /%0120d\n", 0);
    expect_error(text, "test.conf:2: socket: expected at most 107 bytes, got 121 bytes");
    expect_error("[WORKERS]\nmemory_budget_mib = 1024\n\njob_memory_mib = 2048\n",
                 "test.conf:4: job_memory_mib (2048) must not exceed memory_budget_mib (1024)");
    expect_error("[WORKERS]\njob_memory_mib = 4096\n",
                 "test.conf:2: job_memory_mib (4096) must not exceed memory_budget_mib (2048)");
}

TEST(config_structure_errors_name_the_line)
{
    expect_error("[WORKERS]\nworker = 2\n",
                 "test.conf:2: unknown key 'worker' in [WORKERS] (did you mean 'workers'?)");
    expect_error("[WORKERS]\nWorkers = 2\n",
                 "test.conf:2: unknown key 'Workers' in [WORKERS] (did you mean 'workers'?)");
    expect_error("[DAEMON]\nworkers = 2\n",
                 "test.conf:2: unknown key 'workers' in [DAEMON] (it belongs in [WORKERS])");
    expect_error("[DAEMON]\nworkerz = 2\n", "test.conf:2: unknown key 'workerz' in [DAEMON] "
                                            "(did you mean 'workers' in [WORKERS]?)");
    expect_error("[QUEUE]\nbanana = 2\n", "test.conf:2: unknown key 'banana' in [QUEUE]");
    expect_error("[DEAMON]\n",
                 "test.conf:1: unknown section [DEAMON] (did you mean [DAEMON]?)");
    expect_error("\n[daemon]\n",
                 "test.conf:2: unknown section [daemon] (did you mean [DAEMON]?)");
    expect_error("[PLUGINS]\n", "test.conf:1: unknown section [PLUGINS] (expected "
                                "AUTO_CALIBRATION, DAEMON, WORKERS, CALIBRATION, MATCHING, "
                                "QUEUE, INGEST, MASTERS, METRICS, NOTIFY, CLOUD or QUALITY)");
    expect_error("workers = 2\n",
                 "test.conf:1: key 'workers' outside any section (it belongs in [WORKERS])");
    expect_error("# x\nfoo = 2\n", "test.conf:2: key 'foo' outside any section (start one "
                                   "with a [SECTION] header)");
    expect_error("[WORKERS]\nworkers 4\n",
                 "test.conf:2: expected 'key = value', '[SECTION]' or "
                 "a comment, got 'workers 4'");
    expect_error("[WORKERS]\nworkers: 4\n", "test.conf:2: expected 'key = value', '[SECTION]' "
                                            "or a comment, got 'workers: 4'");
    expect_error("[WORKERS]\n = 4\n", "test.conf:2: missing key name before '='");
    expect_error("[DAEMON\nsocket = /a\n",
                 "test.conf:1: unterminated section header '[DAEMON' (missing ']')");
    expect_error("[DAEMON] x\n", "test.conf:1: unexpected text 'x' after the section header");
    expect_error("[WORKERS]\nworkers = 2\nnice = 5\nworkers = 3\n",
                 "test.conf:4: duplicate key 'workers' in [WORKERS] (first set on line 2)");
    expect_error("[DAEMON]\n[WORKERS]\n[DAEMON]\n",
                 "test.conf:3: duplicate section [DAEMON] (first on line 1)");
    /* An empty [SECTION] name is simply an unknown section. */
    expect_error("[]\n", "test.conf:1: unknown section [] (expected AUTO_CALIBRATION, DAEMON, "
                         "WORKERS, CALIBRATION, MATCHING, QUEUE, INGEST, MASTERS, METRICS, "
                         "NOTIFY, CLOUD or QUALITY)");
}

TEST(config_nul_byte_and_long_line)
{
    struct ac_config c;
    ac_err_t e = {0};
    static const char text[] = "[WORKERS]\nworkers = 2\0\n";
    char *big = malloc(10000);

    ASSERT_EQ(ac_config_parse(&c, text, sizeof text - 1, "n.conf", &e), AC_ECONFIG);
    ASSERT_STR_EQ(e.msg, "n.conf:2: NUL byte in the line");
    ASSERT_NOT_NULL(big);
    memset(big, 'x', 9999);
    memcpy(big, "[DAEMON]\n#", 10);
    big[9999] = '\0';
    ac_err_clear(&e);
    ASSERT_EQ(ac_config_parse(&c, big, strlen(big), "n.conf", &e), AC_ECONFIG);
    ASSERT_STR_EQ(e.msg, "n.conf:2: line longer than 8191 bytes");
    free(big);
}

TEST(config_failed_parse_leaves_config_unchanged)
{
    struct ac_config c, before;
    ac_err_t e = {0};

    ac_config_default(&c);
    c.workers = 7;
    strcpy(c.database, "/keep.db");
    before = c;
    ASSERT_EQ(parse(&c, "[WORKERS]\nworkers = 3\nnice = 99\n", &e), AC_ECONFIG);
    ASSERT_EQ(c.workers, 7);
    ASSERT_STR_EQ(c.database, "/keep.db");
    ASSERT(memcmp(&c, &before, sizeof c) == 0);
    /* A successful parse starts from the defaults, not from *c. */
    ASSERT_OK(parse(&c, "[WORKERS]\nnice = 5\n", &e));
    ASSERT_EQ(c.workers, 2);
    ASSERT_STR_EQ(c.database, "/var/lib/astrocald/astrofiler.db");
}

TEST(config_set_text_validates)
{
    struct ac_config c;
    ac_err_t e = {0};
    const ac_config_entry_t *w = ac_config_find("WORKERS", "workers");

    ac_config_default(&c);
    ASSERT_NOT_NULL(w);
    ASSERT_OK(ac_config_set_text(&c, w, "8", &e));
    ASSERT_EQ(c.workers, 8);
    ASSERT_EQ(ac_config_set_text(&c, w, "0", &e), AC_ECONFIG);
    ASSERT_STR_EQ(e.msg, "workers: expected a whole number from 1 to 64, got '0'");
    ASSERT_EQ(c.workers, 8);
}

/* get_text returns the text of key in c (in buf), failing the test on error. */
static const char *get_text(const struct ac_config *c, const char *key, char *buf, size_t size)
{
    const ac_config_entry_t *en = ac_config_find(NULL, key);

    ASSERT_NOT_NULL(en);
    ASSERT_OK(ac_config_get_text(c, en, buf, size));
    return buf;
}

TEST(config_get_text_formats)
{
    struct ac_config c;
    ac_err_t e = {0};
    char buf[AC_CONFIG_TEXT_MAX];
    char small[4];

#define GET(key) get_text(&c, key, buf, sizeof buf)
    ASSERT_OK(parse(&c,
                    "[DAEMON]\nsocket_mode = 640\noutput_dir = \" x\"\nlog_level = Warning\n"
                    "[CALIBRATION]\npedestal = 12.5\nrequired_masters = flat,dark,bias\n"
                    "flat_floor = 0.1\ncosmetic_sigma = 3\n[WORKERS]\nmemory_budget_mib = 1G\n",
                    &e));
    ASSERT_STR_EQ(GET("enable_light_calibration"), "True");
    ASSERT_STR_EQ(GET("compress"), "False");
    ASSERT_STR_EQ(GET("socket_mode"), "0640");
    ASSERT_STR_EQ(GET("output_dir"), "\" x\"");
    ASSERT_STR_EQ(GET("repository_dir"), "\"\"");
    ASSERT_STR_EQ(GET("database"), "/var/lib/astrocald/astrofiler.db");
    ASSERT_STR_EQ(GET("log_level"), "warning");
    ASSERT_STR_EQ(GET("pedestal"), "12.5");
    ASSERT_STR_EQ(GET("required_masters"), "bias,dark,flat");
    ASSERT_STR_EQ(GET("flat_floor"), "0.1");
    ASSERT_STR_EQ(GET("cosmetic_sigma"), "3.0");
    ASSERT_STR_EQ(GET("memory_budget_mib"), "1024");
    ASSERT_STR_EQ(GET("max_temperature_difference"), "5.0");
    ASSERT_STR_EQ(GET("dark_has_bias"), "auto");
    ASSERT_STR_EQ(GET("workers"), "2");
#undef GET
    ASSERT_EQ(ac_config_get_text(&c, ac_config_find(NULL, "database"), small, sizeof small),
              -ERANGE);
    ASSERT_EQ(strlen(small), 3);
}

TEST(config_dump_reads_back_the_same)
{
    struct ac_config c, back;
    ac_err_t e = {0};
    size_t n;
    const ac_config_entry_t *t = ac_config_table(&n);
    FILE *f;

    ASSERT_OK(parse(&c,
                    "[AUTO_CALIBRATION]\nmax_temperature_difference = 0.1\n"
                    "[DAEMON]\nrepository_dir = \"\"x\"\"\nsocket_mode = 0\n"
                    "[CALIBRATION]\npedestal = auto\nquantize = 0.75\n"
                    "[MATCHING]\nsite_utc_offset_h = 5.75\n",
                    &e));
    ASSERT_STR_EQ(c.repository_dir, "\"x\"");
    f = fopen("dump.conf", "w");
    ASSERT_NOT_NULL(f);
    ASSERT_OK(ac_config_dump(&c, f));
    fclose(f);
    ASSERT_OK(ac_config_load(&back, "dump.conf", &e));
    for (size_t i = 0; i < n; i++)
        if (!ac_config_equal(&c, &back, &t[i]))
            AC_TEST_FAIL("%s differs after dump and load", t[i].key);
    ASSERT_STR_EQ(back.repository_dir, "\"x\"");
    ASSERT_NEAR(back.site_utc_offset_h, 5.75, 0);
}

TEST(config_reload_copies_only_reloadable_keys)
{
    struct ac_config live, fresh;
    ac_err_t e = {0};
    char changed[256], ignored[256];

    ac_config_default(&live);
    ASSERT_OK(parse(&fresh,
                    "[DAEMON]\ndatabase = /other.db\noutput_dir = /out\nlog_level = debug\n"
                    "[WORKERS]\nworkers = 4\n[QUEUE]\nmax_attempts = 5\n",
                    &e));
    ASSERT_EQ(
        ac_config_apply_reload(&live, &fresh, changed, sizeof changed, ignored, sizeof ignored),
        3);
    ASSERT_STR_EQ(changed, "output_dir, log_level, max_attempts");
    ASSERT_STR_EQ(ignored, "database, workers");
    ASSERT_STR_EQ(live.output_dir, "/out");
    ASSERT_EQ(live.log_level, AC_LOG_DEBUG);
    ASSERT_EQ(live.max_attempts, 5);
    ASSERT_EQ(live.workers, 2);
    ASSERT_STR_EQ(live.database, "/var/lib/astrocald/astrofiler.db");
    /* Applying the same file again changes nothing but still reports the ignored keys. */
    ASSERT_EQ(
        ac_config_apply_reload(&live, &fresh, changed, sizeof changed, ignored, sizeof ignored),
        0);
    ASSERT_STR_EQ(changed, "");
    ASSERT_STR_EQ(ignored, "database, workers");
    /* NULL lists are allowed. */
    ASSERT_OK(parse(&fresh, "[CALIBRATION]\npedestal = 7\n", &e));
    ASSERT_EQ(ac_config_apply_reload(&live, &fresh, NULL, 0, NULL, 0), 4);
    ASSERT_EQ(live.pedestal.mode, AC_PEDESTAL_FIXED);
    ASSERT_NEAR(live.pedestal.adu, 7, 0);
    ASSERT_STR_EQ(live.output_dir, "");
}

TEST(config_reload_lists_are_cut_with_ellipsis)
{
    struct ac_config live, fresh;
    ac_err_t e = {0};
    char changed[24], ignored[8];

    ac_config_default(&live);
    ASSERT_OK(parse(&fresh,
                    "[DAEMON]\nlog_level = err\nscan_interval_s = 5\ndrain_timeout_s = 5\n"
                    "socket_mode = 0600\nsocket = /x\n[WORKERS]\nnice = 0\n",
                    &e));
    ASSERT_EQ(
        ac_config_apply_reload(&live, &fresh, changed, sizeof changed, ignored, sizeof ignored),
        3);
    /* "log_level, scan_interval_s" does not fit in 23 bytes. */
    ASSERT_STR_EQ(changed, "log_level...");
    ASSERT_STR_EQ(ignored, "sock...");
    ASSERT_EQ(live.drain_timeout_s, 5);
}

TEST(config_load_reports_file_errors)
{
    struct ac_config c;
    ac_err_t e = {0};
    FILE *f;

    ASSERT_EQ(ac_config_load(&c, "missing.conf", &e), -ENOENT);
    ASSERT_STR_EQ(e.msg, "missing.conf: cannot read: No such file or directory");
    ac_err_clear(&e);
    ASSERT_EQ(ac_config_load(&c, ".", &e), -EISDIR);
    ASSERT_CONTAINS(e.msg, ".: cannot read: ");
    f = fopen("bad.conf", "w");
    ASSERT_NOT_NULL(f);
    fputs("[WORKERS]\n\nnice = 20\n", f);
    fclose(f);
    ac_err_clear(&e);
    ASSERT_EQ(ac_config_load(&c, "bad.conf", &e), AC_ECONFIG);
    ASSERT_STR_EQ(e.msg, "bad.conf:3: nice: expected a whole number from 0 to 19, got '20'");
}

TEST(config_to_calib_opts)
{
    struct ac_config c;
    ac_calib_opts_t o;
    ac_err_t e = {0};

    ASSERT_OK(parse(&c,
                    "[AUTO_CALIBRATION]\nmax_temperature_difference = 3.5\n"
                    "[CALIBRATION]\npedestal = 50\ndark_optimize = yes\ndark_max_scale = 4\n"
                    "dark_has_bias = yes\nflat_calibrated = no\nflat_floor = 0.2\n"
                    "cosmetic = on\ncosmetic_sigma = 7\n",
                    &e));
    memset(&o, 0x5a, sizeof o);
    ASSERT_OK(ac_config_to_calib_opts(&c, &o));
    ASSERT_NEAR(o.max_temp_diff, 3.5, 0);
    ASSERT_EQ(o.pedestal_mode, AC_PEDESTAL_FIXED);
    ASSERT_NEAR(o.pedestal, 50, 0);
    ASSERT(o.dark_optimize);
    ASSERT_NEAR(o.dark_k_max, 4, 0);
    ASSERT_EQ(o.dark_has_bias, AC_TRI_YES);
    ASSERT_EQ(o.flat_is_calibrated, AC_TRI_NO);
    ASSERT_NEAR(o.flat_floor, 0.2, 0);
    ASSERT(o.cosmetic);
    ASSERT_NEAR(o.cosmetic_sigma, 7, 0);
    ASSERT(!o.force);
    ASSERT_NEAR(o.pedestal_max_frac, 1e-4, 0); /* calib's own default, untouched */

    /* The config defaults are calib.h's documented defaults. */
    ac_config_default(&c);
    ASSERT_OK(ac_config_to_calib_opts(&c, &o));
    ASSERT_NEAR(o.dark_k_max, 2.0, 0);
    ASSERT(!o.dark_optimize);
    ASSERT_NEAR(o.flat_floor, 0.05, 0);
    ASSERT_EQ(o.pedestal_mode, AC_PEDESTAL_NONE);
    ASSERT_EQ(o.dark_has_bias, AC_TRI_AUTO);
    ASSERT_EQ(o.flat_is_calibrated, AC_TRI_AUTO);
    ASSERT(!o.cosmetic);
    ASSERT_NEAR(o.cosmetic_sigma, 5.0, 0);
    ASSERT_NEAR(o.max_temp_diff, 5.0, 0);
}

TEST(config_sample_parses_to_exactly_the_defaults)
{
    struct ac_config c, d;
    ac_err_t e = {0};
    char path[4096];
    size_t n;
    const ac_config_entry_t *t = ac_config_table(&n);

    snprintf(path, sizeof path, "%s/astrocald.conf", ac_test_srcdir());
    if (ac_config_load(&c, path, &e) != 0)
        AC_TEST_FAIL("%s", e.msg);
    ac_config_default(&d);
    for (size_t i = 0; i < n; i++)
        if (!ac_config_equal(&c, &d, &t[i]))
            AC_TEST_FAIL("astrocald.conf: %s differs from its default", t[i].key);
}

/* has_setting_line says whether text has a line "KEY = VALUE" (possibly after "#"). */
static bool has_setting_line(const char *text, const char *key, const char *value)
{
    const char *p = text;

    while (p != NULL && *p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[512], want[512];

        if (len < sizeof line) {
            const char *s = line;

            memcpy(line, p, len);
            line[len] = '\0';
            while (*s == '#' || *s == ' ')
                s++;
            snprintf(want, sizeof want, "%s = %s", key, value);
            if (strcmp(s, want) == 0)
                return true;
        }
        p = eol ? eol + 1 : NULL;
    }
    return false;
}

TEST(config_sample_documents_every_key_with_its_default)
{
    char *text = read_file("astrocald.conf");
    size_t n;
    const ac_config_entry_t *t = ac_config_table(&n);
    const char *const *sec = ac_config_sections();
    char want[64];

    for (size_t i = 0; i < n; i++)
        if (!has_setting_line(text, t[i].key, t[i].def))
            AC_TEST_FAIL("astrocald.conf has no line \"%s = %s\"", t[i].key, t[i].def);
    for (int s = 0; sec[s] != NULL; s++) {
        snprintf(want, sizeof want, "\n[%s]\n", sec[s]);
        ASSERT_CONTAINS(text, want);
    }
    free(text);
}

TEST(config_docs_mention_every_key)
{
    char *text = read_file("docs/configuration.md");
    size_t n;
    const ac_config_entry_t *t = ac_config_table(&n);
    const char *const *sec = ac_config_sections();
    char want[128];

    for (size_t i = 0; i < n; i++) {
        snprintf(want, sizeof want, "| `%s` |", t[i].key);
        if (strstr(text, want) == NULL)
            AC_TEST_FAIL("docs/configuration.md has no table row for `%s`", t[i].key);
    }
    for (int s = 0; sec[s] != NULL; s++) {
        snprintf(want, sizeof want, "[%s]", sec[s]);
        ASSERT_CONTAINS(text, want);
    }
    free(text);
}

TEST(config_unknown_section_lists_every_section)
{
    struct ac_config c;
    ac_err_t e = {0};
    const char *const *sec = ac_config_sections();
    int n = 0;

    ASSERT_EQ(parse(&c, "[NOPE]\n", &e), AC_ECONFIG);
    for (; sec[n] != NULL; n++)
        ASSERT_CONTAINS(e.msg, sec[n]);
    ASSERT(n >= 8); /* AUTO_CALIBRATION ... MASTERS at least */
}

TEST(config_refuses_a_world_writable_socket_mode)
{
    struct ac_config c;
    ac_err_t e = {0};
    static const char *const bad[] = {"0666", "0777", "0662", "2"};
    char text[128], want[64];

    /* o+w would let every local user connect to the control socket. */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "[DAEMON]\nsocket_mode = %s\n", bad[i]);
        ASSERT_EQ(parse(&c, text, &e), AC_ECONFIG);
        snprintf(want, sizeof want, "socket_mode: %04o lets every local user connect",
                 (unsigned)strtoul(bad[i], NULL, 8));
        ASSERT_CONTAINS(e.msg, want);
        ASSERT_CONTAINS(e.msg, "use 0660");
    }
    /* Others may read or search (harmless: connecting needs write), the group may write. */
    ASSERT_OK(parse(&c,
                    "[DAEMON]\nsocket_mode = 0664\nsocket_idle_timeout_s = 5\n"
                    "reader_group = staff\nadmin_group = 1234\n",
                    &e));
    ASSERT_EQ(c.socket_mode, 0664);
    ASSERT_EQ(c.socket_idle_timeout_s, 5);
    ASSERT_STR_EQ(c.reader_group, "staff");
    ASSERT_STR_EQ(c.admin_group, "1234");
    ASSERT_EQ(parse(&c, "[DAEMON]\nsocket_idle_timeout_s = 0\n", &e), AC_ECONFIG);
}
