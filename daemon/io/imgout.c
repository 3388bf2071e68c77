/*
 * imgout.c - writing calibrated float32 FITS images atomically and fast (see imgout.h).
 *
 * Uncompressed layout and streaming. The file is [header][data][zero padding to 2880]. The
 * header size is fixed at open: 6 structural cards + the caller's cards + the announced
 * extra cards + DATASUM + CHECKSUM + END, rounded up to 2880 bytes. The file is covered by
 * aligned memory blocks:
 *   head  [0, head_bytes)             head_bytes = hdr_bytes rounded up to 4096; holds the
 *                                     header area and the first data bytes; kept in memory
 *                                     and written last, once the header is final;
 *   buf   [buf_off, buf_off + B)      the piece being filled: one of two buffers of half
 *                                     opts.buf_bytes each (B; one of all of it when that
 *                                     is a single 4096-byte block), handed to bgwrite.h's
 *                                     helper thread whenever it fills, to be written with
 *                                     pwrite at its aligned offset while the caller fills
 *                                     the other (double buffering: computing and
 *                                     converting overlap the device's writing).
 * write_rows converts each float to big-endian in the same pass that adds its two 16-bit
 * halves into the DATASUM accumulators (FITS checksum convention, as cfitsio ffcsum), so
 * the data is never read back. commit zero-pads the data to 2880, writes the last partial
 * buffer padded to 4096 (O_DIRECT needs aligned lengths), fills in the header with DATASUM
 * and CHECKSUM, writes the head block, truncates the file to its exact FITS length, syncs
 * it (durable), and renames it into place (fsutil.c explains the durability steps). The
 * file itself (created new under a random temporary name, never through a symbolic link,
 * renamed with checks) is outfile.c's.
 *
 * Sequential mode (ac_imgout_open_final): the header is final at open, so there is no head
 * block (head_bytes = 0): the header is built at once and stored at the start of buf like
 * data, and every byte stored into buf (header, data, zero padding) is fed to SHA-256 right
 * after it is stored, in file order, in pieces of at most HASH_PIECE so that it is hashed
 * while still in the CPU cache (the helper thread only writes). With O_DIRECT the first
 * chunk holds the header and the first data. The data sum accumulates as in the classic
 * mode and commit compares it with the announced one before finishing the file.
 *
 * O_DIRECT is set with fcntl after the file is created; a filesystem that refuses it, or an
 * O_DIRECT write failing with EINVAL, switches the descriptor to buffered writes; the same
 * code then writes exact lengths.
 *
 * The compressed path (opts.compress) hands rows to fzout.c (cfitsio, RICE_1, quantised,
 * dithered), writing into the same kind of temporary file through its descriptor; cfitsio
 * writes the checksums.
 *
 * Ownership: the writer owns its buffers, its copy of the header and the temporary file
 * until commit or abort, which free everything and remove the temporary file on failure.
 * Thread: a writer is used by one thread at a time, plus its own helper thread (bgwrite.h)
 * for files of more than one piece, which runs write_all on the pieces handed over; the
 * caller's thread reads what the helper changes (io_direct) only after a sync, and takes
 * it into direct only as a piece is handed over (put_piece, finish_plain), so that chunk()
 * never shrinks below a piece being filled. Writers share nothing but the test-only pwrite
 * hook.
 */
#include "imgout.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <fitsio.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bgwrite.h"
#include "digest.h"
#include "fzout.h"
#include "log.h"
#include "outfile.h"
#include "util.h"

#define FITS_BLOCK 2880
#define ALIGN 4096
#define DEFAULT_BUF (8u << 20)
/* Buffered writes go out in pieces of at most 1 MiB: copying into the page cache from a
 * buffer still in the CPU cache measured 2-4x faster than from an 8 MiB one. */
#define BUFFERED_CHUNK (1u << 20)
/* Memory for the head block counted by ac_imgout_buffer_bytes: enough for 800 cards. */
#define HEAD_ALLOWANCE (64u << 10)
#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* Sequential mode: bytes converted, then hashed, at a time (a quarter of a 1 MiB L2). */
#define HASH_PIECE (256u << 10)
#define STRUCT_CARDS 6 /* SIMPLE BITPIX NAXIS NAXIS1 NAXIS2 EXTEND */
#define TAIL_CARDS 3   /* DATASUM CHECKSUM END */

struct ac_imgout {
    char final[PATH_MAX];
    ac_outfile_t file; /* the temporary file (file.fd) until commit */
    ac_imgout_opts_t o;
    int width, height, rows; /* rows: rows written so far */
    bool direct;             /* file.fd has O_DIRECT, as last seen by the caller's thread */
    bool io_direct;          /* the same, owned by whoever writes (see write_all) */
    int failed;              /* first write error; commit refuses to finish a damaged file */
    ac_hdr_t cards;          /* caller's cards, minus those the writer writes itself */
    int extra;               /* cards announced for commit */
    /* Uncompressed streaming state (see the file comment). */
    size_t hdr_bytes, head_bytes;
    uint64_t data_bytes, file_bytes;
    unsigned char *head, *buf; /* buf: the piece being filled, one of bufs */
    unsigned char *bufs[2];    /* bufs[1] NULL: one buffer, written inline */
    size_t bsz;                /* bytes of each of bufs */
    ac_bgwrite_t *bg;          /* writes the full pieces */
    uint64_t pos;              /* file offset of the next data byte */
    uint64_t buf_off;          /* file offset of buf[0] */
    size_t fill;               /* bytes of buf in use */
    ac_imgout_sum_t sum;
    /* Sequential mode. */
    bool seq;
    uint32_t announced; /* DATASUM announced at open */
    ac_digest_t *sha;   /* SHA-256 of the bytes stored so far (uncompressed path) */
    ac_fzout_t *fz;     /* compressed path */
};

static ac_imgout_pwrite_fn pwrite_hook;

void ac_imgout_set_pwrite_hook(ac_imgout_pwrite_fn fn)
{
    pwrite_hook = fn;
}

void ac_imgout_opts_default(ac_imgout_opts_t *o)
{
    o->durable = true;
    o->direct = true;
    o->compress = false;
    o->quantize_level = 16.0f;
    o->buf_bytes = DEFAULT_BUF;
    o->reserve_cards = 0;
}

size_t ac_imgout_buffer_bytes(const ac_imgout_opts_t *o)
{
    ac_imgout_opts_t d;

    if (o == NULL) {
        ac_imgout_opts_default(&d);
        o = &d;
    }
    if (o->compress)
        return ac_fzout_buffer_bytes();
    return (o->buf_bytes ? o->buf_bytes : DEFAULT_BUF) + HEAD_ALLOWANCE;
}

bool ac_imgout_is_direct(ac_imgout_t *w)
{
    if (w == NULL)
        return false;
    if (w->bg != NULL)
        (void)ac_bgwrite_sync(w->bg); /* what the piece in flight learnt; then stable */
    return w->io_direct;              /* equal to direct whenever nothing is in flight */
}

static uint64_t round_up(uint64_t n, uint64_t m)
{
    return (n + m - 1) / m * m;
}

/* is_reserved says whether a caller's card must be dropped because the writer (or cfitsio)
 * writes that keyword itself, or because it would change how the data is read. */
static bool is_reserved(const char *key, bool compressed)
{
    static const char *const exact[] = {
        "SIMPLE", "BITPIX", "EXTEND",   "END",    "CHECKSUM", "DATASUM", "BZERO",
        "BSCALE", "BLANK",  "XTENSION", "PCOUNT", "GCOUNT",   "TFIELDS", "EXTNAME",
    };

    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(key, exact[i]) == 0)
            return true;
    if (strncmp(key, "NAXIS", 5) == 0)
        return true;
    /* A tile-compressed image is a binary table with Z* keywords describing the image. */
    if (compressed && ((key[0] == 'Z' && key[1] != '\0') || strncmp(key, "TTYPE", 5) == 0 ||
                       strncmp(key, "TFORM", 5) == 0 || strncmp(key, "TUNIT", 5) == 0 ||
                       strncmp(key, "TDIM", 4) == 0 || strcmp(key, "THEAP") == 0))
        return true;
    return false;
}

/* keep_cards appends to dst the cards of src that the writer does not own. */
static int keep_cards(ac_hdr_t *dst, const ac_hdr_t *src, bool compressed)
{
    char key[9];

    for (size_t i = 0; src != NULL && i < src->n; i++) {
        ac_hdr_card_key(src, i, key);
        if (is_reserved(key, compressed))
            continue;
        int rc = ac_hdr_append_raw(dst, src->cards[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* io_fail records an operating-system error with the operation and final path; a full
 * disk is named plainly, since it is the error an operator can act on. */
static int io_fail(ac_imgout_t *w, int rc, const char *what, ac_err_t *e)
{
    if (rc == -ENOSPC || rc == -EDQUOT)
        return ac_err_set(e, rc, "%s %s: %s (the image needs %llu bytes)", what, w->final,
                          rc == -ENOSPC ? "no space left on device" : "disk quota exceeded",
                          (unsigned long long)w->file_bytes);
    return ac_err_set(e, rc, "%s %s: %s", what, w->final, strerror(-rc));
}

/* drop_direct switches the descriptor to buffered writes. Called by whoever writes (the
 * helper thread while a piece is in flight, else the caller's thread), so it sets
 * io_direct; the caller's thread reads it into direct after each sync_io. 0 or -errno. */
static int drop_direct(ac_imgout_t *w)
{
    int fl = fcntl(w->file.fd, F_GETFL);

    if (fl < 0 || fcntl(w->file.fd, F_SETFL, fl & ~O_DIRECT) != 0)
        return -errno;
    w->io_direct = false;
    ac_log_debug("O_DIRECT write refused for %s; writing buffered", w->final);
    return 0;
}

/* write_all writes n bytes at off, retrying short writes; an O_DIRECT write refused with
 * EINVAL is retried buffered. It runs on bg's helper thread for the pieces of data (the
 * ac_bgwrite_fn, hence the void pointer), on the caller's for the rest once bg is synced.
 * 0 or -errno. */
static int write_all(void *ud, const unsigned char *p, size_t n, uint64_t off)
{
    ac_imgout_t *w = ud;

    while (n > 0) {
        ssize_t k = pwrite_hook ? pwrite_hook(w->file.fd, p, n, (off_t)off)
                                : pwrite(w->file.fd, p, n, (off_t)off);
        if (k < 0) {
            int rc = -errno;
            if (rc == -EINTR)
                continue;
            if (rc == -EINVAL && w->io_direct) {
                if ((rc = drop_direct(w)) != 0)
                    return rc;
                continue;
            }
            return rc;
        }
        if (k == 0)
            return -EIO;
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

/* sum_store adds the high and low 16-bit halves of n floats to *hi and *lo (the FITS
 * checksum sums big-endian 16-bit words; in a 4-byte-aligned word the first is the high
 * half) and, with store, writes them as big-endian 32-bit words at dst. Blocks of 65536
 * words keep the 32-bit partial sums from overflowing (65536 * 65535 < 2^32) and let the
 * loop vectorise. Inlined with store constant into the two kernels below: the one hot loop
 * of the writer, hence the vectorising options and an AVX2 clone. */
ALWAYS_INLINE void sum_store(unsigned char *restrict dst, const float *restrict src, size_t n,
                             uint64_t *hi, uint64_t *lo, bool store)
{
    while (n > 0) {
        size_t m = n < 65536 ? n : 65536;
        uint32_t h32 = 0, l32 = 0;

        for (size_t i = 0; i < m; i++) {
            uint32_t u;
            memcpy(&u, &src[i], 4);
            h32 += u >> 16;
            l32 += u & 0xffffu;
            if (store) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                u = __builtin_bswap32(u);
#endif
                memcpy(dst + 4 * i, &u, 4);
            }
        }
        *hi += h32;
        *lo += l32;
        src += m;
        if (store)
            dst += 4 * m;
        n -= m;
    }
}

/* No multiversioning under ThreadSanitizer: the ifunc resolver that target_clones makes
 * runs during relocation, before TSan's runtime starts, and dies when instrumented. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) &&                         \
    !defined(__SANITIZE_THREAD__)
#define HOT_KERNEL                                                                             \
    __attribute__((optimize("O3", "tree-vectorize"), target_clones("avx2", "default")))
#else
#define HOT_KERNEL
#endif

/* convert stores n floats big-endian at dst and adds them to the data sum. */
HOT_KERNEL static void convert(unsigned char *restrict dst, const float *restrict src, size_t n,
                               uint64_t *hi, uint64_t *lo)
{
    sum_store(dst, src, n, hi, lo, true);
}

HOT_KERNEL void ac_imgout_datasum_update(ac_imgout_sum_t *s, const float *px, size_t n)
{
    sum_store(NULL, px, n, &s->hi, &s->lo, false);
}

/* fold adds the carries of the 16-bit sums back in (ones' complement) and returns the
 * 32-bit checksum. */
static uint32_t fold(uint64_t hi, uint64_t lo)
{
    uint64_t hc = hi >> 16, lc = lo >> 16;

    while (hc | lc) {
        hi = (hi & 0xffff) + lc;
        lo = (lo & 0xffff) + hc;
        hc = hi >> 16;
        lc = lo >> 16;
    }
    return (uint32_t)((hi << 16) + lo);
}

uint32_t ac_imgout_datasum_value(const ac_imgout_sum_t *s)
{
    return fold(s->hi, s->lo);
}

/* chunk returns how much of buf is filled before it is written out. */
static size_t chunk(const ac_imgout_t *w)
{
    if (!w->direct && w->bsz > BUFFERED_CHUNK)
        return BUFFERED_CHUNK;
    return w->bsz;
}

/* sync_io waits for the piece in flight and takes over what the writing side learnt about
 * O_DIRECT. 0 or its first error. */
static int sync_io(ac_imgout_t *w)
{
    int rc = ac_bgwrite_sync(w->bg);

    w->direct = w->io_direct;
    return rc;
}

/* put_piece hands buf's first len bytes (fill, plus the alignment padding of the last
 * piece) to bg to be written, and continues in the other buffer. 0 or -errno. */
static int put_piece(ac_imgout_t *w, size_t len)
{
    int rc = sync_io(w);

    if (rc == 0)
        rc = ac_bgwrite_put(w->bg, w->buf, len, w->buf_off);
    if (rc != 0)
        return rc;
    w->buf_off += w->fill;
    w->fill = 0;
    if (w->bufs[1] != NULL)
        w->buf = w->bufs[w->buf == w->bufs[0]];
    return 0;
}

/* room returns where the byte at w->pos goes and sets *n to the bytes that fit there. */
static unsigned char *room(ac_imgout_t *w, size_t *n)
{
    if (w->pos < w->head_bytes) {
        *n = (size_t)(w->head_bytes - w->pos);
        return w->head + w->pos;
    }
    /* advance writes buf out as soon as it holds a chunk, so there is always room. */
    assert(w->fill < chunk(w));
    *n = chunk(w) - w->fill;
    return w->buf + w->fill;
}

/* advance accounts for n bytes stored at room() and writes buf out when it is full. */
static int advance(ac_imgout_t *w, size_t n)
{
    if (w->pos >= w->head_bytes)
        w->fill += n;
    w->pos += n;
    if (w->fill < chunk(w))
        return 0;
    return put_piece(w, w->fill);
}

/* emit stores n bytes of src (zeros when src is NULL) at w->pos, hashing them in the
 * sequential mode. 0 or -errno. */
static int emit(ac_imgout_t *w, const unsigned char *src, uint64_t n)
{
    size_t space, k;
    unsigned char *dst;
    int rc;

    while (n > 0) {
        dst = room(w, &space);
        k = n < space ? (size_t)n : space;
        if (src != NULL) {
            memcpy(dst, src, k);
            src += k;
        } else {
            memset(dst, 0, k);
        }
        if (w->sha != NULL)
            ac_digest_update(w->sha, dst, k);
        if ((rc = advance(w, k)) != 0)
            return rc;
        n -= k;
    }
    return 0;
}

/* put_card stores the 80-character card (NUL-terminated, space-padded) at slot *i. */
static void put_card(ac_imgout_t *w, size_t *i, const char *card)
{
    memcpy(w->head + *i * AC_CARD_LEN, card, AC_CARD_LEN);
    (*i)++;
}

/* fmt_card formats and stores one card; the values here are always well-formed. */
static void fmt_card(ac_imgout_t *w, size_t *i, const char *key, const char *val,
                     const char *comment)
{
    char card[AC_CARD_LEN + 1];
    int rc = ac_hdr_format_card(card, key, val, comment);

    assert(rc == 0);
    (void)rc;
    put_card(w, i, card);
}

/* build_header writes the final header into head[0, hdr_bytes), including DATASUM and
 * CHECKSUM, from the caller's cards and the extra cards (already filtered). */
static void build_header(ac_imgout_t *w, const ac_hdr_t *extra, uint32_t datasum)
{
    char v[80], date[32], comment[80], ascii[17];
    size_t i = 0, chk;
    uint64_t hi = datasum >> 16, lo = datasum & 0xffff;

    memset(w->head, ' ', w->hdr_bytes);
    fmt_card(w, &i, "SIMPLE", "T", "file does conform to FITS standard");
    fmt_card(w, &i, "BITPIX", "-32", "number of bits per data pixel");
    fmt_card(w, &i, "NAXIS", "2", "number of data axes");
    snprintf(v, sizeof v, "%d", w->width);
    fmt_card(w, &i, "NAXIS1", v, "length of data axis 1");
    snprintf(v, sizeof v, "%d", w->height);
    fmt_card(w, &i, "NAXIS2", v, "length of data axis 2");
    fmt_card(w, &i, "EXTEND", "T", "FITS dataset may contain extensions");
    for (size_t k = 0; k < w->cards.n; k++)
        put_card(w, &i, w->cards.cards[k]);
    for (size_t k = 0; k < extra->n; k++)
        put_card(w, &i, extra->cards[k]);
    ac_now_utc_iso(date, sizeof date, 0);
    snprintf(v, sizeof v, "'%-8lu'", (unsigned long)datasum);
    snprintf(comment, sizeof comment, "data unit checksum updated %s", date);
    fmt_card(w, &i, "DATASUM", v, comment);
    chk = i;
    snprintf(comment, sizeof comment, "HDU checksum updated %s", date);
    fmt_card(w, &i, "CHECKSUM", "'0000000000000000'", comment);
    /* The reserved slots stay blank before END (cfitsio writes later cards into blank
     * cards before END without growing the header; blank slots after END would be a
     * blank block when they cross a block boundary). END follows; the slots of extra
     * cards not used stay blank after it. */
    i += (size_t)(w->o.reserve_cards > 0 ? w->o.reserve_cards : 0);
    memcpy(w->head + i * AC_CARD_LEN, "END", 3);
    /* The header's own sum, added to the data sum; CHECKSUM makes the total -0. */
    for (size_t k = 0; k < w->hdr_bytes; k += 4) {
        hi += (uint64_t)w->head[k] << 8 | w->head[k + 1];
        lo += (uint64_t)w->head[k + 2] << 8 | w->head[k + 3];
    }
    ffesum(fold(hi, lo), 1, ascii);
    memcpy(w->head + chk * AC_CARD_LEN + 11, ascii, 16);
}

/* open_plain sets up the uncompressed writer: sizes, buffers, O_DIRECT; in the sequential
 * mode it also stores (and hashes) the final header. */
static int open_plain(ac_imgout_t *w, ac_err_t *e)
{
    size_t ncards = STRUCT_CARDS + w->cards.n + (size_t)w->extra + TAIL_CARDS +
                    (size_t)(w->o.reserve_cards > 0 ? w->o.reserve_cards : 0),
           head_alloc, nbufs;
    int rc;

    w->hdr_bytes = (size_t)round_up(ncards * AC_CARD_LEN, FITS_BLOCK);
    w->head_bytes = w->seq ? 0 : (size_t)round_up(w->hdr_bytes, ALIGN);
    w->data_bytes = (uint64_t)w->width * (uint64_t)w->height * 4u;
    w->file_bytes = w->hdr_bytes + round_up(w->data_bytes, FITS_BLOCK);
    w->pos = w->seq ? 0 : w->hdr_bytes;
    w->buf_off = w->head_bytes;
    head_alloc = w->seq ? w->hdr_bytes : w->head_bytes;
    /* buf_bytes in two pieces (one while the other is written), unless too small. */
    nbufs = w->o.buf_bytes >= 2 * ALIGN ? 2 : 1;
    w->bsz = w->o.buf_bytes / nbufs / ALIGN * ALIGN;
    if (posix_memalign((void **)&w->head, ALIGN, head_alloc) != 0 ||
        posix_memalign((void **)&w->bufs[0], ALIGN, w->bsz) != 0 ||
        (nbufs == 2 && posix_memalign((void **)&w->bufs[1], ALIGN, w->bsz) != 0) ||
        (w->seq && (w->sha = ac_digest_new(AC_DIGEST_SHA256)) == NULL) ||
        /* A helper thread only when there is more than one piece to write. */
        (w->bg = ac_bgwrite_new(write_all, w, nbufs == 2 && w->file_bytes > w->bsz)) == NULL)
        return ac_err_set(e, -ENOMEM, "writing %s: cannot allocate %zu bytes of buffers",
                          w->final, head_alloc + w->o.buf_bytes);
    w->buf = w->bufs[0];
    memset(w->head, 0, head_alloc);
    if (w->o.direct) {
        int fl = fcntl(w->file.fd, F_GETFL);
        w->direct = fl >= 0 && fcntl(w->file.fd, F_SETFL, fl | O_DIRECT) == 0;
        if (!w->direct)
            ac_log_debug("the folder of %s refuses O_DIRECT; writing buffered", w->final);
    }
    w->io_direct = w->direct;
    if (w->seq) {
        const ac_hdr_t none = {0};
        build_header(w, &none, w->announced);
        if ((rc = emit(w, w->head, w->hdr_bytes)) != 0) {
            w->failed = rc;
            return io_fail(w, rc, "writing the header of", e);
        }
        free(w->head); /* Written: the mode has no head block. */
        w->head = NULL;
    }
    return 0;
}

/* open_any opens a writer in the classic (seq false) or the sequential mode. */
static int open_any(const char *final_path, int w, int h, const ac_hdr_t *hdr, int extra_cards,
                    bool seq, uint32_t datasum, const ac_imgout_opts_t *o, ac_imgout_t **out,
                    ac_err_t *e)
{
    ac_imgout_t *wr = NULL;
    int rc;

    *out = NULL;
    if (w <= 0 || h <= 0 || (uint64_t)w * (uint64_t)h > ((uint64_t)1 << 34) || extra_cards < 0)
        return ac_err_set(e, -EINVAL, "writing %s: bad image size %dx%d or card count %d",
                          final_path, w, h, extra_cards);
    wr = calloc(1, sizeof *wr);
    if (wr == NULL)
        return ac_err_set(e, -ENOMEM, "writing %s: out of memory", final_path);
    ac_outfile_init(&wr->file);
    ac_hdr_init(&wr->cards);
    if (o != NULL)
        wr->o = *o;
    else
        ac_imgout_opts_default(&wr->o);
    if (wr->o.buf_bytes == 0)
        wr->o.buf_bytes = DEFAULT_BUF;
    if (wr->o.quantize_level == 0)
        wr->o.quantize_level = 16.0f;
    if (wr->o.buf_bytes % ALIGN != 0) {
        rc = ac_err_set(e, -EINVAL, "writing %s: buffer size %zu is not a multiple of %d",
                        final_path, wr->o.buf_bytes, ALIGN);
        goto fail;
    }
    if (ac_strlcpy(wr->final, final_path, sizeof wr->final) >= sizeof wr->final) {
        rc = ac_err_set(e, -ENAMETOOLONG, "writing %s: name too long", final_path);
        goto fail;
    }
    wr->width = w;
    wr->height = h;
    wr->extra = extra_cards;
    wr->seq = seq;
    wr->announced = datasum;
    if ((rc = keep_cards(&wr->cards, hdr, wr->o.compress)) != 0) {
        rc = ac_err_set(e, rc, "writing %s: copying the header: %s", final_path, strerror(-rc));
        goto fail;
    }
    if ((rc = ac_outfile_create(&wr->file, final_path, e)) != 0)
        goto fail;
    rc = wr->o.compress ? ac_fzout_open(wr->file.fd, final_path, w, h, &wr->cards,
                                        wr->o.quantize_level, &wr->fz, e)
                        : open_plain(wr, e);
    if (rc != 0)
        goto fail;
    *out = wr; /* Owned by the caller until commit or abort. */
    return 0;
fail:
    ac_imgout_abort(wr);
    return rc;
}

int ac_imgout_open(const char *final_path, int w, int h, const ac_hdr_t *hdr, int extra_cards,
                   const ac_imgout_opts_t *o, ac_imgout_t **out, ac_err_t *e)
{
    return open_any(final_path, w, h, hdr, extra_cards, false, 0, o, out, e);
}

int ac_imgout_open_final(const char *final_path, int w, int h, const ac_hdr_t *hdr,
                         uint32_t datasum, const ac_imgout_opts_t *o, ac_imgout_t **out,
                         ac_err_t *e)
{
    return open_any(final_path, w, h, hdr, 0, true, datasum, o, out, e);
}

int ac_imgout_write_rows(ac_imgout_t *w, const float *rows, int nrows, ac_err_t *e)
{
    size_t left, n, space;
    unsigned char *dst;
    int rc;

    if (w->failed != 0)
        return ac_err_set(e, w->failed, "writing %s: an earlier write failed", w->final);
    if (nrows < 0 || nrows > w->height - w->rows)
        return ac_err_set(e, -EINVAL, "writing %s: %d rows after %d exceed the height %d",
                          w->final, nrows, w->rows, w->height);
    left = (size_t)nrows * (size_t)w->width;
    if (w->fz != NULL) {
        if (w->seq)
            ac_imgout_datasum_update(&w->sum, rows, left);
        if ((rc = ac_fzout_write(w->fz, rows, left, e)) != 0) {
            w->failed = rc;
            return rc;
        }
        w->rows += nrows;
        return 0;
    }
    while (left > 0) {
        dst = room(w, &space);
        n = left < space / 4 ? left : space / 4;
        if (w->sha != NULL && n > HASH_PIECE / 4)
            n = HASH_PIECE / 4;
        convert(dst, rows, n, &w->sum.hi, &w->sum.lo);
        if (w->sha != NULL)
            ac_digest_update(w->sha, dst, n * 4);
        if ((rc = advance(w, n * 4)) != 0) {
            w->failed = rc;
            return io_fail(w, rc, "writing", e);
        }
        rows += n;
        left -= n;
    }
    w->rows += nrows;
    return 0;
}

/* finish_plain pads and writes the remaining data, then (classic mode) the header, and
 * truncates the file to its FITS length. */
static int finish_plain(ac_imgout_t *w, const ac_hdr_t *extra, ac_err_t *e)
{
    size_t len;
    int rc;

    if ((rc = emit(w, NULL, w->file_bytes - w->pos)) != 0 || (rc = sync_io(w)) != 0)
        return io_fail(w, rc, "writing", e);
    if (w->fill > 0) {
        len = w->direct ? (size_t)round_up(w->fill, ALIGN) : w->fill;
        memset(w->buf + w->fill, 0, len - w->fill);
        if ((rc = put_piece(w, len)) != 0 || (rc = sync_io(w)) != 0)
            return io_fail(w, rc, "writing", e);
    }
    if (!w->seq) {
        build_header(w, extra, ac_imgout_datasum_value(&w->sum));
        len = w->head_bytes;
        if (!w->direct && len > w->file_bytes)
            len = (size_t)w->file_bytes;
        if ((rc = write_all(w, w->head, len, 0)) != 0)
            return io_fail(w, rc, "writing the header of", e);
    }
    if (ftruncate(w->file.fd, (off_t)w->file_bytes) != 0)
        return io_fail(w, -errno, "setting the length of", e);
    if (w->o.durable && fdatasync(w->file.fd) != 0)
        return io_fail(w, -errno, "syncing", e);
    return 0;
}

/* finish_fits lets fzout.c finish the compressed file, then syncs it. */
static int finish_fits(ac_imgout_t *w, const ac_hdr_t *extra, ac_err_t *e)
{
    struct stat sb;
    int rc = ac_fzout_finish(w->fz, extra, e);

    w->fz = NULL;
    if (rc != 0)
        return rc;
    if (fstat(w->file.fd, &sb) != 0)
        return io_fail(w, -errno, "checking the size of", e);
    w->file_bytes = (uint64_t)sb.st_size;
    if (w->o.durable && fdatasync(w->file.fd) != 0)
        return io_fail(w, -errno, "syncing", e);
    return 0;
}

int ac_imgout_update_cards(ac_imgout_t *w, const ac_hdr_t *cards, ac_err_t *e)
{
    int rc;

    if (w->seq)
        return ac_err_set(e, -EINVAL, "writing %s: the header is written already", w->final);
    if (w->fz != NULL)
        return ac_fzout_update(w->fz, cards, e);
    rc = ac_hdr_replace(&w->cards, cards);
    if (rc != 0)
        return ac_err_set(e, rc, "writing %s: a card to update was not in the header",
                          w->final);
    return 0;
}

int ac_imgout_commit(ac_imgout_t *w, const ac_hdr_t *extra, size_t *bytes_written, ac_err_t *e)
{
    return ac_imgout_commit_hashed(w, extra, bytes_written, NULL, 0, e);
}

int ac_imgout_commit_hashed(ac_imgout_t *w, const ac_hdr_t *extra, size_t *bytes_written,
                            char *sha256, size_t size, ac_err_t *e)
{
    ac_hdr_t cards;
    uint32_t sum = ac_imgout_datasum_value(&w->sum);
    int rc;

    ac_hdr_init(&cards);
    if (sha256 != NULL && size < 65) {
        rc = ac_err_set(e, -EINVAL, "writing %s: SHA-256 buffer of %zu bytes", w->final, size);
        goto fail;
    }
    if (w->failed != 0) {
        rc = ac_err_set(e, w->failed, "writing %s: an earlier write failed", w->final);
        goto fail;
    }
    if (w->rows != w->height) {
        rc = ac_err_set(e, -EINVAL, "writing %s: only %d of %d rows were written", w->final,
                        w->rows, w->height);
        goto fail;
    }
    if ((rc = keep_cards(&cards, extra, w->o.compress)) != 0) {
        rc = ac_err_set(e, rc, "writing %s: copying the extra cards: %s", w->final,
                        strerror(-rc));
        goto fail;
    }
    if (cards.n > (size_t)w->extra) {
        rc = ac_err_set(e, -EINVAL, "writing %s: %zu extra header cards, %d announced",
                        w->final, cards.n, w->extra);
        goto fail;
    }
    /* The announced sum went into the header: data that differ would make a bad file. */
    if (w->seq && sum != w->announced) {
        rc = ac_err_set(e, -EIO,
                        "writing %s: internal error: the rows written have DATASUM %lu, the "
                        "header announced %lu (the data differ from the pass that measured "
                        "them)",
                        w->final, (unsigned long)sum, (unsigned long)w->announced);
        goto fail;
    }
    rc = w->fz != NULL ? finish_fits(w, &cards, e) : finish_plain(w, &cards, e);
    if (rc != 0)
        goto fail;
    if (sha256 != NULL && w->sha != NULL) {
        ac_digest_final(w->sha, sha256, size); /* frees the context */
        w->sha = NULL;
    } else if (sha256 != NULL) {
        /* Read back through the writer's own descriptor, buffered (unaligned reads). */
        if (w->direct && (rc = drop_direct(w)) != 0) {
            io_fail(w, rc, "hashing", e);
            goto fail;
        }
        if ((rc = ac_digest_fd(w->file.fd, w->final, AC_DIGEST_SHA256, sha256, size, e)) != 0)
            goto fail;
    }
    if ((rc = ac_outfile_commit(&w->file, w->o.durable, e)) != 0)
        goto fail;
    if (bytes_written != NULL)
        *bytes_written = (size_t)w->file_bytes;
    rc = 0;
fail:
    ac_hdr_free(&cards);
    ac_imgout_abort(w);
    return rc;
}

void ac_imgout_abort(ac_imgout_t *w)
{
    if (w == NULL)
        return;
    ac_bgwrite_free(w->bg); /* first: its thread may be writing a piece */
    ac_fzout_abort(w->fz);
    ac_outfile_discard(&w->file); /* the temporary file, unless commit renamed it */
    free(w->head);
    free(w->bufs[0]);
    free(w->bufs[1]);
    ac_digest_free(w->sha);
    ac_hdr_free(&w->cards);
    free(w);
}
