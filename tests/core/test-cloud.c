/*
 * test-cloud.c - cloud sync's pure part (daemon/core/cloud.c): AstroFiler's layout
 * (relative to the repository, else the base name, as cloud_sync_dialog.py does), catalogue
 * URLs to remote paths and back (gs://BUCKET from gcs:BUCKET, other schemes by prefix), the
 * rclone argument vectors, and rclone's real messages (captured from rclone 1.60 against
 * `rclone serve webdav`) classified. Expected values written out by hand.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cloud.h"
#include "test.h"

static struct ac_config cfg_with(const char *remote, const char *prefix)
{
    struct ac_config c;

    ac_config_default(&c);
    snprintf(c.remote, sizeof c.remote, "%s", remote);
    snprintf(c.url_prefix, sizeof c.url_prefix, "%s", prefix);
    return c;
}

TEST(cloud_rel_follows_astrofiler_layout)
{
    char out[256];

    ASSERT_OK(ac_cloud_rel("/srv/repo", "/srv/repo/Light/M31/a.fits", out, sizeof out));
    ASSERT_STR_EQ(out, "Light/M31/a.fits");
    ASSERT_OK(ac_cloud_rel("/srv/repo/", "/srv/repo/Masters/b.fits", out, sizeof out));
    ASSERT_STR_EQ(out, "Masters/b.fits");
    /* Outside the repository (or a name that merely starts like it): the base name. */
    ASSERT_OK(ac_cloud_rel("/srv/repo", "/srv/repository2/c.fits", out, sizeof out));
    ASSERT_STR_EQ(out, "c.fits");
    ASSERT_OK(ac_cloud_rel("", "/data/d.fits", out, sizeof out));
    ASSERT_STR_EQ(out, "d.fits");
    ASSERT_EQ(ac_cloud_rel("/srv", "/srv/a/very/long/name.fits", out, 8), -ENAMETOOLONG);
}

TEST(cloud_urls_map_to_the_remote_and_back)
{
    struct ac_config c = cfg_with("gcs:astrofiler-repository", "");
    char out[512];
    ac_err_t e = {0};

    ASSERT_OK(ac_cloud_prefix(&c, out, sizeof out, &e));
    ASSERT_STR_EQ(out, "gs://astrofiler-repository");
    ASSERT_OK(ac_cloud_url(&c, "Light/a.fits", out, sizeof out, &e));
    ASSERT_STR_EQ(out, "gs://astrofiler-repository/Light/a.fits");
    ASSERT_OK(ac_cloud_remote_path(&c, "Light/a.fits", out, sizeof out));
    ASSERT_STR_EQ(out, "gcs:astrofiler-repository/Light/a.fits");
    ASSERT_OK(ac_cloud_url_to_remote(&c, "gs://astrofiler-repository/Light/a.fits", out,
                                     sizeof out, &e));
    ASSERT_STR_EQ(out, "gcs:astrofiler-repository/Light/a.fits");
    /* Another bucket, another scheme, a climb out: refused with the reason. */
    ASSERT_EQ(ac_cloud_url_to_remote(&c, "gs://other/Light/a.fits", out, sizeof out, &e),
              -EINVAL);
    ASSERT_CONTAINS(e.msg, "not under 'gs://astrofiler-repository/'");
    ASSERT_EQ(ac_cloud_url_to_remote(&c, "gs://astrofiler-repository", out, sizeof out, &e),
              -EINVAL);
    ASSERT_EQ(
        ac_cloud_url_to_remote(&c, "gs://astrofiler-repository/a/../../x", out, sizeof out, &e),
        -EINVAL);
    /* A bucket's sub-folder, and an explicit prefix for S3. */
    c = cfg_with("gcs:bucket/astro/", "");
    ASSERT_OK(ac_cloud_url(&c, "x.fits", out, sizeof out, &e));
    ASSERT_STR_EQ(out, "gs://bucket/astro/x.fits");
    ASSERT_OK(ac_cloud_remote_path(&c, "/x.fits", out, sizeof out));
    ASSERT_STR_EQ(out, "gcs:bucket/astro/x.fits");
    c = cfg_with("s3:observatory", "s3://observatory/");
    ASSERT_OK(ac_cloud_url_to_remote(&c, "s3://observatory/L/y.fits", out, sizeof out, &e));
    ASSERT_STR_EQ(out, "s3:observatory/L/y.fits");
    /* AstroFiler's bucket_url (from its ini) names the bucket the catalogue's URLs use,
     * unless url_prefix does; a bare name is a GCS bucket. */
    c = cfg_with("nas:", "");
    snprintf(c.bucket_url, sizeof c.bucket_url, "%s", "astrofiler-repository");
    ASSERT_OK(ac_cloud_prefix(&c, out, sizeof out, &e));
    ASSERT_STR_EQ(out, "gs://astrofiler-repository");
    snprintf(c.bucket_url, sizeof c.bucket_url, "%s", "gs://other-bucket/");
    ASSERT_OK(ac_cloud_url(&c, "L/z.fits", out, sizeof out, &e));
    ASSERT_STR_EQ(out, "gs://other-bucket/L/z.fits");
    c = cfg_with("nas:", "s3://x");
    snprintf(c.bucket_url, sizeof c.bucket_url, "%s", "ignored");
    ASSERT_OK(ac_cloud_prefix(&c, out, sizeof out, &e));
    ASSERT_STR_EQ(out, "s3://x");
    /* A remote that is a whole drive ("nas:") needs a prefix; a local folder is file://. */
    c = cfg_with("nas:", "");
    memset(&e, 0, sizeof e);
    ASSERT_EQ(ac_cloud_prefix(&c, out, sizeof out, &e), AC_ECONFIG);
    ASSERT_CONTAINS(e.msg, "set url_prefix");
    ASSERT_OK(ac_cloud_remote_path(&c, "a/b.fits", out, sizeof out));
    ASSERT_STR_EQ(out, "nas:a/b.fits");
    c = cfg_with("/srv/backup/", "");
    ASSERT_OK(ac_cloud_url(&c, "a.fits", out, sizeof out, &e));
    ASSERT_STR_EQ(out, "file:///srv/backup/a.fits");
    ASSERT_OK(ac_cloud_remote_path(&c, "a.fits", out, sizeof out));
    ASSERT_STR_EQ(out, "/srv/backup/a.fits");
}

TEST(cloud_argv_is_a_vector_with_the_options)
{
    struct ac_config c = cfg_with("dav:astro", "");
    const char *argv[AC_CLOUD_ARGV_MAX];
    int n;

    snprintf(c.rclone_config, sizeof c.rclone_config, "/etc/astrocald/rclone.conf");
    snprintf(c.bwlimit, sizeof c.bwlimit, "08:00,2M 20:00,off");
    n = ac_cloud_argv(&c, AC_CLOUD_COPYTO, "/data/a b.fits", "dav:astro/a b.fits", argv);
    ASSERT_STR_EQ(argv[0], "rclone");
    ASSERT_STR_EQ(argv[1], "--config");
    ASSERT_STR_EQ(argv[2], "/etc/astrocald/rclone.conf");
    ASSERT_STR_EQ(argv[3], "--bwlimit");
    ASSERT_STR_EQ(argv[4], "08:00,2M 20:00,off"); /* one argument, spaces and all */
    ASSERT_STR_EQ(argv[n - 4], "copyto");
    ASSERT_STR_EQ(argv[n - 3], "--"); /* a file named like an option stays a file */
    ASSERT_STR_EQ(argv[n - 2], "/data/a b.fits");
    ASSERT_STR_EQ(argv[n - 1], "dav:astro/a b.fits");
    ASSERT_NULL(argv[n]);
    n = ac_cloud_argv(&c, AC_CLOUD_STAT, "dav:astro/x", "sha256", argv);
    ASSERT_STR_EQ(argv[n - 5], "--stat");
    ASSERT_STR_EQ(argv[n - 4], "--hash-type");
    ASSERT_STR_EQ(argv[n - 3], "sha256");
    c.rclone_config[0] = c.bwlimit[0] = '\0';
    n = ac_cloud_argv(&c, AC_CLOUD_LSF, "dav:astro", NULL, argv);
    ASSERT_STR_EQ(argv[1], "--retries=1");
    ASSERT_STR_EQ(argv[n - 1], "dav:astro");
    ASSERT(n < AC_CLOUD_ARGV_MAX);
}

TEST(cloud_classifies_rclone_messages)
{
    char last[256];
    const char *unauth =
        "2026/12/07 10:56:57 ERROR : : error listing: couldn't list files: Unauthorized: 401 "
        "Unauthorized\n2026/12/07 10:56:57 Failed to lsf with 2 errors: last error was: error "
        "in ListJSON: couldn't list files: Unauthorized: 401 Unauthorized\n";
    const char *refused = "2026/12/07 10:56:57 Failed to lsf with 2 errors: last error was: "
                          "error in ListJSON: couldn't list files: Propfind "
                          "\"http://127.0.0.1:18766/\": dial tcp 127.0.0.1:18766: connect: "
                          "connection refused\n";

    ASSERT_EQ(ac_cloud_classify(0, ""), AC_CLOUD_FAULT_NONE);
    ASSERT_EQ(ac_cloud_classify(1, unauth), AC_CLOUD_FAULT_CREDENTIALS);
    ASSERT_EQ(ac_cloud_classify(3, "2026/12/07 10:56:57 ERROR : : error listing: directory not "
                                   "found\n"),
              AC_CLOUD_FAULT_NOT_FOUND);
    ASSERT_EQ(ac_cloud_classify(5, refused), AC_CLOUD_FAULT_NETWORK);
    ASSERT_EQ(ac_cloud_classify(1, "2026/12/07 10:56:57 Failed to create file system for "
                                   "\"nosuch:\": didn't find section in config file\n"),
              AC_CLOUD_FAULT_NO_REMOTE);
    ASSERT_EQ(ac_cloud_classify(7, "googleapi: Error 403: x does not have "
                                   "storage.objects.list access, forbidden"),
              AC_CLOUD_FAULT_PERMISSION);
    ASSERT_EQ(ac_cloud_classify(127, "cannot run rclone: no such file or directory"),
              AC_CLOUD_FAULT_NO_PROGRAM);
    ASSERT_EQ(ac_cloud_classify(2, "something odd"), AC_CLOUD_FAULT_OTHER);
    ASSERT(ac_cloud_fault_transient(AC_CLOUD_FAULT_NETWORK));
    ASSERT(!ac_cloud_fault_transient(AC_CLOUD_FAULT_CREDENTIALS));
    ASSERT_STR_EQ(ac_cloud_fault_text(AC_CLOUD_FAULT_CREDENTIALS), "bad credentials");
    ac_cloud_last_error(unauth, last, sizeof last);
    ASSERT_STR_EQ(last, "Failed to lsf with 2 errors: last error was: error in ListJSON: "
                        "couldn't list files: Unauthorized: 401 Unauthorized");
    ac_cloud_last_error("", last, sizeof last);
    ASSERT_STR_EQ(last, "");
}
