/*
 * poolsetup.c - the libuv pool's size and malloc's arenas (see poolsetup.h).
 */
#include "poolsetup.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

void ac_pool_setup(int threads, int jobs)
{
    char env[16];

    snprintf(env, sizeof env, "%d", threads > 0 ? threads : 1);
    setenv("UV_THREADPOOL_SIZE", env, 1);
    mallopt(M_ARENA_MAX, (jobs > 0 ? jobs : 1) + 1);
}
