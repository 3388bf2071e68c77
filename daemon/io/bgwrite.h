/*
 * bgwrite.h - a writer's second thread: pieces of a file written in order while the
 * caller fills the next one (adapter).
 *
 * An output is computed, converted and written in pieces of a few MiB. Written one after
 * the other on the thread that computes them, the core idles while each write reaches the
 * device (O_DIRECT: the call returns when the data is on its way to the disk), and the
 * device idles while the next piece is computed. With a helper thread per writer the two
 * overlap: the caller hands a full piece over (ac_bgwrite_put) and fills its other buffer
 * while the helper writes it with the caller's function (pieces are taken one at a time,
 * in the order given). Double buffering, so the caller's memory stays two pieces whatever
 * the file size. A caller that hashes its file does so itself, as it fills each piece,
 * while the piece is still in the CPU cache: measured faster than hashing on the helper,
 * which then did the hashing and the waiting for the device one after the other.
 *
 * Errors: the first error of the write function is kept and returned by the next put or
 * sync, and every later piece is dropped (the file is damaged; its writer aborts it).
 * When the helper thread cannot be started, or the caller asks for none (a file of one
 * piece), every put runs the function on the calling thread at once: the same results.
 *
 * Ownership: the caller owns the pieces' memory; a piece given to put must stay untouched
 * until the next sync (or put, which syncs first) returns.
 * Thread: one caller thread per ac_bgwrite_t; fn runs on the helper thread (or the
 * caller's, inline), one piece at a time; what fn changes is the caller's to read after a
 * sync.
 */
#ifndef AC_BGWRITE_H
#define AC_BGWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ac_bgwrite ac_bgwrite_t;

/* The write function: write n bytes of p at file offset off; 0 or -errno. */
typedef int (*ac_bgwrite_fn)(void *ud, const unsigned char *p, size_t n, uint64_t off);

/* ac_bgwrite_new makes a writer calling fn(ud, ...) for each piece; with threaded, on a
 * helper thread of its own. NULL when out of memory. */
ac_bgwrite_t *ac_bgwrite_new(ac_bgwrite_fn fn, void *ud, bool threaded);

/* ac_bgwrite_put waits for the piece before (ac_bgwrite_sync), then hands over p: n bytes
 * to write at off. Returns the first error so far (the piece is then dropped). */
int ac_bgwrite_put(ac_bgwrite_t *b, const unsigned char *p, size_t n, uint64_t off);

/* ac_bgwrite_sync waits until every piece given is written; 0 or the first error. */
int ac_bgwrite_sync(ac_bgwrite_t *b);

/* ac_bgwrite_free waits for the piece in flight, stops the helper and frees b (NULL-safe). */
void ac_bgwrite_free(ac_bgwrite_t *b);

#endif
