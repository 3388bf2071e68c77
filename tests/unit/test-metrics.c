/*
 * test-metrics.c - the Prometheus text file (serve/metrics.c): the text for a known
 * snapshot, checked line by line and by Prometheus's own `promtool check metrics`.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "test.h"

/* observe adds one file of s seconds to the histogram, as the scheduler does. */
static void observe(ac_sched_stats_t *st, double s)
{
    int b = 0;

    while (b < AC_SCHED_NBUCKETS && s > ac_sched_seconds_le[b])
        b++;
    st->seconds_bucket[b]++;
    st->seconds_count++;
    st->seconds_sum += s;
}

/* promtool_check runs `promtool check metrics` on text; skipped without promtool unless
 * AC_REQUIRE_PROMTOOL is set (CI sets it). */
static void promtool_check(const char *text, size_t len)
{
    FILE *f;
    int rc;

    if (access("/usr/bin/promtool", X_OK) != 0) {
        if (getenv("AC_REQUIRE_PROMTOOL") != NULL)
            AC_TEST_FAIL("promtool (Debian package prometheus) is required but not installed");
        printf("note: promtool not installed, check skipped\n");
        return;
    }
    f = fopen("m.prom", "w");
    ASSERT_NOT_NULL(f);
    ASSERT_EQ(fwrite(text, 1, len, f), len);
    fclose(f);
    /* Lint problems and format errors both make promtool exit non-zero. */
    rc = system("/usr/bin/promtool check metrics < m.prom > promtool.out 2>&1");
    if (rc != 0)
        system("cat promtool.out");
    ASSERT_EQ(rc, 0);
}

TEST(metrics_text_for_a_known_snapshot_passes_promtool)
{
    ac_metrics_snap_t s;
    size_t len = 0;
    char *text;

    memset(&s, 0, sizeof s);
    s.up = 1;
    s.version = "1.2.3";
    s.start_time_s = 1796644800;
    s.st.files_done = 3;
    s.st.files_failed = 1;
    s.st.files_retried = 2;
    s.st.bytes_read = 123456789;
    s.st.bytes_written = 987654321;
    s.st.masters_built = 4;
    observe(&s.st, 0.3);
    observe(&s.st, 1.5);
    observe(&s.st, 400);
    s.backoff_s = 12.5;
    s.have_counts = true;
    s.files[AC_FILE_PENDING] = 7;
    s.files[AC_FILE_DONE] = 3;
    s.sessions[AC_SESS_QUEUED] = 2;
    s.rate_fps = 0.75;
    s.in_flight = 2;
    s.ingest = true;
    s.ingest_registered = 40;
    s.ingest_duplicates = 5;
    text = ac_metrics_format(&s, &len);
    ASSERT_NOT_NULL(text);
    ASSERT_EQ(strlen(text), len);
    printf("%s", text);
    ASSERT_CONTAINS(text, "# TYPE astrocald_up gauge\nastrocald_up 1\n");
    ASSERT_CONTAINS(text, "astrocald_build_info{version=\"1.2.3\"} 1\n");
    ASSERT_CONTAINS(text, "# TYPE astrocald_files_processed_total counter\n");
    ASSERT_CONTAINS(text, "astrocald_files_processed_total{result=\"done\"} 3\n");
    ASSERT_CONTAINS(text, "astrocald_files_processed_total{result=\"failed\"} 1\n");
    ASSERT_CONTAINS(text, "astrocald_files_processed_total{result=\"retried\"} 2\n");
    ASSERT_CONTAINS(text, "astrocald_files{state=\"pending\"} 7\n");
    ASSERT_CONTAINS(text, "astrocald_sessions{state=\"queued\"} 2\n");
    ASSERT_CONTAINS(text, "astrocald_queue_depth 7\n");
    ASSERT_CONTAINS(text, "astrocald_frames_per_second 0.75\n");
    ASSERT_CONTAINS(text, "astrocald_read_bytes_total 123456789\n");
    ASSERT_CONTAINS(text, "astrocald_written_bytes_total 987654321\n");
    /* Cumulative buckets: 0.3 in le=0.5, 1.5 in le=2, 400 only in +Inf. */
    ASSERT_CONTAINS(text, "astrocald_file_duration_seconds_bucket{le=\"0.5\"} 1\n"
                          "astrocald_file_duration_seconds_bucket{le=\"1\"} 1\n"
                          "astrocald_file_duration_seconds_bucket{le=\"2\"} 2\n");
    ASSERT_CONTAINS(text, "astrocald_file_duration_seconds_bucket{le=\"300\"} 2\n"
                          "astrocald_file_duration_seconds_bucket{le=\"+Inf\"} 3\n"
                          "astrocald_file_duration_seconds_sum 401.80000000000001\n"
                          "astrocald_file_duration_seconds_count 3\n");
    ASSERT_CONTAINS(text, "astrocald_masters_built_total{result=\"registered\"} 4\n");
    ASSERT_CONTAINS(text, "astrocald_ingest_registered_total 40\n");
    ASSERT_CONTAINS(text, "astrocald_ingest_duplicates_total 5\n");
    ASSERT_CONTAINS(text, "astrocald_throttle_backoff_seconds_total 12.5\n");
    promtool_check(text, len);
    free(text);
}
