/*
 * proto.c - JSON-lines envelopes of the control protocol (see proto.h, docs/protocol.md).
 *
 * Owns nothing global. Every json_t built here is handed to the caller or released before
 * returning; every encoder's output is a malloc'd line the caller frees.
 */
#include "proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Real numbers keep 15 significant digits: enough for every figure we report, and 0.58 is
 * printed as 0.58 rather than 0.57999999999999996. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

static const char *const code_names[AC_PROTO_NCODES] = {
    [AC_PROTO_OK] = "ok",
    [AC_PROTO_BAD_REQUEST] = "bad_request",
    [AC_PROTO_TOO_LONG] = "too_long",
    [AC_PROTO_UNSUPPORTED_VERSION] = "unsupported_version",
    [AC_PROTO_UNKNOWN_COMMAND] = "unknown_command",
    [AC_PROTO_BAD_ARGS] = "bad_args",
    [AC_PROTO_NOT_FOUND] = "not_found",
    [AC_PROTO_CONFLICT] = "conflict",
    [AC_PROTO_BUSY] = "busy",
    [AC_PROTO_INTERNAL] = "internal",
    [AC_PROTO_NOT_ALLOWED] = "not_allowed",
    [AC_PROTO_USAGE] = "usage",
    [AC_PROTO_UNAVAILABLE] = "unavailable",
    [AC_PROTO_BAD_REPLY] = "bad_reply",
    [AC_PROTO_FITS] = "fits",
    [AC_PROTO_FORMAT] = "format",
    [AC_PROTO_GEOMETRY] = "geometry",
    [AC_PROTO_METADATA] = "metadata",
    [AC_PROTO_BAD_MASTER] = "bad_master",
    [AC_PROTO_NO_SPACE] = "no_space",
    [AC_PROTO_CANCELLED] = "cancelled",
    [AC_PROTO_CONFIG] = "config",
    [AC_PROTO_IO] = "io",
};

const char *ac_proto_code_name(int code)
{
    if (code <= AC_PROTO_OK || code >= AC_PROTO_NCODES)
        return "internal";
    return code_names[code];
}

void ac_proto_print_error(void *stream, int code, const char *message)
{
    json_t *o = json_pack("{s:{s:s,s:o}}", "error", "code", ac_proto_code_name(code), "message",
                          ac_proto_string(message));
    char *s = o != NULL ? json_dumps(o, DUMP_FLAGS) : NULL;

    fprintf(stream, "%s\n", s != NULL ? s : "null");
    fflush(stream);
    free(s);
    json_decref(o);
}

int ac_proto_code_parse(const char *name)
{
    for (int i = AC_PROTO_BAD_REQUEST; i < AC_PROTO_NCODES; i++)
        if (strcmp(name, code_names[i]) == 0)
            return i;
    return -1;
}

int ac_proto_code_from_err(int err)
{
    switch (err) {
    case -ENOENT:
        return AC_PROTO_NOT_FOUND;
    case AC_EBUSY:
    case -EBUSY:
    case -EAGAIN:
        return AC_PROTO_BUSY;
    case -EINVAL:
    case AC_EUSAGE:
        return AC_PROTO_BAD_ARGS;
    case AC_EPROTO:
        return AC_PROTO_BAD_REQUEST;
    case -EEXIST:
    case -EALREADY:
        return AC_PROTO_CONFLICT;
    case AC_EFITS:
        return AC_PROTO_FITS;
    case AC_EFORMAT:
        return AC_PROTO_FORMAT;
    case AC_EGEOMETRY:
        return AC_PROTO_GEOMETRY;
    case AC_EMETADATA:
        return AC_PROTO_METADATA;
    case AC_EMASTER:
        return AC_PROTO_BAD_MASTER;
    case AC_ENOSPACE:
    case -ENOSPC:
    case -EDQUOT:
        return AC_PROTO_NO_SPACE;
    case AC_ECANCELED:
    case -ECANCELED:
        return AC_PROTO_CANCELLED;
    case AC_ECONFIG:
        return AC_PROTO_CONFIG;
    case -ENOMEM:
        return AC_PROTO_INTERNAL;
    default:
        return err < 0 && err > -1000 ? AC_PROTO_IO : AC_PROTO_INTERNAL;
    }
}

/* Every command of docs/protocol.md and what it may do; the daemon's handlers are in
 * daemon/serve/ctlcmd.c. */
/* clang-format off */
static const ac_name_value_t commands[] = {
    {"version", AC_PROTO_ACCESS_READ},  {"status", AC_PROTO_ACCESS_READ},
    {"sessions", AC_PROTO_ACCESS_READ}, {"session", AC_PROTO_ACCESS_READ},
    {"masters", AC_PROTO_ACCESS_READ},  {"plan", AC_PROTO_ACCESS_READ},
    {"config", AC_PROTO_ACCESS_READ},   {"watch", AC_PROTO_ACCESS_READ},
    {"history", AC_PROTO_ACCESS_READ},  {"preview", AC_PROTO_ACCESS_READ},
    {"enqueue", AC_PROTO_ACCESS_CHANGE},
    {"pause", AC_PROTO_ACCESS_CHANGE},  {"resume", AC_PROTO_ACCESS_CHANGE},
    {"cancel", AC_PROTO_ACCESS_CHANGE}, {"retry", AC_PROTO_ACCESS_CHANGE},
    {"import", AC_PROTO_ACCESS_CHANGE}, {"reload", AC_PROTO_ACCESS_CHANGE},
    {"use", AC_PROTO_ACCESS_CHANGE},    {"recalibrate", AC_PROTO_ACCESS_CHANGE},
    {"uploads", AC_PROTO_ACCESS_READ},
    /* cluster reprocessing (docs/cluster.md) */
    {"export", AC_PROTO_ACCESS_CHANGE}, {"import-results", AC_PROTO_ACCESS_CHANGE},
    {"grade", AC_PROTO_ACCESS_READ},    {"accept", AC_PROTO_ACCESS_CHANGE},
    {"reject", AC_PROTO_ACCESS_CHANGE}, {"regrade", AC_PROTO_ACCESS_CHANGE},
};
/* clang-format on */

int ac_proto_cmd_access(const char *cmd)
{
    return ac_name_value(commands, sizeof commands / sizeof commands[0], cmd, false,
                         AC_PROTO_ACCESS_CHANGE);
}

/* ---- framing ---------------------------------------------------------------------------- */

void ac_proto_framer_init(ac_proto_framer_t *f, size_t max)
{
    memset(f, 0, sizeof *f);
    f->max = max;
}

void ac_proto_framer_free(ac_proto_framer_t *f)
{
    free(f->buf);
    memset(f, 0, sizeof *f);
}

/* append copies n bytes to the end of the buffer, first sliding out taken lines. */
static int append(ac_proto_framer_t *f, const char *data, size_t n)
{
    if (f->start == f->len) {
        f->start = f->tail = f->len = 0;
    } else if (f->start > 0 && f->cap - f->len < n) {
        memmove(f->buf, f->buf + f->start, f->len - f->start);
        f->tail -= f->start;
        f->len -= f->start;
        f->start = 0;
    }
    if (f->cap - f->len < n) {
        size_t cap = f->cap ? f->cap : 4096;
        char *nb;

        while (cap - f->len < n)
            cap *= 2;
        nb = realloc(f->buf, cap);
        if (nb == NULL)
            return -ENOMEM;
        f->buf = nb;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, data, n);
    f->len += n;
    return 0;
}

/* overflow enters the too_long state: the unfinished line is dropped, complete lines stay. */
static int overflow(ac_proto_framer_t *f)
{
    f->len = f->tail;
    f->too_long = true;
    return AC_EPROTO;
}

int ac_proto_framer_feed(ac_proto_framer_t *f, const char *data, size_t len)
{
    int rc;

    if (f->too_long)
        return AC_EPROTO;
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t seg = nl != NULL ? (size_t)(nl - data) + 1 : len;
        size_t line_len = (f->len - f->tail) + (nl != NULL ? seg - 1 : seg);

        if (line_len > f->max)
            return overflow(f);
        rc = append(f, data, seg);
        if (rc < 0)
            return rc;
        if (nl != NULL)
            f->tail = f->len;
        data += seg;
        len -= seg;
    }
    return 0;
}

bool ac_proto_framer_next(ac_proto_framer_t *f, const char **line, size_t *len)
{
    const char *p, *nl;
    size_t n;

    if (f->start >= f->tail)
        return false;
    p = f->buf + f->start;
    nl = memchr(p, '\n', f->tail - f->start);
    if (nl == NULL) /* Cannot happen: [start, tail) ends with '\n'. */
        return false;
    n = (size_t)(nl - p);
    if (n > 0 && p[n - 1] == '\r')
        n--;
    f->start = (size_t)(nl - f->buf) + 1;
    *line = p;
    *len = n;
    return true;
}

bool ac_proto_framer_too_long(const ac_proto_framer_t *f)
{
    return f->too_long;
}

size_t ac_proto_framer_pending(const ac_proto_framer_t *f)
{
    return f->len - f->start;
}

/* ---- strings ---------------------------------------------------------------------------- */

/* utf8_len returns the length of the valid UTF-8 sequence at s (n bytes available), or 0
 * when it is invalid (bad lead or continuation byte, overlong form, surrogate, > U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t need;
    unsigned cp, min;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

json_t *ac_proto_string(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n, i = 0, o = 0;
    char *clean;
    json_t *j;

    if (s == NULL)
        return json_null();
    n = strlen(s);
    while (i < n) {
        size_t k = utf8_len(p + i, n - i);
        if (k == 0)
            break;
        i += k;
    }
    if (i == n)
        return json_stringn_nocheck(s, n);
    /* Invalid bytes: each becomes U+FFFD (3 bytes), so 3n bytes always suffice. */
    clean = malloc(3 * n + 1);
    if (clean == NULL)
        return NULL;
    for (i = 0; i < n;) {
        size_t k = utf8_len(p + i, n - i);
        if (k == 0) {
            memcpy(clean + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(clean + o, s + i, k);
            o += k;
            i += k;
        }
    }
    j = json_stringn_nocheck(clean, o);
    free(clean);
    return j;
}

/* ---- requests --------------------------------------------------------------------------- */

void ac_proto_request_free(ac_proto_request_t *req)
{
    json_decref(req->root);
    memset(req, 0, sizeof *req);
    req->id = json_null();
}

/* FAIL records the protocol code and the message, and returns AC_EPROTO. */
#define FAIL(c, ...)                                                                           \
    do {                                                                                       \
        *code = (c);                                                                           \
        return ac_err_set(e, AC_EPROTO, __VA_ARGS__);                                          \
    } while (0)

int ac_proto_request_decode(const char *line, size_t len, ac_proto_request_t *req, int *code,
                            ac_err_t *e)
{
    json_error_t jerr;
    json_t *root, *id, *v, *cmd, *args;
    const char *key;
    json_t *val;

    memset(req, 0, sizeof *req);
    req->id = json_null();
    *code = AC_PROTO_OK;
    root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        FAIL(AC_PROTO_BAD_REQUEST, "malformed JSON at column %d: %s", jerr.column, jerr.text);
    }
    req->root = root;
    if (!json_is_object(root))
        FAIL(AC_PROTO_BAD_REQUEST, "a request must be a JSON object");
    id = json_object_get(root, "id");
    if (id != NULL && !json_is_null(id)) {
        if (!json_is_integer(id) && !json_is_string(id))
            FAIL(AC_PROTO_BAD_REQUEST, "id must be an integer or a string");
        req->id = id;
    }
    v = json_object_get(root, "v");
    if (v != NULL && !json_is_integer(v))
        FAIL(AC_PROTO_BAD_REQUEST, "v must be an integer");
    if (v != NULL && json_integer_value(v) != AC_PROTO_VERSION)
        FAIL(AC_PROTO_UNSUPPORTED_VERSION,
             "protocol version %lld is not supported (this daemon speaks %d)",
             (long long)json_integer_value(v), AC_PROTO_VERSION);
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "v") != 0 && strcmp(key, "id") != 0 && strcmp(key, "cmd") != 0 &&
            strcmp(key, "args") != 0)
            FAIL(AC_PROTO_BAD_REQUEST, "unknown request field '%s'", key);
    }
    cmd = json_object_get(root, "cmd");
    if (cmd == NULL)
        FAIL(AC_PROTO_BAD_REQUEST, "missing cmd");
    if (!json_is_string(cmd) || json_string_length(cmd) == 0)
        FAIL(AC_PROTO_BAD_REQUEST, "cmd must be a non-empty string");
    args = json_object_get(root, "args");
    if (args == NULL || json_is_null(args)) {
        /* root keeps the empty object alive; args stays borrowed like the others. */
        args = json_object();
        if (args == NULL || json_object_set_new(root, "args", args) < 0) {
            *code = AC_PROTO_INTERNAL;
            return ac_err_set(e, -ENOMEM, "out of memory decoding a request");
        }
    } else if (!json_is_object(args)) {
        FAIL(AC_PROTO_BAD_REQUEST, "args must be an object");
    }
    req->cmd = json_string_value(cmd);
    req->args = args;
    return 0;
}

/* ---- encoders --------------------------------------------------------------------------- */

/* dump_line serialises obj (taken) into a malloc'd line ending in '\n'. */
static char *dump_line(json_t *obj, size_t *len)
{
    char *s, *line;
    size_t n;

    if (obj == NULL)
        return NULL;
    s = json_dumps(obj, DUMP_FLAGS);
    json_decref(obj);
    if (s == NULL)
        return NULL;
    n = strlen(s);
    line = realloc(s, n + 2);
    if (line == NULL) {
        free(s);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    if (len != NULL)
        *len = n + 1;
    return line;
}

/* encode_message encodes {"v":1, keys[0]: vals[0], keys[1]: vals[1], keys[2]: vals[2]} as one
 * line (dump_line). The values are taken, also when it fails; a NULL value makes it fail. */
static char *encode_message(const char *const keys[3], json_t *vals[3], size_t *len)
{
    json_t *o = json_object();
    bool bad = o == NULL || json_object_set_new(o, "v", json_integer(AC_PROTO_VERSION)) < 0;

    for (int i = 0; i < 3; i++) {
        if (bad)
            json_decref(vals[i]);
        else /* set_new takes the value even when it fails */
            bad = json_object_set_new(o, keys[i], vals[i]) < 0;
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return dump_line(o, len);
}

/* reply_id is a reply's "id": the request's (borrowed, so a new reference), or null. */
static json_t *reply_id(json_t *id)
{
    return id != NULL ? json_incref(id) : json_null();
}

char *ac_proto_encode_request(long long id, const char *cmd, json_t *args, size_t *len)
{
    static const char *const keys[3] = {"id", "cmd", "args"};
    json_t *vals[3] = {json_integer(id), json_string(cmd), args != NULL ? args : json_object()};

    return encode_message(keys, vals, len);
}

char *ac_proto_encode_reply(json_t *id, json_t *result, size_t *len)
{
    static const char *const keys[3] = {"id", "ok", "result"};
    json_t *vals[3] = {reply_id(id), json_true(), result != NULL ? result : json_object()};

    return encode_message(keys, vals, len);
}

char *ac_proto_encode_error(json_t *id, int code, const char *message, size_t *len)
{
    static const char *const keys[3] = {"id", "ok", "error"};
    json_t *err = json_object();

    if (err != NULL &&
        (json_object_set_new(err, "code", json_string(ac_proto_code_name(code))) < 0 ||
         json_object_set_new(err, "message", ac_proto_string(message ? message : "")) < 0)) {
        json_decref(err);
        err = NULL;
    }
    json_t *vals[3] = {reply_id(id), json_false(), err};
    return encode_message(keys, vals, len);
}

char *ac_proto_encode_event(const char *event, json_t *data, size_t *len)
{
    static const char *const keys[3] = {"event", "at", "data"};
    char at[40];

    ac_now_utc_iso(at, sizeof at - 1, 0);
    strcat(at, "Z");
    json_t *vals[3] = {json_string(event), json_string(at),
                       data != NULL ? data : json_object()};
    return encode_message(keys, vals, len);
}

/* ---- client side ------------------------------------------------------------------------ */

void ac_proto_msg_free(ac_proto_msg_t *msg)
{
    json_decref(msg->root);
    memset(msg, 0, sizeof *msg);
}

int ac_proto_msg_decode(const char *line, size_t len, ac_proto_msg_t *msg, ac_err_t *e)
{
    json_error_t jerr;
    json_t *root, *v, *ev, *ok, *err;

    memset(msg, 0, sizeof *msg);
    root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return ac_err_set(e, AC_EPROTO, "malformed JSON from the daemon at column %d: %s",
                          jerr.column, jerr.text);
    msg->root = root;
    if (!json_is_object(root))
        return ac_err_set(e, AC_EPROTO, "a message from the daemon is not a JSON object");
    v = json_object_get(root, "v");
    if (v != NULL && (!json_is_integer(v) || json_integer_value(v) != AC_PROTO_VERSION))
        return ac_err_set(e, AC_EPROTO, "the daemon speaks another protocol version");
    ev = json_object_get(root, "event");
    if (ev != NULL) {
        if (!json_is_string(ev))
            return ac_err_set(e, AC_EPROTO, "event name is not a string");
        msg->kind = AC_PROTO_MSG_EVENT;
        msg->event = json_string_value(ev);
        msg->data = json_object_get(root, "data");
        if (msg->data == NULL) {
            msg->data = json_object();
            json_object_set_new(root, "data", msg->data);
        }
        return 0;
    }
    ok = json_object_get(root, "ok");
    if (!json_is_boolean(ok))
        return ac_err_set(e, AC_EPROTO, "reply without a boolean 'ok'");
    msg->kind = AC_PROTO_MSG_REPLY;
    msg->ok = json_is_true(ok);
    msg->id = json_object_get(root, "id");
    if (msg->id == NULL)
        msg->id = json_null();
    if (msg->ok) {
        msg->result = json_object_get(root, "result");
        if (msg->result == NULL)
            return ac_err_set(e, AC_EPROTO, "successful reply without 'result'");
        return 0;
    }
    err = json_object_get(root, "error");
    if (!json_is_object(err) || !json_is_string(json_object_get(err, "code")))
        return ac_err_set(e, AC_EPROTO, "failure reply without error.code");
    msg->error_code = json_string_value(json_object_get(err, "code"));
    msg->error_message = json_string_value(json_object_get(err, "message"));
    if (msg->error_message == NULL)
        msg->error_message = "";
    return 0;
}
