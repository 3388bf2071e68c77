/*
 * digest.h - MD5 and SHA-256 of files and byte streams (adapter over OpenSSL libcrypto's
 * EVP interface, which uses the CPU's SHA extensions: about 1.8 GB/s for SHA-256 here).
 *
 * AstroFiler stores Masters.hash_value as the MD5 of a master file and fitsFileHash as the
 * SHA-256 of a frame file; these give the same lower-case hex strings.
 *
 * Thread: any thread; a context belongs to one thread at a time.
 */
#ifndef AC_DIGEST_H
#define AC_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "err.h"

/* SHA-1 and SHA-512 check XISF data blocks (xisf.c). */
typedef enum ac_digest_alg {
    AC_DIGEST_MD5,
    AC_DIGEST_SHA256,
    AC_DIGEST_SHA1,
    AC_DIGEST_SHA512
} ac_digest_alg_t;

typedef struct ac_digest ac_digest_t;

/* ac_digest_new returns a new context (owned; ac_digest_free) or NULL. */
ac_digest_t *ac_digest_new(ac_digest_alg_t alg);
void ac_digest_update(ac_digest_t *d, const void *data, size_t len);
/* ac_digest_final writes the lower-case hex digest (33, 41, 65 or 129 bytes with NUL) into
 * hex and frees d. */
void ac_digest_final(ac_digest_t *d, char *hex, size_t size);
void ac_digest_free(ac_digest_t *d);

/* ac_digest_fd hashes the whole file open as fd (from offset 0, with pread: the file
 * offset is not moved; fd must not have O_DIRECT); name is for messages. 0, -errno, or
 * -ENOMEM. */
int ac_digest_fd(int fd, const char *name, ac_digest_alg_t alg, char *hex, size_t size,
                 ac_err_t *e);

/* ac_digest_fd_n is ac_digest_fd for n (1 to AC_DIGEST_MAX_N) digests of the same bytes,
 * read once: algs[i] into hex[i] (sizes[i] bytes). While reading a file of more than 8 MiB
 * it asks the kernel for the next 8 MiB ahead (POSIX_FADV_WILLNEED), so a cold file
 * streams at the disk's pace;
 * memory stays one 1 MiB buffer whatever the file's size. */
#define AC_DIGEST_MAX_N 2
int ac_digest_fd_n(int fd, const char *name, int n, const ac_digest_alg_t *algs, char **hex,
                   const size_t *sizes, ac_err_t *e);

/* ac_digest_file hashes the whole file at path. 0, -errno, or -ENOMEM. */
int ac_digest_file(const char *path, ac_digest_alg_t alg, char *hex, size_t size, ac_err_t *e);

/* ac_digest_file_stat is ac_digest_file_n with the path's stat taken just before and just
 * after the read (before, after: either may be NULL); failing to stat is an error. With
 * ac_digest_unchanged(before, after) the digests are those of that one file's content. */
int ac_digest_file_stat(const char *path, int n, const ac_digest_alg_t *algs, char **hex,
                        const size_t *sizes, struct stat *before, struct stat *after,
                        ac_err_t *e);

/* ac_digest_unchanged says whether a and b are the same file with the same content as far
 * as the file system tells: device, inode, size, modification and change times (a write
 * changes the change time even when the modification time is set back). */
bool ac_digest_unchanged(const struct stat *a, const struct stat *b);

/* ac_digest_file_n is ac_digest_file for n digests from one read (ac_digest_fd_n). */
int ac_digest_file_n(const char *path, int n, const ac_digest_alg_t *algs, char **hex,
                     const size_t *sizes, ac_err_t *e);

#endif
