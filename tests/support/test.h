/*
 * test.h - the astrocald test framework: registration and typed asserts.
 *
 * A test is declared with TEST(name) { ... } in any file linked into a test executable;
 * a constructor registers it. The runner (runner.c) runs each test in its own forked
 * child, inside a fresh temporary directory (the child's working directory), with a
 * timeout; it shows a test's output only when it fails and ends with "N passed, N failed".
 *
 * Asserts print both values with file and line, then abort the child (the test fails).
 * ASSERT_NEAR compares floating point with an explicit absolute tolerance.
 *
 * `<exe> NAME...` runs only the named tests; `<exe> -l` lists them; a name ending in '*'
 * is a prefix pattern.
 */
#ifndef AC_TEST_H
#define AC_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*ac_test_fn)(void);
void ac_test_register(const char *name, ac_test_fn fn, int timeout_s);
/* ac_test_tmpdir returns the absolute path of the current test's temporary directory. */
const char *ac_test_tmpdir(void);
/* ac_test_srcdir returns the source tree root (AC_SOURCE_DIR from CMake). */
const char *ac_test_srcdir(void);
/* ac_test_bindir returns the build tree root (AC_BINARY_DIR from CMake). */
const char *ac_test_bindir(void);

#define TEST_TIMEOUT(name, seconds)                                                            \
    static void test_##name(void);                                                             \
    __attribute__((constructor)) static void register_##name(void)                             \
    {                                                                                          \
        ac_test_register(#name, test_##name, seconds);                                         \
    }                                                                                          \
    static void test_##name(void)

#define TEST(name) TEST_TIMEOUT(name, 60)

#define AC_TEST_FAIL(...)                                                                      \
    do {                                                                                       \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                        \
        fprintf(stderr, __VA_ARGS__);                                                          \
        fputc('\n', stderr);                                                                   \
        fflush(stderr);                                                                        \
        abort();                                                                               \
    } while (0)

#define ASSERT(cond)                                                                           \
    do {                                                                                       \
        if (!(cond))                                                                           \
            AC_TEST_FAIL("assertion failed: %s", #cond);                                       \
    } while (0)

#define ASSERT_EQ(a, b)                                                                        \
    do {                                                                                       \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                  \
        if (va_ != vb_)                                                                        \
            AC_TEST_FAIL("%s == %s failed: %lld != %lld", #a, #b, va_, vb_);                   \
    } while (0)

#define ASSERT_NE(a, b)                                                                        \
    do {                                                                                       \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                  \
        if (va_ == vb_)                                                                        \
            AC_TEST_FAIL("%s != %s failed: both %lld", #a, #b, va_);                           \
    } while (0)

#define ASSERT_OK(expr)                                                                        \
    do {                                                                                       \
        long long v_ = (long long)(expr);                                                      \
        if (v_ != 0)                                                                           \
            AC_TEST_FAIL("%s returned %lld, expected 0", #expr, v_);                           \
    } while (0)

#define ASSERT_NEAR(a, b, tol)                                                                 \
    do {                                                                                       \
        double va_ = (double)(a), vb_ = (double)(b), t_ = (double)(tol);                       \
        if (!(fabs(va_ - vb_) <= t_))                                                          \
            AC_TEST_FAIL("%s ~= %s failed: %.10g vs %.10g (tolerance %.3g)", #a, #b, va_, vb_, \
                         t_);                                                                  \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                                    \
    do {                                                                                       \
        const char *sa_ = (a), *sb_ = (b);                                                     \
        if (sa_ == NULL || sb_ == NULL || strcmp(sa_, sb_) != 0)                               \
            AC_TEST_FAIL("%s == %s failed: \"%s\" != \"%s\"", #a, #b, sa_ ? sa_ : "(null)",    \
                         sb_ ? sb_ : "(null)");                                                \
    } while (0)

#define ASSERT_CONTAINS(hay, needle)                                                           \
    do {                                                                                       \
        const char *h_ = (hay), *n_ = (needle);                                                \
        if (h_ == NULL || strstr(h_, n_) == NULL)                                              \
            AC_TEST_FAIL("%s does not contain \"%s\": \"%s\"", #hay, n_, h_ ? h_ : "(null)");  \
    } while (0)

#define ASSERT_NULL(p) ASSERT((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT((p) != NULL)

#endif
