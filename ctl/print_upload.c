/*
 * print_upload.c - astrocalctl's rendering of the cloud upload queue: the `uploads:` line of
 * `status`, `pause uploads` / `resume uploads`, and the `uploads` table (print.h).
 * Thread: any (no global state).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "print.h"

static long long count(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

/* rate writes bytes per second as "3.1 MB/s" (decimal units, as rclone prints them). */
static const char *rate(char *buf, size_t size, double bps)
{
    if (bps >= 1e9)
        snprintf(buf, size, "%.1f GB/s", bps / 1e9);
    else if (bps >= 1e6)
        snprintf(buf, size, "%.1f MB/s", bps / 1e6);
    else if (bps >= 1e3)
        snprintf(buf, size, "%.1f kB/s", bps / 1e3);
    else
        snprintf(buf, size, "%.0f B/s", bps);
    return buf;
}

int ac_print_uploads_line(FILE *out, json_t *u)
{
    const char *remote, *err;
    char b[64];

    if (!json_is_object(u))
        return -EINVAL;
    if (!json_is_true(json_object_get(u, "enabled"))) {
        fputs("uploads: cloud sync off\n", out);
        return 0;
    }
    fprintf(out, "uploads: %lld queued, %lld running, %lld failed, %s", count(u, "queued"),
            count(u, "running"), count(u, "failed"),
            rate(b, sizeof b, json_number_value(json_object_get(u, "rate_bps"))));
    if (json_is_true(json_object_get(u, "paused")))
        fputs(" (paused)", out);
    else if (json_is_false(json_object_get(u, "upload_calibrated")))
        fputs(" (upload_calibrated = False)", out);
    remote = json_string_value(json_object_get(u, "remote"));
    err = json_string_value(json_object_get(u, "remote_error"));
    fprintf(out, "\nremote   %s: %s", json_string_value(json_object_get(u, "remote_name")),
            remote != NULL ? remote : "-");
    if (err != NULL)
        fprintf(out, " (%s; next try in %.0f s)", err,
                json_number_value(json_object_get(u, "retry_in_s")));
    fputc('\n', out);
    return 0;
}

int ac_print_downloads_line(FILE *out, json_t *d)
{
    char b1[64], b2[64];

    if (!json_is_object(d))
        return -EINVAL;
    fprintf(out, "fetches: %lld queued, %lld running, %lld failed, cache %s of %s\n",
            count(d, "queued"), count(d, "running"), count(d, "failed"),
            ac_print_mib(b1, sizeof b1, json_number_value(json_object_get(d, "cached_bytes"))),
            ac_print_mib(b2, sizeof b2, json_number_value(json_object_get(d, "max_bytes"))));
    return 0;
}

int ac_print_uploads(FILE *out, json_t *r)
{
    json_t *list = json_object_get(r, "uploads"), *w;
    size_t i;
    int rc = ac_print_uploads_line(out, r);

    if (rc != 0 || !json_is_array(list))
        return rc;
    if (json_array_size(list) == 0) {
        fputs("\nnothing to upload\n", out);
        return 0;
    }
    fprintf(out, "\n%-8s %-7s %3s  %-40s %s\n", "STATE", "KIND", "TRY", "FILE", "URL / ERROR");
    json_array_foreach(list, i, w)
    {
        const char *path = json_string_value(json_object_get(w, "path"));
        const char *slash = path != NULL ? strrchr(path, '/') : NULL;
        const char *url = json_string_value(json_object_get(w, "url"));
        const char *err = json_string_value(json_object_get(w, "error"));

        fprintf(out, "%-8s %-7s %3lld  %-40s %s\n",
                json_string_value(json_object_get(w, "state")),
                json_string_value(json_object_get(w, "kind")), count(w, "attempts"),
                slash != NULL ? slash + 1 : (path != NULL ? path : "-"),
                url != NULL ? url : (err != NULL ? err : "-"));
    }
    return 0;
}
