/*
 * test-print-upload.c - astrocalctl's rendering of the cloud upload queue
 * (ctl/print_upload.c) on canned results written by hand from docs/protocol.md.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../../ctl/print.h"
#include "test.h"

static char *render(int (*fn)(FILE *, json_t *), const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    ASSERT_NOT_NULL(j);
    ASSERT_NOT_NULL(f);
    ASSERT_EQ(fn(f, j), 0);
    fclose(f);
    json_decref(j);
    return buf;
}

TEST(print_upload_status_lines)
{
    char *got = render(ac_print_uploads_line,
                       "{\"enabled\":true,\"paused\":false,\"upload_calibrated\":true,"
                       "\"queued\":12,\"running\":1,\"done\":40,\"failed\":0,\"rate_bps\":"
                       "3100000,\"remote_name\":\"gcs:astro\",\"remote\":\"ok\","
                       "\"remote_error\":null,\"retry_in_s\":null}");

    ASSERT_STR_EQ(got, "uploads: 12 queued, 1 running, 0 failed, 3.1 MB/s\n"
                       "remote   gcs:astro: ok\n");
    free(got);
    got = render(ac_print_uploads_line,
                 "{\"enabled\":true,\"paused\":true,\"upload_calibrated\":true,\"queued\":3,"
                 "\"running\":0,\"done\":0,\"failed\":2,\"rate_bps\":0,\"remote_name\":"
                 "\"dav:astro\",\"remote\":\"bad credentials\",\"remote_error\":\"bad "
                 "credentials: 401 Unauthorized\",\"retry_in_s\":7.6}");
    ASSERT_STR_EQ(got, "uploads: 3 queued, 0 running, 2 failed, 0 B/s (paused)\n"
                       "remote   dav:astro: bad credentials (bad credentials: 401 "
                       "Unauthorized; next try in 8 s)\n");
    free(got);
    got = render(ac_print_uploads_line, "{\"enabled\":false}");
    ASSERT_STR_EQ(got, "uploads: cloud sync off\n");
    free(got);
    got = render(ac_print_downloads_line,
                 "{\"queued\":2,\"running\":1,\"failed\":0,\"cached\":3,\"cached_bytes\":"
                 "314572800,\"max_bytes\":21474836480,\"last_error\":null}");
    ASSERT_STR_EQ(got, "fetches: 2 queued, 1 running, 0 failed, cache 300 MiB of 20.0 GiB\n");
    free(got);
}

TEST(print_upload_table)
{
    char *got =
        render(ac_print_uploads,
               "{\"enabled\":true,\"paused\":false,\"upload_calibrated\":true,"
               "\"queued\":1,\"running\":0,\"done\":1,\"failed\":0,\"rate_bps\":1500,"
               "\"remote_name\":\"s3:obs\",\"remote\":\"network error\","
               "\"remote_error\":\"network error: connection refused\",\"retry_in_s\":"
               "30,\"uploads\":[{\"id\":2,\"kind\":\"file\",\"ref\":\"f2\",\"path\":"
               "\"/r/L/b_calibrated.fits\",\"state\":\"pending\",\"attempts\":1,"
               "\"error\":\"network error: connection refused\",\"url\":null,"
               "\"bytes\":null,\"seconds\":null,\"finished_at\":null},{\"id\":1,"
               "\"kind\":\"master\",\"ref\":\"7\",\"path\":\"/r/Masters/m.fits\","
               "\"state\":\"done\",\"attempts\":1,\"error\":null,\"url\":\"s3://obs/"
               "Masters/m.fits\",\"bytes\":10,\"seconds\":0.5,\"finished_at\":\"x\"}]}");

    ASSERT_STR_EQ(got,
                  "uploads: 1 queued, 0 running, 0 failed, 1.5 kB/s\n"
                  "remote   s3:obs: network error (network error: connection refused; next "
                  "try in 30 s)\n"
                  "\n"
                  "STATE    KIND    TRY  FILE                                     URL / ERROR\n"
                  "pending  file      1  b_calibrated.fits                        network "
                  "error: connection refused\n"
                  "done     master    1  m.fits                                   "
                  "s3://obs/Masters/m.fits\n");
    free(got);
}
