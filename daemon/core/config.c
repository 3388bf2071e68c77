/*
 * config.c - the astrocald.conf key table, values to and from text, checks, reload rules
 * and printing (see config.h for the file format and the contracts; the parser is
 * config_parse.c, reading the file io/conffile.c).
 *
 * Pure core: libc and common/ only. The only global is the constant table. Any thread.
 *
 * Adding a key: a field in struct ac_config named as the key, a row below (in its section,
 * in the order of astrocald.conf), then a paragraph in astrocald.conf and a row in
 * docs/configuration.md; the config_sample_* and config_docs_* tests fail until both
 * mention it.
 */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grade.h"
#include "log.h"
#include "util.h"

static const char *const sections[] = {
    "AUTO_CALIBRATION", "DAEMON",  "WORKERS", "CALIBRATION", "MATCHING", "QUEUE", "INGEST",
    "MASTERS",          "METRICS", "NOTIFY",  "CLOUD",       "QUALITY",  NULL};
#define NSECTIONS 12

static const char *const log_names[] = {"err", "warning", "notice", "info", "debug", NULL};
static const int log_values[] = {AC_LOG_ERR, AC_LOG_WARNING, AC_LOG_NOTICE, AC_LOG_INFO,
                                 AC_LOG_DEBUG};
static const char *const io_names[] = {"idle", "best-effort", "none", NULL};
static const char *const tri_names[] = {"auto", "yes", "no", NULL};
static const int tri_values[] = {AC_TRI_AUTO, AC_TRI_YES, AC_TRI_NO};
static const char *const order_names[] = {"newest_first", "oldest_first", NULL};
static const char *const master_names[] = {"bias", "dark", "flat", NULL};
static const char *const combine_names[] = {"sigma_clip", "winsor", "median", "mean", NULL};
static const int master_bits[] = {AC_NEED_BIAS, AC_NEED_DARK, AC_NEED_FLAT};

#define FIELD(f) offsetof(struct ac_config, f), sizeof(((struct ac_config *)0)->f)
#define ROW(sec, k, type, def, lo, hi, names, values, flags, reload, help)                     \
    {                                                                                          \
        sec, #k, type, FIELD(k), def, lo, hi, names, values, flags, reload, help               \
    }
#define BOOL(sec, k, def, help) ROW(sec, k, AC_CFG_BOOL, def, 0, 1, NULL, NULL, 0, true, help)
#define INT(sec, k, def, lo, hi, reload, help)                                                 \
    ROW(sec, k, AC_CFG_INT, def, lo, hi, NULL, NULL, 0, reload, help)
#define DBL(sec, k, def, lo, hi, help)                                                         \
    ROW(sec, k, AC_CFG_DOUBLE, def, lo, hi, NULL, NULL, 0, true, help)
#define PATH(sec, k, def, minlen, reload, help)                                                \
    ROW(sec, k, AC_CFG_PATH, def, minlen, sizeof(((struct ac_config *)0)->k) - 1, NULL, NULL,  \
        0, reload, help)
#define MIB(sec, k, def, lo, hi, help)                                                         \
    ROW(sec, k, AC_CFG_SIZE_MIB, def, lo, hi, NULL, NULL, 0, true, help)
#define ENUM(sec, k, def, names, values, reload, help)                                         \
    ROW(sec, k, AC_CFG_ENUM, def, 0, 0, names, values, 0, reload, help)

static const ac_config_entry_t table[] = {
    /* [AUTO_CALIBRATION]: AstroFiler's keys, with AstroFiler's defaults. */
    BOOL("AUTO_CALIBRATION", enable_light_calibration, "True",
         "Queue sessions automatically once their masters exist (else only on enqueue)."),
    ROW("AUTO_CALIBRATION", calibration_output_suffix, AC_CFG_STRING, "_calibrated", 1, 63,
        NULL, NULL, AC_CFG_NO_SLASH, true, "Appended to the light's file name stem; no '/'."),
    BOOL("AUTO_CALIBRATION", preserve_original_files, "True",
         "Keep the raw light's catalogue row visible (False soft-deletes it)."),
    BOOL("AUTO_CALIBRATION", auto_calibrate_on_master_creation, "False",
         "A master another program adds starts the sessions waiting for it at once (False: "
         "they wait for astrocalctl enqueue; masters astrocald builds always start them)."),
    BOOL("AUTO_CALIBRATION", calibration_quality_check, "True",
         "Reject calibrated lights that fail the [QUALITY] rules against their session "
         "(marked, never deleted); False: no rejection, the figures are still written."),
    DBL("AUTO_CALIBRATION", max_temperature_difference, "5.0", 0, 100,
        "Largest temperature difference between a light and its dark, degrees C: sensor "
        "temperatures when both have one, else set points (the planner, the engine and "
        "master building apply the same rule)."),

    /* [DAEMON] */
    PATH("DAEMON", database, "/var/lib/astrocald/astrofiler.db", 0, false,
         "The AstroFiler SQLite catalogue (created with AstroFiler's schema when missing); "
         "empty = not configured yet: astrocald waits and does nothing."),
    PATH("DAEMON", socket, "/run/astrocald/astrocald.sock", 1, false,
         "Unix socket for astrocalctl."),
    ROW("DAEMON", socket_mode, AC_CFG_MODE, "0660", 0, 0777, NULL, NULL, 0, false,
        "Permission bits of the control socket; others may not write (no o+w)."),
    INT("DAEMON", socket_idle_timeout_s, "30", 1, 3600, true,
        "Seconds a control client may stay connected without making a request."),
    ROW("DAEMON", reader_group, AC_CFG_STRING, "\"\"", 0, 63, NULL, NULL, 0, true,
        "Group that may use the read-only control commands; empty = the socket's group."),
    ROW("DAEMON", admin_group, AC_CFG_STRING, "\"\"", 0, 63, NULL, NULL, 0, true,
        "Group that may use every control command; empty = the daemon's group."),
    PATH("DAEMON", state_dir, "/var/lib/astrocald", 1, false,
         "Directory for the lock file and temporary files."),
    PATH("DAEMON", output_dir, "\"\"", 0, true,
         "Directory for calibrated files; empty writes each beside its raw light."),
    PATH("DAEMON", repository_dir, "\"\"", 0, true,
         "AstroFiler repository root (masters in <repository_dir>/Masters); may be empty."),
    PATH("DAEMON", astrofiler_ini, "\"\"", 0, true,
         "AstroFiler's astrofiler.ini: its [DEFAULT] repo, source and bucket_url fill "
         "repository_dir, watch_dirs and bucket_url when this file does not set them "
         "(relative paths are taken from the ini's folder); empty = not read."),
    ROW("DAEMON", bucket_url, AC_CFG_STRING, "\"\"", 0, 1023, NULL, NULL, 0, true,
        "AstroFiler's cloud bucket (its [DEFAULT] bucket_url), for uploads; empty = none."),
    ENUM("DAEMON", log_level, "info", log_names, log_values, true,
         "Most detailed log messages written."),
    INT("DAEMON", watch_interval_ms, "1000", 100, 3600000, true,
        "Catalogue change poll (PRAGMA data_version) interval, milliseconds."),
    INT("DAEMON", scan_interval_s, "60", 1, 86400, true,
        "Interval of the full re-planning scan, seconds (skipped while no other process "
        "committed and no session waits)."),
    INT("DAEMON", drain_timeout_s, "60", 0, 86400, true,
        "On SIGTERM, seconds running frames may take to finish before being cancelled."),

    /* [WORKERS] */
    INT("WORKERS", workers, "2", 1, 64, false, "Worker threads (libuv thread pool size)."),
    INT("WORKERS", max_in_flight, "0", 0, 64, true,
        "Frames calibrating at once; 0 means workers (more is never used)."),
    MIB("WORKERS", memory_budget_mib, "2048", 64, 1048576,
        "Memory for the master cache and all strip buffers, MiB."),
    MIB("WORKERS", job_memory_mib, "32", 4, 4096,
        "Memory per frame for strips and the writer, MiB."),
    DBL("WORKERS", max_load_per_cpu, "1.5", 0, 100,
        "Start no frame while the 1-minute load per CPU is above this; 0 = off."),
    DBL("WORKERS", cpu_pressure_limit, "50.0", 0, 100,
        "Start no frame while CPU pressure (some avg10, %) is above this; 0 = off."),
    INT("WORKERS", nice, "10", 0, 19, false, "CPU nice value of the worker threads."),
    ENUM("WORKERS", io_class, "idle", io_names, NULL, false,
         "I/O scheduling class (none leaves it unchanged)."),
    MIB("WORKERS", free_disk_reserve_mib, "1024", 0, 1048576,
        "Free space kept beyond each output, MiB; the queue pauses when short."),

    /* [CALIBRATION] */
    ROW("CALIBRATION", pedestal, AC_CFG_PEDESTAL, "none", 0, 1000000, NULL, NULL, 0, true,
        "ADU added to every output pixel: none, auto or a number."),
    BOOL("CALIBRATION", dark_optimize, "False", "Choose each light's dark scale by noise."),
    DBL("CALIBRATION", dark_max_scale, "2.0", 1, 100,
        "Largest exposure scale applied to a bias-free dark."),
    ENUM("CALIBRATION", dark_has_bias, "auto", tri_names, tri_values, true,
         "Whether master darks still contain the bias."),
    ENUM("CALIBRATION", flat_calibrated, "auto", tri_names, tri_values, true,
         "Whether master flats already have their offset removed."),
    ROW("CALIBRATION", flat_floor, AC_CFG_DOUBLE, "0.05", 0, 0.999, NULL, NULL,
        AC_CFG_MIN_EXCLUSIVE, true, "Smallest normalised flat value divided by."),
    BOOL("CALIBRATION", cosmetic, "False", "Replace the hot pixels found in the master dark."),
    DBL("CALIBRATION", cosmetic_sigma, "5.0", 0.5, 1000,
        "Hot pixel threshold in robust sigmas (1.4826 MAD) above the dark's median."),
    BOOL("CALIBRATION", compress, "False", "Write RICE tile-compressed outputs (.fits.fz)."),
    DBL("CALIBRATION", quantize, "16.0", 0.5, 1000000, "Quantisation level for compress."),
    ROW("CALIBRATION", required_masters, AC_CFG_LIST, "dark,flat", 0, 0, master_names,
        master_bits, 0, true,
        "Masters a session needs (plus a bias when the dark or flat needs one)."),

    /* [MATCHING] */
    DBL("MATCHING", exposure_tolerance_s, "0.5", 0, 3600,
        "Dark exposure tolerance in seconds (the larger of the two tolerances applies)."),
    DBL("MATCHING", exposure_tolerance_pct, "1.0", 0, 100,
        "Dark exposure tolerance in percent of the light's exposure."),
    BOOL("MATCHING", allow_later_masters, "True",
         "Use a master made after the light when nothing earlier fits."),
    INT("MATCHING", max_master_age_days, "0", 0, 36500, true,
        "Ignore masters more days than this from the light; 0 = no limit."),
    DBL("MATCHING", site_utc_offset_h, "0.0", -12, 14,
        "Site offset from UTC, hours (a night runs from local noon to noon)."),

    /* [QUEUE] */
    ENUM("QUEUE", order, "newest_first", order_names, NULL, true,
         "Order of sessions of equal priority, by session date."),
    INT("QUEUE", max_attempts, "3", 1, 100, true,
        "Tries per frame before a transient failure becomes final."),
    INT("QUEUE", retry_backoff_s, "30", 1, 3600, true,
        "Seconds before the first retry; doubles per attempt, capped at 3600."),
    INT("QUEUE", history_days, "90", 1, 36500, true,
        "Days the history (astrocalctl history) keeps; older events are pruned daily."),
    INT("QUEUE", history_max_events, "100000", 0, 100000000, true,
        "Events the history keeps at most (the newest); 0 = no count bound."),

    /* [INGEST] */
    ROW("INGEST", watch_dirs, AC_CFG_STRING, "\"\"", 0, 4095, NULL, NULL, 0, false,
        "Folders registered live as frames land (comma-separated absolute paths, "
        "recursive); empty = off."),
    ROW("INGEST", settle_s, AC_CFG_DOUBLE, "5.0", 0, 3600, NULL, NULL, 0, false,
        "A new file is read once complete and unchanged for this many seconds."),
    INT("INGEST", rescan_interval_s, "60", 1, 86400, false,
        "Full scan of the watched folders (safety net, and fallback when a watch fails)."),
    BOOL("INGEST", type_from_path, "True",
         "A frame whose header names no type (no IMAGETYP, FRAME or FRAMETYP) gets it from "
         "its file name or its 3 nearest folders (Light(s), Dark(s), Flat(s), Bias, Offset, "
         "DarkFlat, FlatDark), recorded as inferred; off: such frames are not registered."),

    /* [MASTERS] */
    BOOL("MASTERS", build_masters, "True",
         "Build missing masters from calibration sessions with enough frames."),
    PATH("MASTERS", masters_dir, "\"\"", 0, true,
         "Where built masters go; empty = <repository_dir>/Masters, else <state_dir>/Masters."),
    INT("MASTERS", min_files_per_master, "3", 1, 10000, true,
        "Frames a calibration session needs before its master is built."),
    DBL("MASTERS", build_settle_s, "60.0", 0, 86400,
        "A calibration session is built once none of its frames was written for this long."),
    ENUM("MASTERS", combine, "sigma_clip", combine_names, NULL, true,
         "Per-pixel combination: sigma_clip, winsor, median or mean."),
    DBL("MASTERS", kappa_low, "3.0", 0.5, 100, "Rejection threshold below the centre, sigmas."),
    DBL("MASTERS", kappa_high, "3.0", 0.5, 100,
        "Rejection threshold above the centre, sigmas."),
    INT("MASTERS", iterations, "3", 1, 100, true, "Rejection iterations at most."),
    BOOL("MASTERS", dark_subtract_bias, "False",
         "Subtract the master bias from master darks (AstroFiler keeps it: False)."),
    DBL("MASTERS", max_hot_fraction, "0.01", 0, 1,
        "A master dark with a larger fraction of hot pixels fails its quality check."),
    DBL("MASTERS", min_flat_level, "1000.0", 0, 1e9,
        "A master flat whose calibrated mean level is below this (ADU) is rejected."),
    DBL("MASTERS", max_flat_level, "0.9", 0.01, 1,
        "A master flat brighter than this fraction of saturation is rejected."),

    /* [METRICS] */
    PATH("METRICS", textfile, "\"\"", 0, true,
         "Prometheus text file for node_exporter's textfile collector, replaced atomically "
         "every interval_s (e.g. /var/lib/prometheus/node-exporter/astrocald.prom); empty = "
         "off. The folder must exist and be writable (a ReadWritePaths= drop-in)."),
    INT("METRICS", interval_s, "5", 1, 3600, true, "Seconds between two writes of textfile."),

    /* [NOTIFY] */
    PATH("NOTIFY", on_session_done, "\"\"", 0, true,
         "Program run (no shell) when a session settles, with its facts in ASTROCAL_* "
         "environment variables; absolute path, empty = none."),
    PATH("NOTIFY", on_failure, "\"\"", 0, true,
         "Program run (no shell) when a light fails for good or a master build fails; "
         "absolute path, empty = none."),
    INT("NOTIFY", notify_timeout_s, "30", 1, 3600, true,
        "Seconds a notification program may run; then SIGTERM, and SIGKILL 5 s later."),
    INT("NOTIFY", notify_max_running, "2", 1, 16, true,
        "Notification programs running at once; more wait in a queue (at most 100)."),

    /* [CLOUD]: cloud sync through the rclone program (docs/user-guide.md, "Cloud"). */
    ROW("CLOUD", enabled, AC_CFG_BOOL, "False", 0, 1, NULL, NULL, 0, false,
        "Use the rclone remote below: fetch cloud-only lights and masters, back up outputs."),
    ROW("CLOUD", remote, AC_CFG_STRING, "\"\"", 0, 1023, NULL, NULL, 0, false,
        "rclone remote and path holding the repository, e.g. gcs:astrofiler-repository "
        "(an absolute folder is rclone's local backend)."),
    ROW("CLOUD", url_prefix, AC_CFG_STRING, "\"\"", 0, 1023, NULL, NULL, 0, false,
        "Catalogue cloud URL prefix that stands for remote (URL = prefix/REL); empty = "
        "[DAEMON] bucket_url, else AstroFiler's gs://BUCKET, BUCKET being remote's path "
        "after the ':'."),
    PATH("CLOUD", rclone_config, "\"\"", 0, false,
         "rclone's configuration file with the remote's credentials; empty = rclone's own "
         "default for the daemon's user."),
    ROW("CLOUD", rclone_program, AC_CFG_STRING, "rclone", 1, 1023, NULL, NULL, 0, false,
        "The rclone program (a name searched in PATH, or a path)."),
    BOOL("CLOUD", upload_calibrated, "True",
         "Upload every calibrated frame and built master, then set its cloud URL."),
    BOOL("CLOUD", download_missing, "True",
         "Download a light or master whose file is missing but whose cloud URL is set."),
    PATH("CLOUD", cache_dir, "\"\"", 0, false,
         "Folder for downloaded lights and masters; empty = <state_dir>/cloud-cache."),
    DBL("CLOUD", cache_max_gib, "20.0", 0.0001, 1e6,
        "Size of the download cache, GiB; the least recently used files are evicted."),
    ROW("CLOUD", bwlimit, AC_CFG_STRING, "\"\"", 0, 63, NULL, NULL, 0, true,
        "rclone --bwlimit for every transfer (e.g. 10M, or \"08:00,2M 20:00,off\"); "
        "empty = unlimited."),
    INT("CLOUD", transfers, "2", 1, 16, true, "Uploads and downloads running at once."),
    INT("CLOUD", transfer_timeout_s, "3600", 10, 86400, true,
        "An rclone run taking longer than this is stopped and retried later, seconds."),
    /* [QUALITY]: frame grading (docs/grading.md). */
    BOOL("QUALITY", grading, "True",
         "Measure the stars of every calibrated light (FWHM, HFR, eccentricity, stars, SNR) "
         "when no calibration waits, and write them to its header and catalogue row."),
    DBL("QUALITY", fwhm_mad_k, "3.0", 0, 100,
        "Reject a light whose FWHM exceeds the session median by more than this many MADs "
        "(1.4826 MAD, a sigma)..."),
    DBL("QUALITY", fwhm_min_excess, "0.1", 0, 10,
        "... and by at least this fraction of the median."),
    DBL("QUALITY", min_star_fraction, "0.75", 0, 1,
        "Reject a light with fewer stars than this fraction of the session median (clouds)."),
    DBL("QUALITY", max_eccentricity, "0.6", 0, 1,
        "Reject a light whose stars' eccentricity exceeds this (trailing, wind); 1: off."),
    DBL("QUALITY", min_snr_fraction, "0.7", 0, 1,
        "Reject a light whose image SNR is below this fraction of the session median."),
    DBL("QUALITY", max_nonfinite_fraction, "0.01", 0, 1,
        "Reject a light with a larger fraction of NaN or infinite pixels."),
    DBL("QUALITY", max_flat_residual, "0.05", 0, 100,
        "Reject a light whose background corners differ from its centre by more than this "
        "fraction after flat division (a wrong or missing flat); 100: off."),
    INT("QUALITY", min_session_frames, "3", 1, 100000, true,
        "The session rules (FWHM, stars, SNR) need this many measured lights in a session."),
};

#define NTABLE (sizeof table / sizeof table[0])
_Static_assert(NTABLE <= AC_CONFIG_MAX_KEYS, "AC_CONFIG_MAX_KEYS too small");
_Static_assert(NSECTIONS <= AC_CONFIG_MAX_SECTIONS, "AC_CONFIG_MAX_SECTIONS too small");

void ac_config_to_grade_rules(const struct ac_config *c, struct ac_grade_rules *r)
{
    r->fwhm_mad_k = c->fwhm_mad_k;
    r->fwhm_min_excess = c->fwhm_min_excess;
    r->min_star_fraction = c->min_star_fraction;
    r->max_eccentricity = c->max_eccentricity;
    r->min_snr_fraction = c->min_snr_fraction;
    r->max_nonfinite = c->max_nonfinite_fraction;
    r->max_flat_residual = c->max_flat_residual;
    r->min_session_frames = c->min_session_frames;
}

const ac_config_entry_t *ac_config_table(size_t *n)
{
    if (n != NULL)
        *n = NTABLE;
    return table;
}

const char *const *ac_config_sections(void)
{
    return sections;
}

const ac_config_entry_t *ac_config_find(const char *section, const char *key)
{
    for (size_t i = 0; i < NTABLE; i++)
        if (strcmp(table[i].key, key) == 0 &&
            (section == NULL || strcmp(table[i].section, section) == 0))
            return &table[i];
    return NULL;
}

const char *ac_config_type_name(int type)
{
    static const char *const names[] = {
        "boolean",    "whole number",      "number", "text", "path", "choice", "size in MiB",
        "octal mode", "none, auto or ADU", "list"};

    return type >= 0 && type <= AC_CFG_LIST ? names[type] : "?";
}

/* num_text writes v in its shortest exact decimal form ("0.05", "1000000"); with point a
 * whole value gets ".0" ("16.0"), as Python (AstroFiler) writes floats. */
static void num_text(double v, bool point, char *buf, size_t size)
{
    if (fabs(v) >= 1e-4 && fabs(v) < 1e16) {
        for (int d = 0; d <= 17; d++) {
            snprintf(buf, size, "%.*f", d, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    } else {
        for (int p = 1; p <= 17; p++) {
            snprintf(buf, size, "%.*g", p, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
    if (point && strpbrk(buf, ".en") == NULL) {
        size_t len = strlen(buf);
        if (len + 2 < size)
            memcpy(buf + len, ".0", 3);
    }
}

/* bad records "KEY: EXPECTED, got 'TEXT'" and returns AC_ECONFIG. */
static int bad(ac_err_t *e, const ac_config_entry_t *en, const char *text, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(ac_err_t *e, const ac_config_entry_t *en, const char *text, const char *fmt, ...)
{
    char what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return ac_err_set(e, AC_ECONFIG, "%s: %s, got '%.80s%s'", en->key, what, text,
                      strlen(text) > 80 ? "..." : "");
}

static bool parse_bool(const char *s, bool *b)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *b = true, true;
        if (strcasecmp(s, no[i]) == 0)
            return *b = false, true;
    }
    return false;
}

/* parse_ll reads a whole decimal number filling all of s. */
static bool parse_ll(const char *s, long long *v)
{
    char *end;

    errno = 0;
    *v = strtoll(s, &end, 10);
    return end != s && *end == '\0' && errno == 0 && !isspace((unsigned char)s[0]);
}

static bool parse_num(const char *s, double *v)
{
    char *end;

    errno = 0;
    *v = strtod(s, &end);
    return end != s && *end == '\0' && errno == 0 && isfinite(*v) &&
           !isspace((unsigned char)s[0]);
}

/* parse_mib reads "2048", "512M", "512 MiB", "2G" or "2 GiB" as MiB. */
static bool parse_mib(const char *s, long long *v)
{
    char digits[32];
    size_t n = strspn(s, "0123456789");
    const char *unit = s + n;
    long long mult = 1;

    if (n == 0 || n >= sizeof digits)
        return false;
    memcpy(digits, s, n);
    digits[n] = '\0';
    while (*unit == ' ' || *unit == '\t')
        unit++;
    if (*unit == '\0' || strcasecmp(unit, "m") == 0 || strcasecmp(unit, "mib") == 0)
        mult = 1;
    else if (strcasecmp(unit, "g") == 0 || strcasecmp(unit, "gib") == 0)
        mult = 1024;
    else
        return false;
    if (!parse_ll(digits, v) || *v > (1LL << 40))
        return false;
    *v *= mult;
    return true;
}

static int set_string(char *f, const ac_config_entry_t *en, const char *s, ac_err_t *e)
{
    size_t len = strlen(s);

    if (len < (size_t)en->min)
        return ac_err_set(e, AC_ECONFIG, "%s: must not be empty", en->key);
    if (len > (size_t)en->max)
        return ac_err_set(e, AC_ECONFIG, "%s: expected at most %d bytes, got %zu bytes",
                          en->key, (int)en->max, len);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return bad(e, en, s, "control characters are not allowed");
    if ((en->flags & AC_CFG_NO_SLASH) && strchr(s, '/') != NULL)
        return bad(e, en, s, "expected a file name suffix without '/'");
    memcpy(f, s, len + 1);
    return 0;
}

/* names_text joins a NULL-terminated name list with sep. */
static void names_text(const char *const *names, const char *sep, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; names[i] != NULL; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s", i ? sep : "", names[i]);
    }
}

static int set_list(unsigned *f, const ac_config_entry_t *en, const char *s, ac_err_t *e)
{
    char copy[256], all[128];
    unsigned bits = 0;
    char *save = NULL, *item;

    names_text(en->names, ", ", all, sizeof all);
    if (ac_strlcpy(copy, s, sizeof copy) >= sizeof copy || strstr(s, ",,") != NULL ||
        s[0] == ',' || (s[0] != '\0' && s[strlen(s) - 1] == ','))
        goto fail;
    for (item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        size_t i;

        item = ac_str_trim(item);
        for (i = 0; en->names[i] != NULL; i++)
            if (strcasecmp(item, en->names[i]) == 0)
                break;
        if (en->names[i] == NULL)
            goto fail;
        bits |= (unsigned)en->values[i];
    }
    if (bits == 0)
        goto fail;
    *f = bits;
    return 0;
fail:
    return bad(e, en, s, "expected a comma-separated list of one or more of %s", all);
}

int ac_config_set_text(struct ac_config *c, const ac_config_entry_t *en, const char *s,
                       ac_err_t *e)
{
    char *f = (char *)c + en->offset;
    char lo[64], hi[64], all[128];
    long long ll;
    double d;
    bool b;

    num_text(en->min, false, lo, sizeof lo);
    num_text(en->max, false, hi, sizeof hi);
    switch (en->type) {
    case AC_CFG_BOOL:
        if (!parse_bool(s, &b))
            return bad(e, en, s, "expected True or False (or true/false, yes/no, on/off, 1/0)");
        *(bool *)f = b;
        return 0;
    case AC_CFG_INT:
        if (!parse_ll(s, &ll) || ll < en->min || ll > en->max)
            return bad(e, en, s, "expected a whole number from %s to %s", lo, hi);
        *(int *)f = (int)ll;
        return 0;
    case AC_CFG_DOUBLE:
        if (en->flags & AC_CFG_MIN_EXCLUSIVE) {
            if (!parse_num(s, &d) || d <= en->min || d > en->max)
                return bad(e, en, s, "expected a number above %s and at most %s", lo, hi);
        } else if (!parse_num(s, &d) || d < en->min || d > en->max) {
            return bad(e, en, s, "expected a number from %s to %s", lo, hi);
        }
        *(double *)f = d;
        return 0;
    case AC_CFG_STRING:
    case AC_CFG_PATH:
        return set_string(f, en, s, e);
    case AC_CFG_ENUM:
        for (int i = 0; en->names[i] != NULL; i++) {
            if (strcasecmp(s, en->names[i]) == 0) {
                *(int *)f = en->values ? en->values[i] : i;
                return 0;
            }
        }
        names_text(en->names, ", ", all, sizeof all);
        return bad(e, en, s, "expected one of %s", all);
    case AC_CFG_SIZE_MIB:
        if (!parse_mib(s, &ll) || ll < en->min || ll > en->max)
            return bad(e, en, s, "expected a size in MiB from %s to %s (or with a G suffix)",
                       lo, hi);
        *(uint64_t *)f = (uint64_t)ll;
        return 0;
    case AC_CFG_MODE:
        if (s[0] == '\0' || strlen(s) > 4 || strspn(s, "01234567") != strlen(s) ||
            (ll = strtoll(s, NULL, 8)) < en->min || ll > en->max)
            return bad(e, en, s, "expected an octal mode from %04o to %04o, like 0660",
                       (unsigned)en->min, (unsigned)en->max);
        *(int *)f = (int)ll;
        return 0;
    case AC_CFG_PEDESTAL: {
        struct ac_cfg_pedestal *p = (struct ac_cfg_pedestal *)f;

        if (strcasecmp(s, "none") == 0) {
            p->mode = AC_PEDESTAL_NONE;
            p->adu = 0;
        } else if (strcasecmp(s, "auto") == 0) {
            p->mode = AC_PEDESTAL_AUTO;
            p->adu = 0;
        } else if (parse_num(s, &d) && d >= en->min && d <= en->max) {
            p->mode = AC_PEDESTAL_FIXED;
            p->adu = d;
        } else {
            return bad(e, en, s, "expected none, auto or a number of ADU from %s to %s", lo,
                       hi);
        }
        return 0;
    }
    case AC_CFG_LIST:
        return set_list((unsigned *)f, en, s, e);
    default:
        return ac_err_set(e, AC_ECONFIG, "%s: unknown type %d", en->key, en->type);
    }
}

/* quote_needed says whether a string value must be written in double quotes to read back
 * the same: empty, outer blanks, or outer quotes of its own. */
static bool quote_needed(const char *s)
{
    size_t len = strlen(s);

    return len == 0 || s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' || s[len - 1] == '\t' ||
           (len >= 2 && s[0] == '"' && s[len - 1] == '"');
}

int ac_config_get_text(const struct ac_config *c, const ac_config_entry_t *en, char *buf,
                       size_t size)
{
    const char *f = (const char *)c + en->offset;
    char num[64];
    int n = 0;

    if (buf == NULL || size == 0)
        return -ERANGE;
    buf[0] = '\0';
    switch (en->type) {
    case AC_CFG_BOOL:
        n = snprintf(buf, size, "%s", *(const bool *)f ? "True" : "False");
        break;
    case AC_CFG_INT:
        n = snprintf(buf, size, "%d", *(const int *)f);
        break;
    case AC_CFG_DOUBLE:
        num_text(*(const double *)f, true, num, sizeof num);
        n = snprintf(buf, size, "%s", num);
        break;
    case AC_CFG_STRING:
    case AC_CFG_PATH:
        n = snprintf(buf, size, quote_needed(f) ? "\"%s\"" : "%s", f);
        break;
    case AC_CFG_ENUM: {
        int v = *(const int *)f, i;

        for (i = 0; en->names[i] != NULL; i++)
            if ((en->values ? en->values[i] : i) == v)
                break;
        n = en->names[i] ? snprintf(buf, size, "%s", en->names[i])
                         : snprintf(buf, size, "%d", v);
        break;
    }
    case AC_CFG_SIZE_MIB:
        n = snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)f);
        break;
    case AC_CFG_MODE:
        n = snprintf(buf, size, "%04o", (unsigned)*(const int *)f);
        break;
    case AC_CFG_PEDESTAL: {
        const struct ac_cfg_pedestal *p = (const struct ac_cfg_pedestal *)f;

        num_text(p->adu, true, num, sizeof num);
        n = snprintf(buf, size, "%s",
                     p->mode == AC_PEDESTAL_AUTO    ? "auto"
                     : p->mode == AC_PEDESTAL_FIXED ? num
                                                    : "none");
        break;
    }
    case AC_CFG_LIST: {
        unsigned bits = *(const unsigned *)f;

        for (int i = 0; en->names[i] != NULL; i++) {
            size_t len = strlen(buf);

            if (bits & (unsigned)en->values[i])
                n = (int)len +
                    snprintf(buf + len, size - len, "%s%s", len ? "," : "", en->names[i]);
            if ((size_t)n >= size)
                break;
        }
        break;
    }
    default:
        n = snprintf(buf, size, "?");
    }
    return n < 0 || (size_t)n >= size ? -ERANGE : 0;
}

bool ac_config_equal(const struct ac_config *a, const struct ac_config *b,
                     const ac_config_entry_t *en)
{
    const char *fa = (const char *)a + en->offset, *fb = (const char *)b + en->offset;

    switch (en->type) {
    case AC_CFG_DOUBLE:
        return *(const double *)fa == *(const double *)fb;
    case AC_CFG_STRING:
    case AC_CFG_PATH:
        return strcmp(fa, fb) == 0;
    case AC_CFG_PEDESTAL: {
        const struct ac_cfg_pedestal *pa = (const void *)fa, *pb = (const void *)fb;

        return pa->mode == pb->mode && (pa->mode != AC_PEDESTAL_FIXED || pa->adu == pb->adu);
    }
    default: /* bool, int, unsigned, uint64_t: no padding */
        return memcmp(fa, fb, en->size) == 0;
    }
}

void ac_config_default(struct ac_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NTABLE; i++) {
        char def[64];
        const char *s = table[i].def;
        size_t len = strlen(s);
        int rc;

        /* The defaults are written as in astrocald.conf: strip the quotes of "". */
        if (len >= 2 && s[0] == '"' && s[len - 1] == '"' && len - 2 < sizeof def) {
            memcpy(def, s + 1, len - 2);
            def[len - 2] = '\0';
            s = def;
        }
        rc = ac_config_set_text(c, &table[i], s, NULL);
        (void)rc;
        assert(rc == 0 && "invalid default in the config table");
    }
}

int ac_config_check(const struct ac_config *c, ac_err_t *e)
{
    if (c->job_memory_mib > c->memory_budget_mib)
        return ac_err_set(
            e, AC_ECONFIG, "job_memory_mib (%llu) must not exceed memory_budget_mib (%llu)",
            (unsigned long long)c->job_memory_mib, (unsigned long long)c->memory_budget_mib);
    if (c->socket_mode & 02)
        return ac_err_set(e, AC_ECONFIG,
                          "socket_mode: %04o lets every local user connect to the control "
                          "socket (others may write); use 0660 and let reader_group and "
                          "admin_group say who may do what",
                          (unsigned)c->socket_mode);
    if (c->on_session_done[0] != '\0' && c->on_session_done[0] != '/')
        return ac_err_set(e, AC_ECONFIG, "on_session_done: '%s' is not an absolute path",
                          c->on_session_done);
    if (c->on_failure[0] != '\0' && c->on_failure[0] != '/')
        return ac_err_set(e, AC_ECONFIG, "on_failure: '%s' is not an absolute path",
                          c->on_failure);
    {
        /* watch_dirs: every folder absolute (checked here so --check-config sees it). */
        const char *p = c->watch_dirs;
        while (*p != '\0') {
            const char *end = strchr(p, ',');
            size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
            while (n > 0 && (*p == ' ' || *p == '\t')) {
                p++;
                n--;
            }
            if (n > 0 && *p != '/')
                return ac_err_set(e, AC_ECONFIG, "watch_dirs: '%.*s' is not an absolute path",
                                  (int)n, p);
            if (end == NULL)
                break;
            p = end + 1;
        }
    }
    if (c->enabled && c->remote[0] == '\0')
        return ac_err_set(e, AC_ECONFIG,
                          "[CLOUD] enabled = True needs a remote (e.g. gcs:BUCKET, see "
                          "docs/user-guide.md \"Cloud\")");
    if (c->remote[0] != '\0' && c->remote[0] != '/' && strchr(c->remote, ':') == NULL)
        return ac_err_set(e, AC_ECONFIG,
                          "remote: '%s' is neither an rclone remote (NAME:PATH) nor an "
                          "absolute folder",
                          c->remote);
    if (c->remote[0] == '-' || c->rclone_config[0] == '-')
        return ac_err_set(e, AC_ECONFIG, "remote and rclone_config may not start with '-'");
    return 0;
}

/* ---- Reload, dump, calibration options ------------------------------------------------- */

/* list_add appends name to a ", "-separated list, ending it with "..." when full. */
static void list_add(char *buf, size_t size, const char *name)
{
    size_t len;
    int n;

    if (buf == NULL || size == 0)
        return;
    len = strlen(buf);
    if (len >= 3 && strcmp(buf + len - 3, "...") == 0)
        return;
    n = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", name);
    if (n >= 0 && (size_t)n < size - len)
        return;
    buf[len] = '\0';
    if (size < 4) {
        buf[0] = '\0';
        return;
    }
    if (len + 4 > size)
        len = size - 4;
    memcpy(buf + len, "...", 4);
}

int ac_config_apply_reload(struct ac_config *live, const struct ac_config *fresh, char *changed,
                           size_t changed_size, char *ignored, size_t ignored_size)
{
    int n = 0;

    if (changed != NULL && changed_size > 0)
        changed[0] = '\0';
    if (ignored != NULL && ignored_size > 0)
        ignored[0] = '\0';
    for (size_t i = 0; i < NTABLE; i++) {
        const ac_config_entry_t *en = &table[i];

        if (ac_config_equal(live, fresh, en))
            continue;
        if (!en->reloadable) {
            list_add(ignored, ignored_size, en->key);
            continue;
        }
        memcpy((char *)live + en->offset, (const char *)fresh + en->offset, en->size);
        list_add(changed, changed_size, en->key);
        n++;
    }
    return n;
}

int ac_config_dump(const struct ac_config *c, FILE *f)
{
    char *value = malloc(AC_CONFIG_TEXT_MAX);

    if (value == NULL)
        return -ENOMEM;
    for (int s = 0; sections[s] != NULL; s++) {
        fprintf(f, "%s[%s]\n", s ? "\n" : "", sections[s]);
        for (size_t i = 0; i < NTABLE; i++) {
            if (strcmp(table[i].section, sections[s]) != 0)
                continue;
            ac_config_get_text(c, &table[i], value, AC_CONFIG_TEXT_MAX);
            fprintf(f, "%s = %s\n", table[i].key, value);
        }
    }
    free(value);
    return fflush(f) != 0 || ferror(f) ? -EIO : 0;
}

int ac_config_to_calib_opts(const struct ac_config *c, ac_calib_opts_t *o)
{
    ac_calib_opts_default(o);
    o->dark_k_max = c->dark_max_scale;
    o->dark_optimize = c->dark_optimize;
    o->flat_floor = c->flat_floor;
    o->pedestal_mode = c->pedestal.mode;
    o->pedestal = c->pedestal.mode == AC_PEDESTAL_FIXED ? c->pedestal.adu : 0.0;
    o->dark_has_bias = c->dark_has_bias;
    o->flat_is_calibrated = c->flat_calibrated;
    o->cosmetic = c->cosmetic;
    o->cosmetic_sigma = c->cosmetic_sigma;
    o->max_temp_diff = c->max_temperature_difference;
    o->force = false;
    return 0;
}
