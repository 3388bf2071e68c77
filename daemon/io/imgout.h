/*
 * imgout.h - writing calibrated float32 FITS images, atomically and fast (adapter).
 *
 * The uncompressed writer streams BITPIX -32 data with O_DIRECT from aligned buffers
 * (falling back to buffered pwrite where the filesystem refuses O_DIRECT, e.g. tmpfs),
 * converting to big-endian and accumulating the FITS DATASUM while the data streams, so
 * the checksum never re-reads the file. The first block (header plus the first data) is
 * written last, once the header is final; the tail is padded to the alignment and the
 * file truncated to the exact FITS length (data padded with zeros to 2880 bytes).
 *
 * The file is written under a temporary name in the destination directory
 * (".<final name>.actmp-<pid>-<random>", see fsutil.h), created new and never through a
 * symbolic link, and renamed into place by commit, so no half-written file ever carries a
 * final name; a symbolic link or other non-regular file at the final name is refused (see
 * outfile.h for every rule). With durable set, the file is fsync'ed before the rename and
 * the directory after it.
 *
 * With compress set, the image is written tile-compressed (RICE_1, quantised with
 * quantize_level, dithered) through cfitsio instead (fzout.h: into the same temporary
 * file, through its descriptor, streamed); slower, CPU-bound, 3-5x smaller. NaN and
 * infinite pixels are then stored as nulls (ZBLANK) and read back as NaN.
 *
 * Header: the caller passes the complete header (cards without SIMPLE, BITPIX, NAXIS,
 * NAXISn, EXTEND, END, CHECKSUM, DATASUM) at open, plus how many more cards it will add at
 * commit (quality figures known only after the data); commit appends those, then DATASUM
 * and CHECKSUM last, then END.
 *
 * Sequential mode (ac_imgout_open_final): for a caller that knows the final header and the
 * data's DATASUM before writing (the engine's two-pass mode: a first pass computes the
 * quality figures and ac_imgout_datasum_*). The file is then written strictly in order,
 * header first, each piece fed to SHA-256 as it is stored, so commit returns the file's
 * SHA-256 without reading it back; commit checks the data sum against the announced one.
 * The file is byte-identical to the classic mode's for the same cards (the classic
 * writer's extra cards, all announced ones given, at the end of hdr) and pixels, when both
 * run within the same second (the DATASUM and CHECKSUM comments carry the time).
 * With compress set the cards are handed to cfitsio at open, the sum is still checked on
 * the rows given, and the SHA-256 comes from reading the file back through the writer's
 * descriptor (cheap: it is small and was written through the page cache).
 *
 * Ownership: ac_imgout_t is owned by the caller until commit or abort, which free it.
 * Thread: one writer per thread; a writer of a file larger than half its buffer starts a
 * helper thread of its own (bgwrite.h) that writes each full piece while the
 * caller fills the next. No shared state except the test-only pwrite hook below (called on
 * the helper thread).
 */
#ifndef AC_IMGOUT_H
#define AC_IMGOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "hdr.h"

typedef struct ac_imgout ac_imgout_t;

typedef struct ac_imgout_opts {
    bool durable;         /* fsync file and directory before commit returns (default true) */
    bool direct;          /* try O_DIRECT (default true) */
    bool compress;        /* RICE tile compression through cfitsio */
    float quantize_level; /* for compress: cfitsio quantize level (0 or default: 16) */
    size_t buf_bytes;     /* write buffer, multiple of 4096 (0 or default: 8 MiB) */
    int reserve_cards;    /* blank card slots kept after END for later in-place header
                             updates (io/hdrupdate.h; uncompressed only; default 0) */
} ac_imgout_opts_t;

void ac_imgout_opts_default(ac_imgout_opts_t *o);

/* ac_imgout_open starts writing final_path (w x h float32). hdr is copied (may be NULL);
 * cards the writer writes itself (SIMPLE, BITPIX, NAXIS, NAXISn, EXTEND, END, CHECKSUM,
 * DATASUM, XTENSION, PCOUNT, GCOUNT, EXTNAME, TFIELDS) and scaling cards (BZERO, BSCALE,
 * BLANK) are dropped, the others kept in order. extra_cards is the number of cards commit
 * will append. o may be NULL (defaults). On failure *out is NULL and nothing is left on
 * disk. */
int ac_imgout_open(const char *final_path, int w, int h, const ac_hdr_t *hdr, int extra_cards,
                   const ac_imgout_opts_t *o, ac_imgout_t **out, ac_err_t *e);

/* ac_imgout_open_final starts writing final_path in sequential mode: hdr is the complete
 * header (filtered as for ac_imgout_open; no cards are added at commit) and datasum the
 * FITS DATASUM of the w x h float32 data to come (see ac_imgout_datasum_update). The
 * header is stored (and hashed) at once; each row is hashed as it is converted. */
int ac_imgout_open_final(const char *final_path, int w, int h, const ac_hdr_t *hdr,
                         uint32_t datasum, const ac_imgout_opts_t *o, ac_imgout_t **out,
                         ac_err_t *e);

/* ac_imgout_write_rows appends nrows rows of native floats (rows arrive in order). After
 * an error the writer is only good for ac_imgout_abort (commit would fail and clean up). */
int ac_imgout_write_rows(ac_imgout_t *w, const float *rows, int nrows, ac_err_t *e);

/* ac_imgout_update_cards writes each card of cards over the card of the same keyword
 * given at open, in place: for a value known only once the data has begun (the one-shot's
 * master MD5s, hashed while its first lights run). Classic mode only, before commit.
 * 0, or -EINVAL in sequential mode (the header is written already), -ENOENT when a
 * keyword was not given at open (the header's size is fixed), AC_EFITS (compressed). */
int ac_imgout_update_cards(ac_imgout_t *w, const ac_hdr_t *cards, ac_err_t *e);

/* ac_imgout_commit appends extra (may be NULL; at most the announced number of cards; the
 * unused slots stay blank after END), writes DATASUM/CHECKSUM, makes the file durable if
 * asked, renames it into place and frees w (also on failure, after removing the temporary
 * file). Fails when fewer than h rows were written, and when the final name holds a
 * symbolic link, a directory or another non-regular file (-ELOOP, -EISDIR, -EEXIST; the
 * message names the path; an earlier regular file is replaced). bytes_written (may be
 * NULL) receives the final file size. */
int ac_imgout_commit(ac_imgout_t *w, const ac_hdr_t *extra, size_t *bytes_written, ac_err_t *e);

/* ac_imgout_commit_hashed is ac_imgout_commit that also writes the lower-case hex
 * SHA-256 of the whole final file into sha256 (size >= 65), computed before the rename (a
 * failure leaves no file). A writer opened with ac_imgout_open_final hashed the file while
 * writing it, and its commit fails with -EIO ("internal error", nothing left on disk) when
 * the rows written do not have the announced DATASUM. Otherwise (classic mode, whose
 * header is written last, and the compressed path) the file is read back to hash it. */
int ac_imgout_commit_hashed(ac_imgout_t *w, const ac_hdr_t *extra, size_t *bytes_written,
                            char *sha256, size_t size, ac_err_t *e);

/* ac_imgout_abort removes the temporary file and frees w (NULL-safe). */
void ac_imgout_abort(ac_imgout_t *w);

/* ac_imgout_buffer_bytes returns the memory one open writer holds with options o (NULL:
 * defaults): the streaming buffer plus the header block (counted as 64 KiB, enough for
 * about 800 cards); for compress an estimate of cfitsio's buffers (plus, only when the
 * rows contain NaN or infinities, a copy of the largest ac_imgout_write_rows call). */
size_t ac_imgout_buffer_bytes(const ac_imgout_opts_t *o);

/* The FITS data checksum of float32 pixels, accumulated in pieces (pixels in file order;
 * any split). Zero-initialise; ac_imgout_datasum_update adds n native floats (the writer's
 * own vectorised kernel, without the store); ac_imgout_datasum_value gives the DATASUM
 * value the writer would put in the header (the zero padding adds nothing). */
typedef struct ac_imgout_sum {
    uint64_t hi, lo; /* sums of the high and low 16-bit halves of each 32-bit word */
} ac_imgout_sum_t;

void ac_imgout_datasum_update(ac_imgout_sum_t *s, const float *px, size_t n);
uint32_t ac_imgout_datasum_value(const ac_imgout_sum_t *s);

/* ac_imgout_is_direct says whether w currently writes with O_DIRECT (false for the
 * compressed path, when O_DIRECT was not asked for or refused, and after a fallback),
 * once the piece being written has been (it waits for it). */
bool ac_imgout_is_direct(ac_imgout_t *w);

/* Test seam (fault injection): when set, fn replaces pwrite(2) for every write of the
 * uncompressed writer (fn may call pwrite itself). NULL restores pwrite. Process-wide:
 * set it before any writer runs; tests only. */
typedef ssize_t (*ac_imgout_pwrite_fn)(int fd, const void *buf, size_t n, off_t off);
void ac_imgout_set_pwrite_hook(ac_imgout_pwrite_fn fn);

#endif
