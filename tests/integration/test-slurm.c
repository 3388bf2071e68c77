/*
 * test-slurm.c - reprocessing through a real single-node Slurm (Debian slurm-wlm, munge):
 * munged with a generated key, slurmctld -D and slurmd -D in the foreground with a minimal
 * slurm.conf for this host, all under the test's temporary folder and stopped at the end.
 * A catalogue of three sessions is exported into 4 shards with --slurm, the script is
 * submitted with sbatch, waited for with squeue (bounded) and checked with scontrol; the
 * results are imported; every light is calibrated exactly once with the one-shot's pixels.
 * The array is then submitted again and the results imported again: nothing changes.
 *
 * Skipped, with the reason printed, where Slurm cannot start (not installed, not root, the
 * daemons do not come up); AC_REQUIRE_SLURM=1 turns the skip into a failure (.ci/run).
 */
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "afdb.h"
#include "clusterfix.h"
#include "support.h"

struct slurm {
    pid_t munged, ctld, slurmd;
    char dir[1024], conf[1100];
};

static bool skip(const char *why)
{
    if (getenv("AC_REQUIRE_SLURM") != NULL)
        AC_TEST_FAIL("Slurm is required (AC_REQUIRE_SLURM) but cannot start: %s", why);
    printf("SKIPPED: Slurm cannot start here: %s\n", why);
    return false;
}

/* sh runs a shell command line (printf-style), its output into the test's log; returns
 * system()'s status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    fflush(stdout);
    return system(cmd);
}

static char *read_cmd(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    char *buf = calloc(1, 65536);
    size_t n;

    ASSERT_NOT_NULL(p);
    n = fread(buf, 1, 65535, p);
    buf[n] = '\0';
    pclose(p);
    return buf;
}

/* slurm_start starts munged, slurmctld and slurmd; false (skipped) when it cannot. */
static bool slurm_start(struct slurm *s)
{
    static const char *const bins[] = {
        "/usr/sbin/munged", "/usr/sbin/mungekey", "/usr/sbin/slurmctld", "/usr/sbin/slurmd",
        "/usr/bin/sbatch",  "/usr/bin/squeue",    "/usr/bin/scontrol",   "/usr/bin/sinfo"};
    char host[256], sock[1200], buf[1300];
    int port = 20000 + (int)(getpid() % 10000) * 2;
    long long t0;
    FILE *f;
    char *out;

    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < sizeof bins / sizeof *bins; i++)
        if (access(bins[i], X_OK) != 0)
            return skip("slurm-wlm and munge are not installed (.ci/setup installs them)");
    if (geteuid() != 0)
        return skip("slurmd needs root (it runs the tasks as their users)");
    abspath(s->dir, sizeof s->dir, "slurm");
    ASSERT_OK(mkdir(s->dir, 0700));
    snprintf(sock, sizeof sock, "%s/munge.sock", s->dir);
    if (sh("/usr/sbin/mungekey --create --keyfile=%s/munge.key >/dev/null 2>&1", s->dir) != 0)
        return skip("mungekey --create failed");
    {
        char key[1200], pid[1200], seed[1200], log[1200];
        snprintf(key, sizeof key, "--key-file=%s/munge.key", s->dir);
        snprintf(pid, sizeof pid, "--pid-file=%s/munged.pid", s->dir);
        snprintf(seed, sizeof seed, "--seed-file=%s/munged.seed", s->dir);
        snprintf(log, sizeof log, "--log-file=%s/munged.log", s->dir);
        snprintf(buf, sizeof buf, "--socket=%s", sock);
        s->munged = ac_harness_spawn(
            (const char *[]){"/usr/sbin/munged", "-F", "-f", key, pid, seed, log, buf, NULL},
            NULL, "slurm/munged.out", "slurm/munged.out");
    }
    gethostname(host, sizeof host);
    host[strcspn(host, ".")] = '\0';
    snprintf(s->conf, sizeof s->conf, "%s/slurm.conf", s->dir);
    f = fopen(s->conf, "w");
    ASSERT_NOT_NULL(f);
    fprintf(f,
            "ClusterName=actest\nSlurmctldHost=%s\nSlurmUser=root\nSlurmdUser=root\n"
            "AuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket=%s\n"
            "SlurmctldPort=%d\nSlurmdPort=%d\n"
            "StateSaveLocation=%s/state\nSlurmdSpoolDir=%s/spool\n"
            "SlurmctldPidFile=%s/slurmctld.pid\nSlurmdPidFile=%s/slurmd.pid\n"
            "SlurmctldLogFile=%s/slurmctld.log\nSlurmdLogFile=%s/slurmd.log\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nMpiDefault=none\n"
            "SwitchType=switch/none\nSchedulerType=sched/backfill\n"
            "SelectType=select/cons_tres\nSelectTypeParameters=CR_CPU\n"
            "JobAcctGatherType=jobacct_gather/none\n"
            "AccountingStorageType=accounting_storage/none\nJobCompType=jobcomp/none\n"
            "ReturnToService=2\nMinJobAge=600\n"
            "NodeName=%s CPUs=%ld RealMemory=4000 State=UNKNOWN\n"
            "PartitionName=actest Nodes=%s Default=YES MaxTime=INFINITE State=UP\n",
            host, sock, port, port + 1, s->dir, s->dir, s->dir, s->dir, s->dir, s->dir, host,
            sysconf(_SC_NPROCESSORS_ONLN), host);
    fclose(f);
    setenv("SLURM_CONF", s->conf, 1);
    s->ctld = ac_harness_spawn(
        (const char *[]){"/usr/sbin/slurmctld", "-D", "-i", "-f", s->conf, NULL}, NULL,
        "slurm/slurmctld.out", "slurm/slurmctld.out");
    s->slurmd =
        ac_harness_spawn((const char *[]){"/usr/sbin/slurmd", "-D", "-f", s->conf, NULL}, NULL,
                         "slurm/slurmd.out", "slurm/slurmd.out");
    t0 = ac_harness_now_ms();
    while (ac_harness_now_ms() - t0 < 30000) {
        out = read_cmd("/usr/bin/sinfo -h -o %T 2>/dev/null");
        bool idle = strstr(out, "idle") != NULL;
        free(out);
        if (idle)
            return true;
        ac_harness_sleep_ms(200);
    }
    sh("tail -n 20 %s/slurmctld.log %s/slurmd.log; cat slurm/*.out", s->dir, s->dir);
    return skip("the node did not become idle within 30 s (logs above)");
}

static void slurm_stop(struct slurm *s)
{
    pid_t p[3] = {s->slurmd, s->ctld, s->munged};

    for (int i = 0; i < 3; i++) {
        if (p[i] <= 0)
            continue;
        kill(p[i], SIGTERM);
        if (ac_harness_wait(NULL, p[i], 20000, NULL) == -ETIMEDOUT) {
            kill(p[i], SIGKILL);
            ac_harness_wait(NULL, p[i], 5000, NULL);
        }
    }
}

/* submit runs sbatch on the export's script and waits for the array to leave the queue;
 * every task must have COMPLETED. */
static void submit_and_wait(int nshards)
{
    char *out, cmd[512];
    int job = 0, completed = 0;
    long long t0;

    out = read_cmd("/usr/bin/sbatch --parsable exp/astrocald-array.sbatch 2>&1");
    printf("sbatch: %s", out);
    ASSERT_EQ(sscanf(out, "%d", &job), 1);
    free(out);
    t0 = ac_harness_now_ms();
    for (;;) {
        snprintf(cmd, sizeof cmd, "/usr/bin/squeue -h -j %d 2>&1", job);
        out = read_cmd(cmd);
        bool gone = out[0] == '\0';
        free(out);
        if (gone)
            break;
        if (ac_harness_now_ms() - t0 > 150000)
            AC_TEST_FAIL("job %d still queued or running after 150 s", job);
        ac_harness_sleep_ms(300);
    }
    snprintf(cmd, sizeof cmd, "/usr/bin/scontrol show job %d 2>&1", job);
    out = read_cmd(cmd);
    for (const char *p = out; (p = strstr(p, "JobState=")) != NULL; p++)
        completed += strncmp(p, "JobState=COMPLETED", 18) == 0;
    if (completed != nshards) {
        printf("%s", out);
        sh("cat exp/slurm-*.out");
    }
    ASSERT_EQ(completed, nshards);
    free(out);
}

static long long fsize(const char *p)
{
    struct stat st;
    ASSERT_OK(stat(p, &st));
    return (long long)st.st_size;
}

TEST_TIMEOUT(slurm_job_array_export_run_import, 400)
{
    struct slurm s;
    struct cluster cl;
    char *out = NULL, *script, want[128];
    long long mem;

    if (!slurm_start(&s)) {
        slurm_stop(&s);
        return;
    }
    cluster_start(&cl, 9);
    cluster_export_with(&cl, 4,
                        (const char *[]){"--slurm", "--cpus", "1", "--time", "00:10:00", NULL});
    ASSERT_EQ(cl.nshards, 4);
    /* The script: one task per shard, 1 CPU, memory = 2 x the masters' files + one job
     * memory (32 MiB by default) + 256 MiB. */
    script = ac_harness_read_file("exp/astrocald-array.sbatch");
    ASSERT_NOT_NULL(script);
    ASSERT_CONTAINS(script, "#SBATCH --array=1-4\n");
    ASSERT_CONTAINS(script, "#SBATCH --cpus-per-task=1\n");
    ASSERT_CONTAINS(script, "#SBATCH --time=00:10:00\n");
    mem = (2 * (fsize(cl.nt.bias) + fsize(cl.nt.dark) + fsize(cl.nt.flat)) + (32LL << 20)) /
              1048576 +
          256;
    snprintf(want, sizeof want, "#SBATCH --mem=%lldM\n", mem);
    ASSERT_CONTAINS(script, want);
    free(script);
    setenv("ASTROCALD", AC_ASTROCALD_BIN, 1);

    submit_and_wait(cl.nshards);
    ASSERT_EQ(ac_harness_ctl(&cl.h, &out, NULL, "import-results", "exp", NULL), 0);
    printf("%s", out);
    ASSERT_CONTAINS(out, "9 recorded, 0 already recorded, 0 failed back");
    free(out);
    cluster_check_done(&cl);

    /* The array again (every task skips its lights), then the import again. */
    submit_and_wait(cl.nshards);
    ASSERT_EQ(sh("grep -h 'already done' exp/slurm-*.out | grep -c ': 0 calibrated' | "
                 "grep -qx 4"),
              0);
    ASSERT_EQ(ac_harness_ctl(&cl.h, &out, NULL, "import-results", "exp", NULL), 0);
    ASSERT_CONTAINS(out, "0 recorded, 9 already recorded");
    free(out);
    cluster_check_done(&cl);
    cluster_stop(&cl);
    slurm_stop(&s);
}
