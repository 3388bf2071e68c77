/*
 * config.h - astrocald.conf: the key table, the INI parser, reload and printing.
 *
 * One static table (ac_config_table) drives everything: defaults, validation, the reload
 * rules, `astrocalctl config`, the sample astrocald.conf and docs/configuration.md (a unit
 * test checks that both mention every key). Each row names a section, a key, a type, the
 * field of struct ac_config it fills, the default as written in astrocald.conf, the range
 * or the allowed names, whether SIGHUP may change it, and a help sentence.
 *
 * File format (INI, read like AstroFiler's astrofiler.ini):
 *  - `[SECTION]` headers (case-sensitive, as in the table), `key = value` lines (keys are
 *    lowercase), blank lines.
 *  - `#` and `;` start a comment only as the first non-blank character of a line, so a
 *    value may contain them (`output_dir = /data/#2` is the path "/data/#2").
 *  - White space around keys and values is ignored. A value wrapped in double quotes has
 *    them removed (`output_dir = ""` is the empty string; quotes keep outer blanks).
 *  - A UTF-8 byte order mark and CR-LF line ends are accepted.
 *  - Errors (unknown section or key, with a suggestion when one is close; a key outside
 *    any section; a line without '='; an unterminated `[SECTION`; a duplicate section or
 *    key; a value of the wrong type or out of range) stop the parse with AC_ECONFIG and a
 *    message "FILE:LINE: what was expected, got 'what'".
 *
 * Ownership: struct ac_config is a plain value (no pointers): copy it with `=`. Table rows
 * are static and borrowed forever.
 * Thread: every function is pure (no globals but the constant table) and safe on any
 * thread; ac_config_dump writes to the stream it is given (io/conffile.h reads the file). The
 * daemon keeps the live config on the loop thread and hands pool threads read-only snapshots
 * (style-anchors.md §11).
 */
#ifndef AC_CONFIG_H
#define AC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "calib.h"
#include "err.h"

/* Value types of the table. */
enum ac_config_type {
    AC_CFG_BOOL,     /* True/False (also true/false, yes/no, on/off, 1/0; any case) */
    AC_CFG_INT,      /* whole number in [min, max] */
    AC_CFG_DOUBLE,   /* number in [min, max] (or (min, max] with AC_CFG_MIN_EXCLUSIVE) */
    AC_CFG_STRING,   /* text of min..max bytes */
    AC_CFG_PATH,     /* file system path of min..max bytes */
    AC_CFG_ENUM,     /* one of names (any case); stores values[i] (or i) in an int */
    AC_CFG_SIZE_MIB, /* whole MiB in [min, max] (uint64_t); suffix M/MiB or G/GiB allowed */
    AC_CFG_MODE,     /* octal file mode in [min, max], written 0660 */
    AC_CFG_PEDESTAL, /* none | auto | a number of ADU in [min, max] (struct ac_cfg_pedestal) */
    AC_CFG_LIST,     /* comma-separated non-empty subset of names; stores a bit mask */
};

/* Flags of a table row. */
enum {
    AC_CFG_MIN_EXCLUSIVE = 1 << 0, /* DOUBLE: the minimum itself is not allowed */
    AC_CFG_NO_SLASH = 1 << 1,      /* STRING: '/' is not allowed (a file name suffix) */
};

/* [DAEMON] io_class. */
enum ac_io_class { AC_IO_IDLE = 0, AC_IO_BEST_EFFORT = 1, AC_IO_NONE = 2 };
/* [QUEUE] order: by session date, after the manual priority. */
enum ac_queue_order { AC_ORDER_NEWEST_FIRST = 0, AC_ORDER_OLDEST_FIRST = 1 };
/* [MASTERS] combine. */
enum ac_config_combine {
    AC_COMBINE_SIGMA_CLIP = 0,
    AC_COMBINE_WINSOR = 1,
    AC_COMBINE_MEDIAN = 2,
    AC_COMBINE_MEAN = 3
};

/* [CALIBRATION] required_masters bits. */
enum { AC_NEED_BIAS = 1 << 0, AC_NEED_DARK = 1 << 1, AC_NEED_FLAT = 1 << 2 };

/* [CALIBRATION] pedestal: mode is enum ac_pedestal_mode (calib.h); adu for FIXED. */
struct ac_cfg_pedestal {
    int mode;
    double adu;
};

/* Unix socket paths must fit sockaddr_un.sun_path (108 bytes with the NUL). */
#define AC_CONFIG_SOCKET_MAX 108
/* Big enough for ac_config_get_text of any key (a quoted 4095-byte path). */
#define AC_CONFIG_TEXT_MAX 4352

/* Every key, one field each, named as the key. See the table in config.c (or
 * docs/configuration.md) for defaults, ranges and meaning. */
struct ac_config {
    /* [AUTO_CALIBRATION] (AstroFiler's own keys) */
    bool enable_light_calibration;
    char calibration_output_suffix[64];
    bool preserve_original_files;
    bool auto_calibrate_on_master_creation;
    bool calibration_quality_check;
    double max_temperature_difference; /* C */
    /* [DAEMON] */
    char database[4096];
    char socket[AC_CONFIG_SOCKET_MAX];
    int socket_mode; /* permission bits, e.g. 0660; never o+w (ac_config_check) */
    int socket_idle_timeout_s;
    char reader_group[64]; /* "" = the socket file's group */
    char admin_group[64];  /* "" = the daemon's group */
    char state_dir[4096];
    char output_dir[4096];     /* "" = beside each raw light */
    char repository_dir[4096]; /* "" = none */
    char astrofiler_ini[4096]; /* "" = none; see io/conffile.h */
    char bucket_url[1024];     /* AstroFiler's cloud bucket; "" = none */
    int log_level;             /* syslog level, AC_LOG_ERR..AC_LOG_DEBUG (common/log.h) */
    int watch_interval_ms;
    int scan_interval_s;
    int drain_timeout_s;
    /* [WORKERS] */
    int workers;
    int max_in_flight; /* 0 = workers */
    uint64_t memory_budget_mib;
    uint64_t job_memory_mib;
    double max_load_per_cpu;   /* 0 = off */
    double cpu_pressure_limit; /* percent, 0 = off */
    int nice;
    int io_class; /* enum ac_io_class */
    uint64_t free_disk_reserve_mib;
    /* [CALIBRATION] */
    struct ac_cfg_pedestal pedestal;
    bool dark_optimize;
    double dark_max_scale;
    int dark_has_bias;   /* enum ac_tri (calib.h) */
    int flat_calibrated; /* enum ac_tri (calib.h) */
    double flat_floor;
    bool cosmetic;
    double cosmetic_sigma;
    bool compress;
    double quantize;
    unsigned required_masters; /* AC_NEED_* bits */
    /* [MATCHING] */
    double exposure_tolerance_s;
    double exposure_tolerance_pct;
    bool allow_later_masters;
    int max_master_age_days; /* 0 = unlimited */
    double site_utc_offset_h;
    /* [QUEUE] */
    int order; /* enum ac_queue_order */
    int max_attempts;
    int retry_backoff_s;
    int history_days;       /* astrocal_event rows older than this are pruned */
    int history_max_events; /* at most this many kept; 0 = no count bound */
    /* [INGEST] */
    char watch_dirs[4096]; /* comma-separated absolute folders; "" = off */
    double settle_s;
    int rescan_interval_s;
    bool type_from_path; /* frame type from the path when the header has none */
    /* [MASTERS] */
    bool build_masters;
    char masters_dir[4096];
    int min_files_per_master;
    double build_settle_s;
    int combine; /* enum ac_config_combine */
    double kappa_low, kappa_high;
    int iterations;
    bool dark_subtract_bias;
    double max_hot_fraction;
    double min_flat_level;
    double max_flat_level;
    /* [METRICS] */
    char textfile[4096]; /* "" = off */
    int interval_s;
    /* [NOTIFY] */
    char on_session_done[4096]; /* "" = none */
    char on_failure[4096];      /* "" = none */
    int notify_timeout_s;
    int notify_max_running;
    /* [CLOUD] (core/cloud.h maps catalogue URLs to the remote) */
    bool enabled;
    char remote[1024];
    char url_prefix[1024]; /* "" = gs://BUCKET from remote */
    char rclone_config[4096];
    char rclone_program[1024];
    bool upload_calibrated;
    bool download_missing;
    char cache_dir[4096]; /* "" = <state_dir>/cloud-cache */
    double cache_max_gib;
    char bwlimit[64];
    int transfers;
    int transfer_timeout_s;
    /* [QUALITY] (frame grading, core/grade.h) */
    bool grading;
    double fwhm_mad_k, fwhm_min_excess;
    double min_star_fraction, max_eccentricity, min_snr_fraction;
    double max_nonfinite_fraction, max_flat_residual;
    int min_session_frames;
};

/* One row of the table. */
typedef struct ac_config_entry {
    const char *section;      /* e.g. "WORKERS" */
    const char *key;          /* e.g. "workers"; unique across all sections */
    int type;                 /* enum ac_config_type */
    size_t offset, size;      /* of the field in struct ac_config */
    const char *def;          /* default, exactly as written after "key = " */
    double min, max;          /* numbers: range; STRING/PATH: length in bytes */
    const char *const *names; /* ENUM/LIST: allowed names, NULL-terminated */
    const int *values;        /* ENUM: value stored for names[i] (NULL: i); LIST: bits */
    unsigned flags;           /* AC_CFG_MIN_EXCLUSIVE, AC_CFG_NO_SLASH */
    bool reloadable;          /* SIGHUP / `reload` applies it; else only at start */
    const char *help;         /* what it does, one or two sentences */
} ac_config_entry_t;

/* Bounds of the table, for parsers that keep a value per key or section. */
#define AC_CONFIG_MAX_KEYS 256
#define AC_CONFIG_MAX_SECTIONS 16

/* ac_config_table returns the table (borrowed, static) and its length in *n (may be
 * NULL). Rows are grouped by section in file order. */
const ac_config_entry_t *ac_config_table(size_t *n);

/* ac_config_sections returns the section names in file order, NULL-terminated. */
const char *const *ac_config_sections(void);

/* ac_config_find returns the row for key (in section, or in any section when section is
 * NULL), or NULL. Exact, case-sensitive. */
const ac_config_entry_t *ac_config_find(const char *section, const char *key);

/* ac_config_type_name names a type for people ("boolean", "whole number", ...). */
const char *ac_config_type_name(int type);

/* ac_config_default fills every field with its table default. */
void ac_config_default(struct ac_config *c);

/* ac_config_parse parses INI text (len bytes, need not be NUL-terminated) on top of the
 * defaults: keys not in the text keep their default. source names the text in messages
 * ("astrocald.conf:12: ..."). Then checks the keys against each other (ac_config_check).
 * Returns 0 and fills *c, or AC_ECONFIG (-ENOMEM) with e set and *c unchanged. */
int ac_config_parse(struct ac_config *c, const char *text, size_t len, const char *source,
                    ac_err_t *e);

/* ac_config_parse_lines is ac_config_parse that also gives, for each row of the table (by
 * index), the line that set it in key_line (0: not in the text, the default). key_line
 * may be NULL; it is written only on success. */
int ac_config_parse_lines(struct ac_config *c, const char *text, size_t len, const char *source,
                          int key_line[AC_CONFIG_MAX_KEYS], ac_err_t *e);

/* ac_config_set_text validates text as the value of row en (quotes already removed) and
 * stores it in *c. The message names the key and what was expected, e.g. "workers:
 * expected a whole number from 1 to 64, got 'many'". Returns 0 or AC_ECONFIG (*c
 * unchanged). For command-line overrides; call ac_config_check afterwards. */
int ac_config_set_text(struct ac_config *c, const ac_config_entry_t *en, const char *text,
                       ac_err_t *e);

/* ac_config_check validates the rules that join keys or go beyond one value's range:
 * memory_budget_mib must hold at least one job (job_memory_mib); every watch_dirs folder is
 * absolute; socket_mode must not let others write (o+w would let every local user connect
 * to the control socket). Returns 0 or AC_ECONFIG naming the key. */
int ac_config_check(const struct ac_config *c, ac_err_t *e);

/* ac_config_get_text writes the value of row en in *c as it would appear after "key = "
 * (booleans True/False, numbers in their shortest exact form with a ".0" for whole
 * doubles, modes as 0660, lists as dark,flat; a string that is empty or has outer blanks
 * or quotes is written in double quotes), so that parsing it gives the same value.
 * Returns 0 or -ERANGE when size is too small (buf then holds a truncated text). */
int ac_config_get_text(const struct ac_config *c, const ac_config_entry_t *en, char *buf,
                       size_t size);

/* ac_config_equal says whether *a and *b hold the same value for row en. */
bool ac_config_equal(const struct ac_config *a, const struct ac_config *b,
                     const ac_config_entry_t *en);

/* ac_config_apply_reload copies into *live the reloadable keys whose value in *fresh
 * differs, and lists their names in changed; the keys that cannot change without a restart
 * and differ are left as they are and listed in ignored. Lists are key names separated by
 * ", " ("" when none), cut with "..." when the buffer is short; either buffer may be NULL
 * with size 0. Returns the number of keys changed (>= 0). */
int ac_config_apply_reload(struct ac_config *live, const struct ac_config *fresh, char *changed,
                           size_t changed_size, char *ignored, size_t ignored_size);

/* ac_config_dump writes every key of *c to f in INI form (sections in order, one
 * "key = value" per line), a file ac_config_parse reads back to the same values. Returns 0
 * or -EIO. */
int ac_config_dump(const struct ac_config *c, FILE *f);

/* ac_config_to_calib_opts fills *o from the [CALIBRATION] keys and
 * max_temperature_difference, starting from ac_calib_opts_default (force stays false).
 * Returns 0. */
int ac_config_to_calib_opts(const struct ac_config *c, ac_calib_opts_t *o);

/* ac_config_to_grade_rules fills *r from the [QUALITY] keys. */
struct ac_grade_rules;
void ac_config_to_grade_rules(const struct ac_config *c, struct ac_grade_rules *r);

#endif
