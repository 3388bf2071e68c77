/*
 * backoff.c - exponential back-off (see backoff.h).
 */
#include "backoff.h"

#include <math.h>
#include <string.h>

double ac_backoff_delay(double first_s, double cap_s, int n)
{
    double d;

    if (n < 0)
        n = 0;
    if (n > 60) /* 2^60 times anything positive is past any cap */
        n = 60;
    d = first_s * ldexp(1.0, n);
    return d < cap_s ? d : cap_s;
}

double ac_backoff_fail(ac_backoff_t *b, double now, double first_s, double cap_s)
{
    b->delay_s = ac_backoff_delay(first_s, cap_s, b->failures);
    b->failures++;
    b->until = now + b->delay_s;
    return b->delay_s;
}

bool ac_backoff_due(const ac_backoff_t *b, double now)
{
    return b->failures == 0 || now >= b->until;
}

void ac_backoff_reset(ac_backoff_t *b)
{
    memset(b, 0, sizeof *b);
}
