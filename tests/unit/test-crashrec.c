/*
 * test-crashrec.c - the crash record (daemon/serve/crashrec.c): a process that dies of a
 * crash signal on a pool-like thread leaves state_dir/astrocald.crash naming the signal,
 * the file on the crashing thread (the culprit) and every file in flight, and still dies
 * of that signal; a slot left is not listed; a missing record reads as none.
 *
 * SIGABRT is used: the sanitizers leave it to the process (handle_abort=0), while they
 * report SIGSEGV themselves, which would change how the child dies.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crashrec.h"
#include "test.h"

static int culprit_slot;

static void *crashing_thread(void *arg)
{
    (void)arg;
    ac_crashrec_thread(culprit_slot);
    raise(SIGABRT); /* sent to this thread: the handler runs here */
    return NULL;
}

TEST(crashrec_records_the_culprit_and_dies_of_the_signal)
{
    ac_crashrec_t rec;
    int status = 0;
    pid_t pid;

    ASSERT_OK(ac_crashrec_read(".", &rec, NULL));
    ASSERT(!rec.found);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        pthread_t t;
        int gone;

        setrlimit(RLIMIT_CORE, &no_core);
        if (ac_crashrec_install(".", NULL) != 0)
            _exit(3);
        ac_crashrec_enter("F-1");
        gone = ac_crashrec_enter("F-gone");
        culprit_slot = ac_crashrec_enter("F-2");
        ac_crashrec_leave(gone);
        pthread_create(&t, NULL, crashing_thread, NULL);
        pthread_join(t, NULL);
        _exit(4); /* not reached: the signal kills the process */
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFSIGNALED(status));
    ASSERT_EQ(WTERMSIG(status), SIGABRT);
    ASSERT_OK(ac_crashrec_read(".", &rec, NULL));
    ASSERT(rec.found);
    ASSERT_EQ(rec.signal, SIGABRT);
    ASSERT_STR_EQ(rec.culprit, "F-2");
    ASSERT_EQ(rec.nrunning, 2);
    ASSERT_STR_EQ(rec.running[0], "F-1");
    ASSERT_STR_EQ(rec.running[1], "F-2");
}
