/*
 * test-proto.c - control protocol envelopes: line framing and its limit, request decoding
 * (duplicates, types, versions), encoders (one compact line, never a raw newline), error
 * code names, UTF-8 repair, the client-side reply decoder, and the class (read or change)
 * of every command, against docs/protocol.md.
 */
#include <errno.h>

#include "proto.h"
#include "test.h"

/* next_str takes the next line from f as a NUL-terminated copy in buf, or returns false. */
static bool next_str(ac_proto_framer_t *f, char *buf, size_t size)
{
    const char *line;
    size_t len;

    if (!ac_proto_framer_next(f, &line, &len))
        return false;
    ASSERT(len < size);
    memcpy(buf, line, len);
    buf[len] = '\0';
    return true;
}

TEST(proto_framer_splits_lines_across_feeds)
{
    ac_proto_framer_t f;
    char buf[64];

    ac_proto_framer_init(&f, 100);
    ASSERT_OK(ac_proto_framer_feed(&f, "{\"cmd\":", 7)); /* 7 bytes: {"cmd": */
    ASSERT(!next_str(&f, buf, sizeof buf));
    ASSERT_OK(ac_proto_framer_feed(&f, "\"status\"}\n{\"a\"", 14));
    ASSERT(next_str(&f, buf, sizeof buf));
    ASSERT_STR_EQ(buf, "{\"cmd\":\"status\"}");
    ASSERT(!next_str(&f, buf, sizeof buf));
    ASSERT_EQ(ac_proto_framer_pending(&f), 4); /* {"a" */
    ASSERT_OK(ac_proto_framer_feed(&f, ":1}\r\nx\n\n", 8));
    ASSERT(next_str(&f, buf, sizeof buf));
    ASSERT_STR_EQ(buf, "{\"a\":1}"); /* the '\r' is removed */
    ASSERT(next_str(&f, buf, sizeof buf));
    ASSERT_STR_EQ(buf, "x");
    ASSERT(next_str(&f, buf, sizeof buf));
    ASSERT_STR_EQ(buf, ""); /* an empty line is still a line */
    ASSERT(!next_str(&f, buf, sizeof buf));
    ASSERT_EQ(ac_proto_framer_pending(&f), 0);
    ASSERT(!ac_proto_framer_too_long(&f));
    ac_proto_framer_free(&f);
}

TEST(proto_framer_limit_is_exact)
{
    ac_proto_framer_t f;
    char line[12];
    const char *got;
    size_t len;

    /* max = 10: a 10-byte line passes, an 11-byte one does not. */
    ac_proto_framer_init(&f, 10);
    memcpy(line, "0123456789\n", 11);
    ASSERT_OK(ac_proto_framer_feed(&f, line, 11));
    ASSERT(ac_proto_framer_next(&f, &got, &len));
    ASSERT_EQ(len, 10);
    ASSERT_OK(ac_proto_framer_feed(&f, "01234", 5));
    ASSERT_OK(ac_proto_framer_feed(&f, "56789", 5)); /* 10 bytes, no newline yet: fine */
    ASSERT(!ac_proto_framer_too_long(&f));
    ASSERT_EQ(ac_proto_framer_feed(&f, "A", 1), AC_EPROTO); /* the 11th byte */
    ASSERT(ac_proto_framer_too_long(&f));
    /* Everything after is dropped, and memory stays bounded. */
    ASSERT_EQ(ac_proto_framer_feed(&f, "\nok\n", 4), AC_EPROTO);
    ASSERT(!ac_proto_framer_next(&f, &got, &len));
    ASSERT_EQ(ac_proto_framer_pending(&f), 0);
    ac_proto_framer_free(&f);
}

TEST(proto_framer_keeps_lines_before_an_oversized_one)
{
    ac_proto_framer_t f;
    char buf[64];
    char data[64];

    /* One chunk: a good line, then 9 bytes of a line when max is 8. */
    ac_proto_framer_init(&f, 8);
    memcpy(data, "first\nABCDEFGHI\nthird\n", 22);
    ASSERT_EQ(ac_proto_framer_feed(&f, data, 22), AC_EPROTO);
    ASSERT(ac_proto_framer_too_long(&f));
    ASSERT(next_str(&f, buf, sizeof buf));
    ASSERT_STR_EQ(buf, "first");
    ASSERT(!next_str(&f, buf, sizeof buf)); /* "third" came after: dropped */
    ac_proto_framer_free(&f);
}

TEST(proto_framer_full_size_request)
{
    ac_proto_framer_t f;
    const char *got;
    size_t len;
    char *big = malloc(AC_PROTO_MAX_LINE + 2);

    ASSERT_NOT_NULL(big);
    memset(big, 'x', AC_PROTO_MAX_LINE + 1);
    big[AC_PROTO_MAX_LINE] = '\n';
    ac_proto_framer_init(&f, AC_PROTO_MAX_LINE);
    /* Fed in odd pieces, a line of exactly 65536 bytes is accepted. */
    for (size_t off = 0; off < AC_PROTO_MAX_LINE + 1; off += 1000) {
        size_t n = AC_PROTO_MAX_LINE + 1 - off < 1000 ? AC_PROTO_MAX_LINE + 1 - off : 1000;
        ASSERT_OK(ac_proto_framer_feed(&f, big + off, n));
    }
    ASSERT(ac_proto_framer_next(&f, &got, &len));
    ASSERT_EQ(len, AC_PROTO_MAX_LINE);
    /* One more byte is too long. */
    big[AC_PROTO_MAX_LINE] = 'x';
    ASSERT_EQ(ac_proto_framer_feed(&f, big, AC_PROTO_MAX_LINE + 1), AC_EPROTO);
    ac_proto_framer_free(&f);
    free(big);
}

/* decode_fails decodes text and checks it fails with want_code and a message containing
 * want_msg. */
static void decode_fails(const char *text, int want_code, const char *want_msg)
{
    ac_proto_request_t req;
    ac_err_t e = {0};
    int code = -1;

    ASSERT_EQ(ac_proto_request_decode(text, strlen(text), &req, &code, &e), AC_EPROTO);
    if (code != want_code)
        AC_TEST_FAIL("%s: code %s, expected %s", text, ac_proto_code_name(code),
                     ac_proto_code_name(want_code));
    ASSERT_CONTAINS(e.msg, want_msg);
    ac_proto_request_free(&req);
}

TEST(proto_request_decode_ok)
{
    ac_proto_request_t req;
    ac_err_t e = {0};
    const char *text = "{\"v\":1,\"id\":7,\"cmd\":\"session\",\"args\":{\"id\":\"abc\"}}";
    int code = -1;

    ASSERT_OK(ac_proto_request_decode(text, strlen(text), &req, &code, &e));
    ASSERT_EQ(code, AC_PROTO_OK);
    ASSERT_STR_EQ(req.cmd, "session");
    ASSERT(json_is_integer(req.id));
    ASSERT_EQ(json_integer_value(req.id), 7);
    ASSERT_STR_EQ(json_string_value(json_object_get(req.args, "id")), "abc");
    ac_proto_request_free(&req);

    /* Minimal form: no v, string id, no args (an empty object is supplied). */
    text = "{\"id\":\"x-1\",\"cmd\":\"status\"}";
    ASSERT_OK(ac_proto_request_decode(text, strlen(text), &req, &code, &e));
    ASSERT_STR_EQ(json_string_value(req.id), "x-1");
    ASSERT(json_is_object(req.args));
    ASSERT_EQ(json_object_size(req.args), 0);
    ac_proto_request_free(&req);

    /* No id at all: id is json null; args null is the same as absent. */
    text = "{\"cmd\":\"status\",\"args\":null}";
    ASSERT_OK(ac_proto_request_decode(text, strlen(text), &req, &code, &e));
    ASSERT(json_is_null(req.id));
    ASSERT(json_is_object(req.args));
    ac_proto_request_free(&req);
}

TEST(proto_request_decode_errors)
{
    decode_fails("{\"cmd\":\"status\"", AC_PROTO_BAD_REQUEST, "malformed JSON");
    decode_fails("not json", AC_PROTO_BAD_REQUEST, "malformed JSON");
    decode_fails("[1,2]", AC_PROTO_BAD_REQUEST, "must be a JSON object");
    decode_fails("{\"cmd\":\"status\"} {}", AC_PROTO_BAD_REQUEST, "malformed JSON");
    decode_fails("{\"cmd\":\"status\",\"cmd\":\"version\"}", AC_PROTO_BAD_REQUEST, "duplicate");
    decode_fails("{\"id\":1,\"cmd\":\"a\",\"args\":{\"x\":1,\"x\":2}}", AC_PROTO_BAD_REQUEST,
                 "duplicate");
    decode_fails("{\"id\":1}", AC_PROTO_BAD_REQUEST, "missing cmd");
    decode_fails("{\"cmd\":5}", AC_PROTO_BAD_REQUEST, "cmd must be a non-empty string");
    decode_fails("{\"cmd\":\"\"}", AC_PROTO_BAD_REQUEST, "cmd must be a non-empty string");
    decode_fails("{\"cmd\":\"status\",\"args\":[]}", AC_PROTO_BAD_REQUEST,
                 "args must be an object");
    decode_fails("{\"cmd\":\"status\",\"id\":1.5}", AC_PROTO_BAD_REQUEST,
                 "id must be an integer or a string");
    decode_fails("{\"cmd\":\"status\",\"id\":[1]}", AC_PROTO_BAD_REQUEST, "id must be");
    decode_fails("{\"cmd\":\"status\",\"v\":\"1\"}", AC_PROTO_BAD_REQUEST,
                 "v must be an integer");
    decode_fails("{\"cmd\":\"status\",\"v\":2}", AC_PROTO_UNSUPPORTED_VERSION,
                 "protocol version 2 is not supported");
    decode_fails("{\"cmd\":\"status\",\"verbose\":true}", AC_PROTO_BAD_REQUEST,
                 "unknown request field 'verbose'");
    decode_fails("{\"cmd\":\"st\\u0000atus\"}", AC_PROTO_BAD_REQUEST, "malformed JSON");
}

TEST(proto_request_error_keeps_the_id)
{
    ac_proto_request_t req;
    int code;
    const char *text = "{\"id\":42,\"cmd\":\"status\",\"v\":3}";

    /* An error reply must be able to echo the id of the request it refuses. */
    ASSERT_EQ(ac_proto_request_decode(text, strlen(text), &req, &code, NULL), AC_EPROTO);
    ASSERT_EQ(code, AC_PROTO_UNSUPPORTED_VERSION);
    ASSERT_EQ(json_integer_value(req.id), 42);
    ac_proto_request_free(&req);
    text = "{\"id\":43,\"cmd\":17}";
    ASSERT_EQ(ac_proto_request_decode(text, strlen(text), &req, &code, NULL), AC_EPROTO);
    ASSERT_EQ(json_integer_value(req.id), 43);
    ac_proto_request_free(&req);
    ac_proto_request_free(&req); /* freeing twice is harmless */
}

TEST(proto_code_names)
{
    static const char *const names[] = {"bad_request",
                                        "too_long",
                                        "unsupported_version",
                                        "unknown_command",
                                        "bad_args",
                                        "not_found",
                                        "conflict",
                                        "busy",
                                        "internal",
                                        "not_allowed",
                                        "usage",
                                        "unavailable",
                                        "bad_reply",
                                        "fits",
                                        "format",
                                        "geometry",
                                        "metadata",
                                        "bad_master",
                                        "no_space",
                                        "cancelled",
                                        "config",
                                        "io"};

    ASSERT_EQ((int)(sizeof names / sizeof names[0]), AC_PROTO_NCODES - 1);
    for (int i = 0; i < AC_PROTO_NCODES - 1; i++) {
        ASSERT_STR_EQ(ac_proto_code_name(AC_PROTO_BAD_REQUEST + i), names[i]);
        ASSERT_EQ(ac_proto_code_parse(names[i]), AC_PROTO_BAD_REQUEST + i);
    }
    ASSERT_STR_EQ(ac_proto_code_name(0), "internal");
    ASSERT_STR_EQ(ac_proto_code_name(99), "internal");
    ASSERT_EQ(ac_proto_code_parse("nope"), -1);
    ASSERT_EQ(ac_proto_code_from_err(-ENOENT), AC_PROTO_NOT_FOUND);
    ASSERT_EQ(ac_proto_code_from_err(AC_EBUSY), AC_PROTO_BUSY);
    ASSERT_EQ(ac_proto_code_from_err(-EINVAL), AC_PROTO_BAD_ARGS);
    ASSERT_EQ(ac_proto_code_from_err(-EEXIST), AC_PROTO_CONFLICT);
    ASSERT_EQ(ac_proto_code_from_err(AC_EFITS), AC_PROTO_FITS);
    ASSERT_EQ(ac_proto_code_from_err(AC_EGEOMETRY), AC_PROTO_GEOMETRY);
    ASSERT_EQ(ac_proto_code_from_err(-ENOSPC), AC_PROTO_NO_SPACE);
    ASSERT_EQ(ac_proto_code_from_err(-EACCES), AC_PROTO_IO);
    ASSERT_EQ(ac_proto_code_from_err(-ENOMEM), AC_PROTO_INTERNAL);
    ASSERT_EQ(ac_proto_code_from_err(AC_ESQLITE), AC_PROTO_INTERNAL);
}

TEST(proto_commands_are_classified_read_or_change)
{
    static const char *const reads[] = {"version", "status",  "sessions", "session",
                                        "history", "masters", "plan",     "config",
                                        "watch",   "preview", "uploads",  "grade"};
    static const char *const changes[] = {
        "enqueue", "pause",       "resume", "cancel",         "retry",  "import", "reload",
        "use",     "recalibrate", "export", "import-results", "accept", "reject", "regrade"};

    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++)
        ASSERT_EQ(ac_proto_cmd_access(reads[i]), AC_PROTO_ACCESS_READ);
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++)
        ASSERT_EQ(ac_proto_cmd_access(changes[i]), AC_PROTO_ACCESS_CHANGE);
    /* Anything else (a typo, a command added without a row) needs the most. */
    ASSERT_EQ(ac_proto_cmd_access("Status"), AC_PROTO_ACCESS_CHANGE);
    ASSERT_EQ(ac_proto_cmd_access(""), AC_PROTO_ACCESS_CHANGE);
    ASSERT_EQ(ac_proto_cmd_access("frobnicate"), AC_PROTO_ACCESS_CHANGE);
}

/* Every command documented under its own heading in docs/protocol.md ("### `pause` and
 * `resume`") appears in the "Who may do what" table with the class the code gives it. */
TEST(proto_command_classes_match_the_protocol_doc)
{
    char path[4096], line[512], *table = NULL;
    FILE *f;
    int ncmds = 0;

    snprintf(path, sizeof path, "%s/docs/protocol.md", ac_test_srcdir());
    f = fopen(path, "r");
    ASSERT_NOT_NULL(f);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "| `version`", 11) == 0 || strncmp(line, "| `enqueue`", 11) == 0) {
            size_t n = table != NULL ? strlen(table) : 0;
            table = realloc(table, n + strlen(line) + 1);
            ASSERT_NOT_NULL(table);
            strcpy(table + n, line);
        }
    }
    ASSERT_NOT_NULL(table);
    rewind(f);
    while (fgets(line, sizeof line, f) != NULL) {
        char *p = line, *q, cmd[64], want[80];
        if (strncmp(line, "### `", 5) != 0)
            continue;
        while ((p = strchr(p, '`')) != NULL && (q = strchr(p + 1, '`')) != NULL) {
            snprintf(cmd, sizeof cmd, "%.*s", (int)(q - p - 1), p + 1);
            snprintf(want, sizeof want, "`%s`", cmd);
            const char *row = strstr(table, want);
            if (row == NULL)
                AC_TEST_FAIL("docs/protocol.md: %s is not in the Who may do what table", cmd);
            const char *cls = strstr(row, " | ");
            ASSERT_NOT_NULL(cls);
            ASSERT_EQ(strncmp(cls, " | read |", 9) == 0 ? AC_PROTO_ACCESS_READ
                                                        : AC_PROTO_ACCESS_CHANGE,
                      ac_proto_cmd_access(cmd));
            ncmds++;
            p = q + 1;
        }
    }
    fclose(f);
    free(table);
    ASSERT_EQ(ncmds, 26);
}

TEST(proto_encode_reply_and_error_exact)
{
    json_t *id = json_integer(7);
    json_t *res = json_pack("{s:s, s:i}", "version", "0.1.0", "protocol", 1);
    size_t len = 0;
    char *line;

    line = ac_proto_encode_reply(id, res, &len);
    ASSERT_STR_EQ(line, "{\"v\":1,\"id\":7,\"ok\":true,"
                        "\"result\":{\"version\":\"0.1.0\",\"protocol\":1}}\n");
    ASSERT_EQ(len, strlen(line));
    free(line);
    line = ac_proto_encode_error(id, AC_PROTO_NOT_FOUND, "no session 'abc'", &len);
    ASSERT_STR_EQ(line,
                  "{\"v\":1,\"id\":7,\"ok\":false,"
                  "\"error\":{\"code\":\"not_found\",\"message\":\"no session 'abc'\"}}\n");
    free(line);
    /* A NULL id and a NULL result. */
    line = ac_proto_encode_reply(NULL, NULL, &len);
    ASSERT_STR_EQ(line, "{\"v\":1,\"id\":null,\"ok\":true,\"result\":{}}\n");
    free(line);
    json_decref(id);
    /* Reals keep 15 significant digits: 0.58 stays 0.58. */
    line = ac_proto_encode_reply(NULL, json_pack("{s:f}", "p", 0.58), &len);
    ASSERT_STR_EQ(line, "{\"v\":1,\"id\":null,\"ok\":true,\"result\":{\"p\":0.58}}\n");
    free(line);
}

TEST(proto_encoders_never_emit_raw_newlines)
{
    json_t *res =
        json_pack("{s:s, s:[s]}", "text", "line one\nline two\r\n\ttab", "list", "a\nb");
    size_t len = 0;
    char *line;

    line = ac_proto_encode_reply(NULL, res, &len);
    ASSERT_NOT_NULL(line);
    ASSERT_EQ(strchr(line, '\n'), line + len - 1); /* the only newline ends the line */
    ASSERT_EQ(strchr(line, '\r'), NULL);
    ASSERT_CONTAINS(line, "\"line one\\nline two\\r\\n\\ttab\"");
    free(line);
    line = ac_proto_encode_error(NULL, AC_PROTO_INTERNAL, "two\nlines", &len);
    ASSERT_EQ(strchr(line, '\n'), line + len - 1);
    ASSERT_CONTAINS(line, "\"two\\nlines\"");
    free(line);
    line =
        ac_proto_encode_event("file_failed", json_pack("{s:s}", "error", "bad\nheader"), &len);
    ASSERT_EQ(strchr(line, '\n'), line + len - 1);
    free(line);
    line = ac_proto_encode_request(3, "import", json_pack("{s:s}", "dir", "/a\nb"), &len);
    ASSERT_STR_EQ(line,
                  "{\"v\":1,\"id\":3,\"cmd\":\"import\",\"args\":{\"dir\":\"/a\\nb\"}}\n");
    free(line);
}

TEST(proto_encode_event_shape)
{
    size_t len = 0;
    char *line = ac_proto_encode_event(
        "queue_state", json_pack("{s:s,s:n}", "state", "paused", "reason"), &len);
    json_t *o = json_loads(line, 0, NULL);
    const char *at;

    ASSERT_NOT_NULL(o);
    ASSERT_EQ(json_object_size(o), 4);
    ASSERT_EQ(json_integer_value(json_object_get(o, "v")), 1);
    ASSERT_STR_EQ(json_string_value(json_object_get(o, "event")), "queue_state");
    ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(o, "data"), "state")),
                  "paused");
    at = json_string_value(json_object_get(o, "at"));
    /* "YYYY-MM-DDTHH:MM:SSZ" */
    ASSERT_EQ(strlen(at), 20);
    ASSERT_EQ(at[10], 'T');
    ASSERT_EQ(at[19], 'Z');
    json_decref(o);
    free(line);
}

TEST(proto_string_repairs_utf8)
{
    json_t *s;

    s = ac_proto_string("M31 \xC3\xA9t\xC3\xA9"); /* valid: unchanged */
    ASSERT_STR_EQ(json_string_value(s), "M31 \xC3\xA9t\xC3\xA9");
    json_decref(s);
    /* Latin-1 byte, truncated sequence, overlong '/', surrogate: each byte -> U+FFFD. */
    s = ac_proto_string("a\xE9"
                        "b\xC3");
    ASSERT_STR_EQ(json_string_value(s), "a\xEF\xBF\xBD"
                                        "b\xEF\xBF\xBD");
    json_decref(s);
    s = ac_proto_string("\xC0\xAF");
    ASSERT_STR_EQ(json_string_value(s), "\xEF\xBF\xBD\xEF\xBF\xBD");
    json_decref(s);
    s = ac_proto_string("\xED\xA0\x80!");
    ASSERT_STR_EQ(json_string_value(s), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!");
    json_decref(s);
    s = ac_proto_string("\xF0\x9F\x94\xAD"); /* U+1F52D, 4 bytes, valid */
    ASSERT_EQ(json_string_length(s), 4);
    json_decref(s);
    ASSERT(json_is_null(ac_proto_string(NULL)));
}

TEST(proto_msg_decode)
{
    ac_proto_msg_t m;
    ac_err_t e = {0};
    const char *t;

    t = "{\"v\":1,\"id\":7,\"ok\":true,\"result\":{\"x\":1}}";
    ASSERT_OK(ac_proto_msg_decode(t, strlen(t), &m, &e));
    ASSERT_EQ(m.kind, AC_PROTO_MSG_REPLY);
    ASSERT(m.ok);
    ASSERT_EQ(json_integer_value(m.id), 7);
    ASSERT_EQ(json_integer_value(json_object_get(m.result, "x")), 1);
    ac_proto_msg_free(&m);

    t = "{\"v\":1,\"id\":8,\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"locked\"}}";
    ASSERT_OK(ac_proto_msg_decode(t, strlen(t), &m, &e));
    ASSERT(!m.ok);
    ASSERT_STR_EQ(m.error_code, "busy");
    ASSERT_STR_EQ(m.error_message, "locked");
    ac_proto_msg_free(&m);

    t = "{\"v\":1,\"event\":\"file_done\",\"at\":\"2026-01-01T00:00:00Z\",\"data\":{\"s\":2}}";
    ASSERT_OK(ac_proto_msg_decode(t, strlen(t), &m, &e));
    ASSERT_EQ(m.kind, AC_PROTO_MSG_EVENT);
    ASSERT_STR_EQ(m.event, "file_done");
    ASSERT_EQ(json_integer_value(json_object_get(m.data, "s")), 2);
    ac_proto_msg_free(&m);

    t = "{\"v\":1,\"id\":1}";
    ASSERT_EQ(ac_proto_msg_decode(t, strlen(t), &m, &e), AC_EPROTO);
    ASSERT_CONTAINS(e.msg, "without a boolean 'ok'");
    ac_proto_msg_free(&m);
    ac_err_clear(&e);
    t = "{\"v\":2,\"ok\":true,\"result\":{}}";
    ASSERT_EQ(ac_proto_msg_decode(t, strlen(t), &m, &e), AC_EPROTO);
    ASSERT_CONTAINS(e.msg, "another protocol version");
    ac_proto_msg_free(&m);
}
