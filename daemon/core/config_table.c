/*
 * config_table.c - the astrocald.conf key table: every key with its section, type,
 * default, range, reload rule and help text (the help is the documentation: tools/confman.c
 * makes astrocald.conf(5) from it). Values to and from text are in config.c.
 *
 * Pure core: libc and common/ only. The only global is the constant table. Any thread.
 *
 * Adding a key: a field in struct ac_config named as the key, a row below (in its section,
 * in the order of astrocald.conf), then a paragraph in astrocald.conf and a row in
 * docs/configuration.md; the config_sample_* and config_docs_* tests fail until both
 * mention it.
 */
#include <stddef.h>
#include <string.h>

#include "config.h"
#include "grade.h"
#include "log.h"

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
    INT("WORKERS", workers, "2", 1, 64, false,
        "Frames and master builds running at once (the libuv pool has 8 more threads)."),
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
