/*
 * poolsetup.h - the process's set-up for the libuv pool, shared by the daemon and both
 * one-shot modes: the pool's size, and malloc's arenas bounded by the work that runs at
 * once.
 *
 * Why the arenas: main.c keeps frame-sized buffers (strips, the writer's, the quality
 * sample) in the heap rather than in fresh mappings, and glibc keeps a freed buffer in the
 * arena of the thread that used it. With an arena per pool thread, a run whose lights
 * pass through every thread of the pool ends up holding a light's buffers per thread (the
 * one-shot's resident memory grew by about 64 MiB over 12 lights of 26 MP, 8 MiB above the
 * masters plus 2 x job_memory); with at most one arena per job (plus the main thread's),
 * the next light takes the buffers the last one freed, whatever thread runs it.
 *
 * Thread: the main thread, before the loop's first use of the pool (style-anchors §9.2-1).
 */
#ifndef AC_POOLSETUP_H
#define AC_POOLSETUP_H

/* ac_pool_setup sets UV_THREADPOOL_SIZE to threads (any value in the environment is
 * replaced) and allows malloc at most jobs + 1 arenas. */
void ac_pool_setup(int threads, int jobs);

#endif
