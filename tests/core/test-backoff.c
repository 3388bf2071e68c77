/*
 * test-backoff.c - exponential back-off (daemon/core/backoff.c): delays double from the
 * first one up to the cap, a success resets them, and attempts are due only once the
 * delay has passed. Expected delays written out by hand (first * 2^n, capped).
 */
#include <stdio.h>

#include "backoff.h"
#include "test.h"

TEST(backoff_doubles_up_to_the_cap)
{
    ASSERT_NEAR(ac_backoff_delay(5, 300, 0), 5, 0);
    ASSERT_NEAR(ac_backoff_delay(5, 300, 1), 10, 0);
    ASSERT_NEAR(ac_backoff_delay(5, 300, 5), 160, 0);
    ASSERT_NEAR(ac_backoff_delay(5, 300, 6), 300, 0); /* 320 capped */
    ASSERT_NEAR(ac_backoff_delay(5, 300, 1000), 300, 0);
    ASSERT_NEAR(ac_backoff_delay(5, 300, -3), 5, 0);
}

TEST(backoff_failures_due_and_reset)
{
    ac_backoff_t b = {0};

    ASSERT(ac_backoff_due(&b, 0));
    ASSERT_NEAR(ac_backoff_fail(&b, 100, 1, 60), 1, 0);
    ASSERT(!ac_backoff_due(&b, 100.5));
    ASSERT(ac_backoff_due(&b, 101));
    ASSERT_NEAR(ac_backoff_fail(&b, 101, 1, 60), 2, 0);
    ASSERT_NEAR(ac_backoff_fail(&b, 103, 1, 60), 4, 0);
    ASSERT_NEAR(b.until, 107, 0);
    ASSERT_EQ(b.failures, 3);
    for (int i = 0; i < 10; i++)
        ac_backoff_fail(&b, 200, 1, 60);
    ASSERT_NEAR(b.delay_s, 60, 0);
    ASSERT_NEAR(b.until, 260, 0);
    ac_backoff_reset(&b);
    ASSERT_EQ(b.failures, 0);
    ASSERT(ac_backoff_due(&b, 0));
}

TEST(backoff_table_one_per_key)
{
    ac_backoff_table_t t = {0};
    ac_backoff_t *a, *b;
    char key[16];

    ASSERT_NULL(ac_backoff_table_get(&t, "a", false));
    a = ac_backoff_table_get(&t, "a", true);
    ASSERT_NOT_NULL(a);
    ASSERT_EQ(a->failures, 0);
    ASSERT_NEAR(ac_backoff_fail(a, 0, 1, 60), 1, 0);
    ASSERT_NEAR(ac_backoff_fail(a, 0, 1, 60), 2, 0);
    b = ac_backoff_table_get(&t, "b", true);
    ASSERT_NEAR(ac_backoff_fail(b, 0, 1, 60), 1, 0); /* its own count */
    ASSERT_EQ(ac_backoff_table_get(&t, "a", false)->failures, 2);
    for (int i = 0; i < 20; i++) { /* growing keeps every entry */
        snprintf(key, sizeof key, "k%d", i);
        ac_backoff_fail(ac_backoff_table_get(&t, key, true), 0, 1, 60);
    }
    ASSERT_EQ(t.n, 22);
    ASSERT_EQ(ac_backoff_table_get(&t, "a", false)->failures, 2);
    ac_backoff_table_drop(&t, "a");
    ASSERT_NULL(ac_backoff_table_get(&t, "a", false));
    ASSERT_EQ(ac_backoff_table_get(&t, "b", false)->failures, 1);
    ASSERT_EQ(ac_backoff_table_get(&t, "k19", false)->failures, 1);
    ac_backoff_table_drop(&t, "missing");
    ASSERT_EQ(t.n, 21);
    ac_backoff_table_free(&t);
    ASSERT_EQ(t.n, 0);
}
