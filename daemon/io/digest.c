/*
 * digest.c - MD5 and SHA-256 through OpenSSL libcrypto's EVP interface (see digest.h).
 *
 * Ownership: an ac_digest_t owns its EVP_MD_CTX; ac_digest_final and ac_digest_free
 * release it. ac_digest_fd reads with a 1 MiB heap buffer (never on the stack).
 * Thread: no shared state; libcrypto 1.1+ needs no global initialisation.
 */
#include "digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_BUF_SIZE (1u << 20)

struct ac_digest {
    EVP_MD_CTX *ctx;
};

ac_digest_t *ac_digest_new(ac_digest_alg_t alg)
{
    const EVP_MD *md = alg == AC_DIGEST_MD5      ? EVP_md5()
                       : alg == AC_DIGEST_SHA1   ? EVP_sha1()
                       : alg == AC_DIGEST_SHA512 ? EVP_sha512()
                                                 : EVP_sha256();
    ac_digest_t *d = NULL;

    d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->ctx = EVP_MD_CTX_new();
    if (d->ctx == NULL || EVP_DigestInit_ex(d->ctx, md, NULL) != 1) {
        ac_digest_free(d);
        return NULL;
    }
    return d;
}

void ac_digest_update(ac_digest_t *d, const void *data, size_t len)
{
    if (len > 0)
        EVP_DigestUpdate(d->ctx, data, len);
}

void ac_digest_final(ac_digest_t *d, char *hex, size_t size)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    size_t o = 0;

    if (EVP_DigestFinal_ex(d->ctx, md, &n) != 1)
        n = 0;
    for (unsigned int i = 0; i < n && o + 2 < size; i++) {
        hex[o++] = digits[md[i] >> 4];
        hex[o++] = digits[md[i] & 15];
    }
    if (size > 0)
        hex[o] = '\0';
    ac_digest_free(d);
}

void ac_digest_free(ac_digest_t *d)
{
    if (d == NULL)
        return;
    EVP_MD_CTX_free(d->ctx);
    free(d);
}

static size_t hex_size(ac_digest_alg_t alg)
{
    return alg == AC_DIGEST_MD5      ? 33u
           : alg == AC_DIGEST_SHA1   ? 41u
           : alg == AC_DIGEST_SHA512 ? 129u
                                     : 65u;
}

/* Read-ahead hint: the next READ_AHEAD bytes past the read position are asked for
 * (POSIX_FADV_WILLNEED: the kernel queues them without waiting) once the position passes
 * the middle of the last hint, so the disk has several requests in flight even though
 * this thread reads one buffer at a time. Page cache, not this process's memory. Files of
 * READ_AHEAD or less get no hint: the kernel's own read-ahead serves them with less work. */
#define READ_AHEAD (8u << 20)

int ac_digest_fd_n(int fd, const char *name, int n, const ac_digest_alg_t *algs, char **hex,
                   const size_t *sizes, ac_err_t *e)
{
    ac_digest_t *d[AC_DIGEST_MAX_N] = {NULL};
    unsigned char *buf = NULL;
    off_t off = 0, hinted = 0;
    int rc = 0;

    if (n < 1 || n > AC_DIGEST_MAX_N)
        return ac_err_set(e, -EINVAL, "%s: %d digests asked for (1 to %d)", name, n,
                          AC_DIGEST_MAX_N);
    for (int i = 0; i < n; i++)
        if (sizes[i] < hex_size(algs[i]))
            return ac_err_set(e, -EINVAL, "%s: digest buffer too small (%zu bytes)", name,
                              sizes[i]);
    buf = malloc(READ_BUF_SIZE);
    for (int i = 0; i < n; i++)
        if ((d[i] = ac_digest_new(algs[i])) == NULL)
            rc = -ENOMEM;
    if (buf == NULL || rc != 0) {
        rc = ac_err_set(e, -ENOMEM, "%s: no memory to hash the file", name);
        goto out;
    }
#ifdef POSIX_FADV_SEQUENTIAL
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    {
        struct stat st; /* a file smaller than the hint is left to the kernel's read-ahead */
        if (fstat(fd, &st) != 0 || st.st_size <= (off_t)READ_AHEAD)
            hinted = -1;
    }
    for (;;) {
#ifdef POSIX_FADV_WILLNEED
        if (hinted >= 0 && off >= hinted - (off_t)(READ_AHEAD / 2)) {
            (void)posix_fadvise(fd, hinted, READ_AHEAD, POSIX_FADV_WILLNEED);
            hinted += READ_AHEAD;
        }
#endif
        ssize_t got = pread(fd, buf, READ_BUF_SIZE, off);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            ac_err_set(e, rc, "%s: read failed while hashing: %s", name, strerror(-rc));
            goto out;
        }
        if (got == 0)
            break;
        for (int i = 0; i < n; i++)
            ac_digest_update(d[i], buf, (size_t)got);
        off += got;
    }
    for (int i = 0; i < n; i++) {
        ac_digest_final(d[i], hex[i], sizes[i]);
        d[i] = NULL;
    }
out:
    for (int i = 0; i < n; i++)
        ac_digest_free(d[i]);
    free(buf);
    return rc;
}

int ac_digest_fd(int fd, const char *name, ac_digest_alg_t alg, char *hex, size_t size,
                 ac_err_t *e)
{
    return ac_digest_fd_n(fd, name, 1, &alg, &hex, &size, e);
}

int ac_digest_file_n(const char *path, int n, const ac_digest_alg_t *algs, char **hex,
                     const size_t *sizes, ac_err_t *e)
{
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        return ac_err_set(e, rc, "%s: cannot open to hash: %s", path, strerror(-rc));
    }
    rc = ac_digest_fd_n(fd, path, n, algs, hex, sizes, e);
    close(fd);
    return rc;
}

int ac_digest_file_stat(const char *path, int n, const ac_digest_alg_t *algs, char **hex,
                        const size_t *sizes, struct stat *before, struct stat *after,
                        ac_err_t *e)
{
    struct stat own[2];
    int rc;

    if (stat(path, before != NULL ? before : &own[0]) != 0)
        return ac_err_set(e, -errno, "%s: cannot stat: %s", path, strerror(errno));
    if ((rc = ac_digest_file_n(path, n, algs, hex, sizes, e)) != 0)
        return rc;
    if (stat(path, after != NULL ? after : &own[1]) != 0)
        return ac_err_set(e, -errno, "%s: cannot stat: %s", path, strerror(errno));
    return 0;
}

bool ac_digest_unchanged(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

int ac_digest_file(const char *path, ac_digest_alg_t alg, char *hex, size_t size, ac_err_t *e)
{
    return ac_digest_file_n(path, 1, &alg, &hex, &size, e);
}
