/*
 * test-journal.c - structured journal fields: ac_log_event hands its MESSAGE_ID, session
 * and file to the sink (log.h), the journal sink's field list (sdnotify.h), the queue's
 * "session done" message and the notification environment (notify.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "notify.h"
#include "queue.h"
#include "schema.h"
#include "sdnotify.h"
#include "test.h"

static char got_msg[1024], got_id[64], got_session[64], got_file[64];
static int got_level, got_plain;

static void capture(int level, const char *file, int line, const char *func, const char *msg)
{
    const ac_log_fields_t *f = ac_log_fields();

    (void)file, (void)line, (void)func;
    got_level = level;
    snprintf(got_msg, sizeof got_msg, "%s", msg);
    got_plain = f == NULL;
    snprintf(got_id, sizeof got_id, "%s", f && f->message_id ? f->message_id : "");
    snprintf(got_session, sizeof got_session, "%s", f && f->session ? f->session : "");
    snprintf(got_file, sizeof got_file, "%s", f && f->file ? f->file : "");
}

TEST(journal_event_fields_reach_the_sink_plain_messages_have_none)
{
    ac_log_set_sink(capture);
    ac_log_event(AC_LOG_ERR, AC_MSGID_FILE_FAILED, "S-1", "L-7", "light %s failed", "x");
    ASSERT_EQ(got_level, AC_LOG_ERR);
    ASSERT_STR_EQ(got_msg, "light x failed");
    ASSERT_EQ(got_plain, 0);
    ASSERT_STR_EQ(got_id, "be5a52b675a54f88a4b3a95402cf0c52");
    ASSERT_STR_EQ(got_session, "S-1");
    ASSERT_STR_EQ(got_file, "L-7");
    ac_log_info("plain");
    ASSERT_EQ(got_plain, 1);
    ASSERT(ac_log_fields() == NULL); /* outside a sink */
    ac_log_set_sink(NULL);
    /* Ids are 128-bit, lower-case hex, distinct. */
    const char *ids[] = {AC_MSGID_SESSION_DONE, AC_MSGID_SESSION_FAILED, AC_MSGID_FILE_FAILED,
                         AC_MSGID_MASTER_FAILED};
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(strlen(ids[i]), 32);
        ASSERT_EQ(strspn(ids[i], "0123456789abcdef"), 32);
        for (int j = 0; j < i; j++)
            ASSERT(strcmp(ids[i], ids[j]) != 0);
    }
    ASSERT_STR_EQ(ac_log_msgid_for_state("done"), AC_MSGID_SESSION_DONE);
    ASSERT_STR_EQ(ac_log_msgid_for_state("failed"), AC_MSGID_SESSION_FAILED);
    ASSERT_STR_EQ(ac_log_msgid_for_state("partial"), AC_MSGID_SESSION_FAILED);
}

TEST(journal_sink_sends_structured_fields)
{
    ac_sd_journal_entry_t je;
    ac_log_fields_t f = {AC_MSGID_SESSION_DONE, "S-1\nINJECTED=1", NULL};

    ac_sd_journal_fields(6, "queue.c", 42, "report", "session S-1 done", &f, &je);
    ASSERT_EQ(je.n, 8);
    ASSERT_STR_EQ(je.field[0], "MESSAGE=session S-1 done");
    ASSERT_STR_EQ(je.field[1], "PRIORITY=6");
    ASSERT_STR_EQ(je.field[2], "CODE_FILE=queue.c");
    ASSERT_STR_EQ(je.field[3], "CODE_LINE=42");
    ASSERT_STR_EQ(je.field[4], "CODE_FUNC=report");
    ASSERT_STR_EQ(je.field[5], "SYSLOG_IDENTIFIER=astrocald");
    ASSERT_STR_EQ(je.field[6], "MESSAGE_ID=3fb9b1c8cf00478d86a8b2b9f24da29c");
    /* A newline cannot smuggle in another field. */
    ASSERT_STR_EQ(je.field[7], "ASTROCAL_SESSION=S-1");
    ac_sd_journal_fields(4, "a.c", 1, "f", "plain", NULL, &je);
    ASSERT_EQ(je.n, 6);
}

TEST(journal_queue_session_done_message_is_structured)
{
    ac_db_t *db = ac_db_open("q.db", NULL, NULL);
    ac_queue_t q;
    const ac_qfile_add_t files[] = {{"f1", "/d/f1.fits", NULL}};
    ac_queue_plan_t p = {.session_id = "S-9",
                         .ready = true,
                         .session_date = "2024-10-01",
                         .files = files,
                         .nfiles = 1};
    ac_qfile_t f = {0};
    bool found = false;

    ASSERT_NOT_NULL(db);
    ASSERT_OK(ac_schema_prepare(db, NULL, NULL));
    ac_queue_init(&q, db);
    ASSERT_OK(ac_queue_plan(&q, &p, NULL, NULL));
    ASSERT_OK(ac_queue_claim(&q, 1e9, NULL, &f, &found, NULL));
    ASSERT(found);
    ac_queue_file_clear(&f);
    got_id[0] = '\0';
    ac_log_set_sink(capture);
    ASSERT_OK(ac_queue_finish(&q, "f1", AC_FILE_SKIPPED, "already calibrated", NAN, NULL));
    ac_log_set_sink(NULL);
    ASSERT_CONTAINS(got_msg, "session S-9 done");
    ASSERT_STR_EQ(got_id, AC_MSGID_SESSION_DONE);
    ASSERT_STR_EQ(got_session, "S-9");
    ASSERT_STR_EQ(got_file, "");
    ac_db_close(db);
}

TEST(journal_notify_environment_lists_the_facts_given)
{
    ac_notify_facts_t f;
    char *env[16];
    size_t n;
    char all[2048] = "";

    ac_notify_facts_init(&f);
    f.event = "session_done";
    f.session_id = "S-1";
    f.object = "M 31";
    f.state = "done";
    f.calibrated = 3;
    f.failed = 0;
    f.total = 3;
    f.output_dir = "/data/out";
    n = ac_notify_env(&f, env, 16);
    for (size_t i = 0; i < n; i++) {
        strcat(all, env[i]);
        strcat(all, "\n");
        free(env[i]);
    }
    ASSERT_EQ(n, 8);
    ASSERT_STR_EQ(all, "ASTROCAL_EVENT=session_done\nASTROCAL_SESSION=S-1\nASTROCAL_OBJECT=M "
                       "31\nASTROCAL_STATE=done\nASTROCAL_OUTPUT_DIR=/data/out\n"
                       "ASTROCAL_CALIBRATED=3\nASTROCAL_FAILED=0\nASTROCAL_TOTAL=3\n");
    f.fwhm_median = 2.5;
    n = ac_notify_env(&f, env, 16);
    ASSERT_EQ(n, 9);
    ASSERT_STR_EQ(env[8], "ASTROCAL_FWHM_MEDIAN=2.500");
    for (size_t i = 0; i < n; i++)
        free(env[i]);
}
