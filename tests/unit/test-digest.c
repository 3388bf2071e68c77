/*
 * test-digest.c - MD5 and SHA-256 against the published test vectors (RFC 1321 appendix
 * A.5, FIPS 180-2 appendix B) and files hashed through the 1 MiB read buffer, one or two
 * digests from one read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "digest.h"
#include "test.h"

static void hash_str(ac_digest_alg_t alg, const char *s, char *hex, size_t size)
{
    ac_digest_t *d = ac_digest_new(alg);

    ASSERT_NOT_NULL(d);
    ac_digest_update(d, s, strlen(s));
    ac_digest_final(d, hex, size);
}

/* write_a writes n bytes of 'a' to path. */
static void write_a(const char *path, size_t n)
{
    FILE *f = fopen(path, "wb");
    char buf[4096];

    ASSERT_NOT_NULL(f);
    memset(buf, 'a', sizeof buf);
    while (n > 0) {
        size_t k = n < sizeof buf ? n : sizeof buf;
        ASSERT_EQ(fwrite(buf, 1, k, f), k);
        n -= k;
    }
    ASSERT_OK(fclose(f));
}

/* assert_file_digests requires the MD5 and the SHA-256 of the file at path to be md5 and
 * sha256 (lower-case hex). */
static void assert_file_digests(const char *path, const char *md5, const char *sha256)
{
    char hex[65];
    ac_err_t e = {0};

    if (ac_digest_file(path, AC_DIGEST_MD5, hex, 33, &e) != 0)
        AC_TEST_FAIL("MD5 of %s: %s", path, e.msg);
    ASSERT_STR_EQ(hex, md5);
    if (ac_digest_file(path, AC_DIGEST_SHA256, hex, sizeof hex, &e) != 0)
        AC_TEST_FAIL("SHA-256 of %s: %s", path, e.msg);
    ASSERT_STR_EQ(hex, sha256);
}

TEST(digest_md5_rfc1321_vectors)
{
    char hex[33];

    hash_str(AC_DIGEST_MD5, "", hex, sizeof hex);
    ASSERT_STR_EQ(hex, "d41d8cd98f00b204e9800998ecf8427e");
    hash_str(AC_DIGEST_MD5, "abc", hex, sizeof hex);
    ASSERT_STR_EQ(hex, "900150983cd24fb0d6963f7d28e17f72");
    hash_str(AC_DIGEST_MD5, "message digest", hex, sizeof hex);
    ASSERT_STR_EQ(hex, "f96b697d7cb7938d525a2f31aaf161d0");
    hash_str(AC_DIGEST_MD5,
             "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
             hex, sizeof hex);
    ASSERT_STR_EQ(hex, "57edf4a22be3c955ac49da2e2107b67a");
}

TEST(digest_sha256_fips180_vectors)
{
    char hex[65];

    hash_str(AC_DIGEST_SHA256, "abc", hex, sizeof hex);
    ASSERT_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash_str(AC_DIGEST_SHA256, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex,
             sizeof hex);
    ASSERT_STR_EQ(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    hash_str(AC_DIGEST_SHA256, "", hex, sizeof hex);
    ASSERT_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(digest_update_in_pieces)
{
    ac_digest_t *d = ac_digest_new(AC_DIGEST_SHA256);
    char hex[65];

    ASSERT_NOT_NULL(d);
    ac_digest_update(d, "a", 1);
    ac_digest_update(d, "", 0);
    ac_digest_update(d, "bc", 2);
    ac_digest_final(d, hex, sizeof hex);
    ASSERT_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* Freeing an unfinished context and NULL is allowed. */
    ac_digest_free(ac_digest_new(AC_DIGEST_MD5));
    ac_digest_free(NULL);
}

TEST(digest_file_abc)
{
    FILE *f = fopen("abc.txt", "wb");

    ASSERT_NOT_NULL(f);
    fputs("abc", f);
    ASSERT_OK(fclose(f));
    assert_file_digests("abc.txt", "900150983cd24fb0d6963f7d28e17f72",
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(digest_file_million_a)
{
    /* FIPS 180-2 B.3: one million 'a'; MD5 value from the same input. */
    write_a("a1m", 1000000);
    assert_file_digests("a1m", "7707d6ae4e027c70eea2a935c2296f21",
                        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(digest_file_spans_read_buffers)
{
    /* 2,500,000 bytes cross two 1 MiB buffer boundaries; expected values from Python's
     * hashlib on the same bytes. */
    write_a("a25", 2500000);
    assert_file_digests("a25", "810b761e68a4f58192e0448bc415517e",
                        "38a637965059125eeb67f54c30e7f48a61859a467a800ba09740ba48a924f2b9");
}

TEST(digest_file_missing_and_small_buffer)
{
    char hex[65];
    ac_err_t e = {0};

    ASSERT_EQ(ac_digest_file("nope.fits", AC_DIGEST_MD5, hex, sizeof hex, &e), -ENOENT);
    ASSERT_CONTAINS(e.msg, "nope.fits");
    ac_err_clear(&e);
    write_a("x", 3);
    ASSERT_EQ(ac_digest_file("x", AC_DIGEST_SHA256, hex, 33, &e), -EINVAL);
}

TEST(digest_fd_n_two_digests_of_one_read_past_the_read_ahead)
{
    /* 9 MiB + 123 bytes of i % 251: longer than the 8 MiB read-ahead hint (two hints),
     * SHA-256 and MD5 from one read; expected values from Python's hashlib. */
    const size_t n = 9u * 1048576u + 123u;
    const ac_digest_alg_t algs[2] = {AC_DIGEST_SHA256, AC_DIGEST_MD5};
    const size_t sizes[2] = {65, 33};
    char sha[65], md5[33], *hex[2] = {sha, md5};
    ac_err_t e = {0};
    FILE *f = fopen("pattern", "wb");
    int fd;

    ASSERT_NOT_NULL(f);
    for (size_t i = 0; i < n; i++)
        ASSERT(fputc((int)(i % 251), f) != EOF);
    ASSERT_OK(fclose(f));
    fd = open("pattern", O_RDONLY);
    ASSERT(fd >= 0);
    ASSERT_OK(ac_digest_fd_n(fd, "pattern", 2, algs, hex, sizes, &e));
    ASSERT_STR_EQ(sha, "918b447b97259a2767661ce5ba175af2962ff549d7c42cff5b49aedf98c45fd0");
    ASSERT_STR_EQ(md5, "d1ecb7666526194fe34b19b663f2a13e");
    /* One digest alone gives the same; a too small buffer and 3 digests are refused. */
    ASSERT_OK(ac_digest_fd_n(fd, "pattern", 1, algs + 1, hex + 1, sizes + 1, &e));
    ASSERT_STR_EQ(md5, "d1ecb7666526194fe34b19b663f2a13e");
    ASSERT_EQ(ac_digest_fd_n(fd, "pattern", 1, algs, hex, sizes + 1, &e), -EINVAL);
    ASSERT_EQ(ac_digest_fd_n(fd, "pattern", 3, algs, hex, sizes, &e), -EINVAL);
    close(fd);
}
