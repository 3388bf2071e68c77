/*
 * crashrec.h - the crash record: which files the daemon was calibrating when it died, and
 * what to do about them at the next start.
 *
 * While the daemon runs, the scheduler registers each light job on the pool (a slot with
 * its file id) and the pool thread that runs it says so. When the process receives
 * SIGSEGV, SIGBUS, SIGFPE, SIGABRT or SIGILL, a handler writes STATE_DIR/astrocald.crash
 * with async-signal-safe calls only (open, write, fsync, close):
 *     signal 11
 *     culprit <file id run by the thread that crashed, when it was a light job>
 *     running <file id>        (one line per job on the pool)
 * then restores the previous action (the default, or a sanitizer's) and raises the
 * signal again, so the process still dies of it (and dumps core where it would have).
 *
 * The scheduler also keeps a marker, STATE_DIR/astrocald.alone, naming the file being
 * calibrated alone (on the pool, nothing else in flight) when it was interrupted before:
 * a death while that file runs alone is blamed on it even when no handler could run
 * (SIGKILL, the OOM killer, a power cut). It is written (no fsync: it has to survive the
 * process, not the machine) and removed on the loop thread.
 *
 * At start-up, ac_crashrec_recover reads the record and the marker (if any), hands them
 * to the queue's recovery (queue.h, "Crashes": running files back to pending without an
 * attempt, deaths blamed only on a named culprit or a file being calibrated alone),
 * removes the temporary outputs
 * of every interrupted file (beside its light when output_dir is empty, and in
 * output_dir/<file id>/), logs what it did, deletes the record and installs the handler.
 *
 * Ownership: one record per process (globals: a signal handler has no other way in).
 * Thread: ac_crashrec_recover and install on the loop thread before any job runs;
 * enter/leave on the loop thread; ac_crashrec_thread on the pool thread running the job;
 * the handler on whichever thread crashed.
 */
#ifndef AC_CRASHREC_H
#define AC_CRASHREC_H

#include <stdbool.h>

#include "config.h"
#include "err.h"
#include "queue.h"

#define AC_CRASHREC_FILE "astrocald.crash"
#define AC_CRASHREC_ALONE "astrocald.alone"
#define AC_CRASHREC_SLOTS 64

/* A record read back. */
typedef struct ac_crashrec {
    bool found;
    char alone[64];   /* the marker's file id, "" when there is none */
    int signal;       /* 0 when the record has none */
    char culprit[64]; /* "" when unknown */
    int nrunning;
    char running[AC_CRASHREC_SLOTS][64];
} ac_crashrec_t;

/* ac_crashrec_install sets the record's path (state_dir/AC_CRASHREC_FILE) and installs the
 * handler for the five signals (an alternate stack for the calling thread, so a stack
 * overflow there is recorded too). 0 or -errno. */
int ac_crashrec_install(const char *state_dir, ac_err_t *e);

/* ac_crashrec_enter registers a light job on the pool: its slot, or -1 when all are
 * taken (the job then goes unrecorded); ac_crashrec_leave frees the slot (-1: nothing). */
int ac_crashrec_enter(const char *file_id);
void ac_crashrec_leave(int slot);

/* ac_crashrec_thread tells the record that the calling (pool) thread now works on slot
 * (-1: on nothing). */
void ac_crashrec_thread(int slot);

/* ac_crashrec_alone writes the marker naming file_id, or removes it (NULL). Nothing
 * before ac_crashrec_install. Loop thread. */
void ac_crashrec_alone(const char *file_id);

/* ac_crashrec_read reads state_dir's record into *out (found false when there is none).
 * 0, or -errno when it exists but cannot be read. */
int ac_crashrec_read(const char *state_dir, ac_crashrec_t *out, ac_err_t *e);

/* ac_crashrec_recover is the start-up step described above. 0, or the queue's error. */
int ac_crashrec_recover(ac_queue_t *q, const struct ac_config *cfg, ac_err_t *e);

#endif
