/*
 * proto.h - the astrocald control protocol (docs/protocol.md): JSON lines, version 1.
 *
 * Shared by the daemon (daemon/serve/ctlsrv.c, daemon/serve/ctlcmd.c) and astrocalctl. It knows
 * the envelopes only: line framing with a length limit, request decoding and validation, and
 * the encoders for requests, replies, errors and events. What each command means is in
 * ctlcmd.c and docs/protocol.md.
 *
 * Every encoder returns one compact line ending in '\n' (JSON_COMPACT never emits a raw
 * newline: jansson escapes control characters inside strings), owned by the caller (free()).
 *
 * Thread: any thread, but a given framer or request belongs to one thread at a time. jansson
 * objects are built and freed on the thread that uses them (style-anchors §9.2-10).
 */
#ifndef AC_PROTO_H
#define AC_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "err.h"

#define AC_PROTO_VERSION 1
/* Longest request line the daemon accepts, in bytes, not counting the '\n'. */
#define AC_PROTO_MAX_LINE 65536
/* Longest reply or event line astrocalctl accepts (a session with many files is large). */
#define AC_PROTO_MAX_REPLY (64u << 20)

/* Protocol error codes; their names ("bad_request", ...) are what goes on the wire. */
enum ac_proto_code {
    AC_PROTO_OK = 0,
    AC_PROTO_BAD_REQUEST,
    AC_PROTO_TOO_LONG,
    AC_PROTO_UNSUPPORTED_VERSION,
    AC_PROTO_UNKNOWN_COMMAND,
    AC_PROTO_BAD_ARGS,
    AC_PROTO_NOT_FOUND,
    AC_PROTO_CONFLICT,
    AC_PROTO_BUSY,
    AC_PROTO_INTERNAL,
    AC_PROTO_NOT_ALLOWED,
    /* Client side (astrocalctl, astrocald calibrate): never sent by the daemon. */
    AC_PROTO_USAGE,       /* bad command line (exit 64) */
    AC_PROTO_UNAVAILABLE, /* the daemon cannot be reached, went away or did not answer */
    AC_PROTO_BAD_REPLY,   /* the daemon's reply made no sense (exit 76) */
    /* What went wrong with a file (one-shot results; daemon replies whose cause is one). */
    AC_PROTO_FITS,       /* cfitsio failed reading or writing (AC_EFITS) */
    AC_PROTO_FORMAT,     /* not an image astrocald can calibrate (AC_EFORMAT) */
    AC_PROTO_GEOMETRY,   /* sizes, binning or Bayer layout disagree (AC_EGEOMETRY) */
    AC_PROTO_METADATA,   /* exposure, filter, temperature or gain disagree (AC_EMETADATA) */
    AC_PROTO_BAD_MASTER, /* a master frame is unusable (AC_EMASTER) */
    AC_PROTO_NO_SPACE,   /* not enough free disk space (AC_ENOSPACE, ENOSPC) */
    AC_PROTO_CANCELLED,  /* cancelled (AC_ECANCELED) */
    AC_PROTO_CONFIG,     /* a bad configuration (AC_ECONFIG) */
    AC_PROTO_IO,         /* another operating-system error (EACCES, EIO, ...) */
    AC_PROTO_NCODES
};

/* ac_proto_code_name returns the wire name of code ("internal" for an unknown one). */
const char *ac_proto_code_name(int code);

/* ac_proto_print_error writes {"error":{"code":NAME,"message":message}} and a newline to
 * stream (a FILE *) and flushes it: how astrocalctl --json and astrocald calibrate --json
 * report their own errors. */
void ac_proto_print_error(void *stream, int code, const char *message);

/* ac_proto_code_parse maps a wire name back to its code, -1 if unknown. */
int ac_proto_code_parse(const char *name);

/* ac_proto_code_from_err maps an astrocald error code (-errno or AC_E*) to the protocol
 * code a handler should reply with (and the one-shot mode prints): -ENOENT -> not_found,
 * AC_EBUSY -> busy, -EINVAL and AC_EUSAGE -> bad_args, AC_EPROTO -> bad_request, the
 * file errors to fits, format, geometry, metadata, bad_master, no_space, cancelled,
 * AC_ECONFIG -> config, another -errno -> io, anything else (-ENOMEM) -> internal. The
 * list is docs/protocol.md's "Errors"; names never change. */
int ac_proto_code_from_err(int err);

/*
 * What a command may do, for the control server's permission check (docs/protocol.md,
 * "Who may do what"): READ commands only look (status, sessions, plan, watch, ...), CHANGE
 * commands act (enqueue, pause, cancel, import, reload, ...). A client's rights are a level
 * on the same scale (NONE < READ < CHANGE); a command runs when the level is at least the
 * command's.
 */
enum ac_proto_access {
    AC_PROTO_ACCESS_NONE = 0,
    AC_PROTO_ACCESS_READ = 1,
    AC_PROTO_ACCESS_CHANGE = 2,
};

/* ac_proto_cmd_access classifies cmd from the one table of commands (proto.c).
 * A name that is not in the table is CHANGE, so a command added to the daemon without a
 * row here is refused to readers rather than allowed to everybody. */
int ac_proto_cmd_access(const char *cmd);

/*
 * Line framing. A framer accepts bytes as they arrive and yields complete lines. A line
 * longer than `max` bytes (without its '\n') puts the framer in the too_long state: the lines
 * completed before it can still be taken, everything after it is discarded, and
 * ac_proto_framer_too_long() says so. A trailing '\r' is removed from each line.
 * Memory: the buffer holds at most the unconsumed complete lines of the bytes fed plus max
 * bytes of an unfinished line.
 */
typedef struct ac_proto_framer {
    char *buf;
    size_t start; /* first byte not yet taken by ac_proto_framer_next */
    size_t tail;  /* start of the unfinished line: [start, tail) holds complete lines */
    size_t len;   /* bytes in buf */
    size_t cap;
    size_t max;
    bool too_long;
} ac_proto_framer_t;

/* ac_proto_framer_init prepares f for lines of at most max bytes. Never fails (the buffer is
 * allocated on first use). */
void ac_proto_framer_init(ac_proto_framer_t *f, size_t max);

/* ac_proto_framer_free releases the buffer; f may be initialised again. */
void ac_proto_framer_free(ac_proto_framer_t *f);

/* ac_proto_framer_feed appends len bytes. Returns 0, -ENOMEM, or AC_EPROTO when the bytes
 * made (or found) the framer too_long (the bytes are then dropped). */
int ac_proto_framer_feed(ac_proto_framer_t *f, const char *data, size_t len);

/* ac_proto_framer_next takes the next complete line: returns true and sets *line (not
 * NUL-terminated, borrowed until the next feed or free) and *len; false when no complete
 * line is buffered. */
bool ac_proto_framer_next(ac_proto_framer_t *f, const char **line, size_t *len);

/* ac_proto_framer_too_long says whether a line exceeded the limit. */
bool ac_proto_framer_too_long(const ac_proto_framer_t *f);

/* ac_proto_framer_pending returns the bytes buffered and not yet taken as lines. */
size_t ac_proto_framer_pending(const ac_proto_framer_t *f);

/*
 * A decoded request. root owns everything; id, cmd and args are borrowed from it.
 * id is never NULL after a decode (json_null() when the request had none or it was unusable);
 * args is never NULL after a successful decode (an empty object when absent).
 */
typedef struct ac_proto_request {
    json_t *root;
    json_t *id;
    const char *cmd;
    json_t *args;
} ac_proto_request_t;

/*
 * ac_proto_request_decode parses one line (without its '\n'). On success returns 0. On
 * failure returns AC_EPROTO (-ENOMEM when memory ran out: code internal), stores the protocol
 * code (bad_request, unsupported_version) in *code and a message in e, and still sets req->id
 * when the id could be read, so the error reply can carry it. Either way, release with
 * ac_proto_request_free. Decoding uses JSON_REJECT_DUPLICATES; the envelope is strict: an
 * object with only v (integer, must be 1), id (integer or string), cmd (non-empty string) and
 * args (object or null).
 */
int ac_proto_request_decode(const char *line, size_t len, ac_proto_request_t *req, int *code,
                            ac_err_t *e);

/* ac_proto_request_free releases req (safe on a zeroed or already freed request). */
void ac_proto_request_free(ac_proto_request_t *req);

/* ac_proto_encode_request encodes {"v":1,"id":id,"cmd":cmd,"args":args}. args is taken
 * (stolen, released even on failure; NULL means {}). Returns the line or NULL. */
char *ac_proto_encode_request(long long id, const char *cmd, json_t *args, size_t *len);

/* ac_proto_encode_reply encodes a success reply. id is borrowed (NULL means null); result is
 * taken (NULL means {}). Returns the line or NULL on allocation failure. */
char *ac_proto_encode_reply(json_t *id, json_t *result, size_t *len);

/* ac_proto_encode_error encodes a failure reply with code's name and message (invalid
 * UTF-8 in message is replaced, see ac_proto_string). id is borrowed (NULL means null). */
char *ac_proto_encode_error(json_t *id, int code, const char *message, size_t *len);

/* ac_proto_encode_event encodes {"v":1,"event":event,"at":"<UTC time>Z","data":data}; data
 * is taken (NULL means {}). */
char *ac_proto_encode_event(const char *event, json_t *data, size_t *len);

/*
 * ac_proto_string returns a new JSON string for s, replacing any byte sequence that is not
 * valid UTF-8 with U+FFFD (json_string() would refuse it, and file names need not be
 * UTF-8). NULL s gives json_null(). Returns NULL only on allocation failure.
 */
json_t *ac_proto_string(const char *s);

/*
 * A decoded reply or event line, for clients (astrocalctl, tests). kind says which. For a
 * reply: id (borrowed, json_null() when absent), ok, and result (borrowed object) or
 * error_code/error_message (borrowed). For an event: event name and data (borrowed).
 */
enum ac_proto_msg_kind { AC_PROTO_MSG_REPLY = 1, AC_PROTO_MSG_EVENT = 2 };

typedef struct ac_proto_msg {
    json_t *root;
    int kind;
    json_t *id;
    bool ok;
    json_t *result;
    const char *error_code;
    const char *error_message;
    const char *event;
    json_t *data;
} ac_proto_msg_t;

/* ac_proto_msg_decode parses a reply or event line. 0, or AC_EPROTO with a message in e when
 * the line is not a well-formed version-1 reply or event. Release with ac_proto_msg_free. */
int ac_proto_msg_decode(const char *line, size_t len, ac_proto_msg_t *msg, ac_err_t *e);

/* ac_proto_msg_free releases msg (safe on a zeroed or already freed message). */
void ac_proto_msg_free(ac_proto_msg_t *msg);

#endif
