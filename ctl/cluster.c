/*
 * cluster.c - `astrocalctl export` and `astrocalctl import-results` (cluster.h).
 *
 * Sharding: each light's size is read here (stat; 0 when this machine cannot see it).
 * Sessions are placed whole, largest first, each on the shard with the fewest bytes so far
 * (longest-processing-time first); a session larger than a shard's fair share (total / N)
 * is split, its lights placed one by one the same way. Only non-empty shards are written,
 * numbered from 1: DIR/shard-0001.jsonl ...; DIR/export.json says what was exported.
 *
 * The Slurm script (--slurm): one array task per shard; CPUs per task --cpus (default 4,
 * at most the lights of the largest shard); memory per task = the largest master set's
 * float32 size (twice the masters' file sizes, the bound for 16-bit masters) + one job
 * memory (the manifest's options.job_memory, the daemon's job_memory_mib) per CPU + 256
 * MiB, in MiB. The HTCondor submit file (--condor) asks the same CPUs and memory per job
 * (request_cpus, request_memory) and queues one job per shard (queue shard from (...)).
 */
#include "cluster.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "proto.h"

#define SHARD_NAME "%s/shard-%04d.jsonl"
#define MAX_BATCH_BYTES 48000 /* under AC_PROTO_MAX_LINE with the request around it */

bool ctl_cluster_is(const char *name)
{
    return strcmp(name, "export") == 0 || strcmp(name, "import-results") == 0;
}

static int say(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int say(int status, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "astrocalctl: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return status;
}

static const char *local_str(const ctl_parsed_t *p, const char *k)
{
    return json_string_value(json_object_get(p->local, k));
}

static int local_int(const ctl_parsed_t *p, const char *k, int dflt)
{
    json_t *v = json_object_get(p->local, k);
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

/* dir_empty: DIR exists (made if not) and holds nothing but dot files. */
static bool dir_empty(const char *dir)
{
    DIR *d;
    struct dirent *de;
    bool empty = true;

    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return false;
    if ((d = opendir(dir)) == NULL)
        return false;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            empty = false;
    closedir(d);
    return empty;
}

int ctl_cluster_check(const ctl_cmd_t *cmd, ctl_parsed_t *p)
{
    json_t *a = p->args;
    int n = (json_object_get(a, "sessions") != NULL) +
            (json_object_get(a, "since") != NULL || json_object_get(a, "until") != NULL) +
            json_is_true(json_object_get(a, "all_uncalibrated")) +
            (json_object_get(a, "calibrated_with") != NULL);

    if (strcmp(cmd->name, "export") != 0)
        return 0;
    if (n != 1)
        return say(EX_USAGE, "export: give one selection: --session ID..., --since/--until "
                             "DATE, --all-uncalibrated or --calibrated-with MASTER");
    if (local_int(p, "shards", 0) < 1 || local_str(p, "out") == NULL)
        return say(EX_USAGE, "export: --shards N (N >= 1) and --out DIR are required");
    if (local_int(p, "cpus", 4) < 1)
        return say(EX_USAGE, "export: --cpus must be at least 1");
    if (!dir_empty(local_str(p, "out")))
        return say(EX_CANTCREAT, "export: %s must be a new or empty folder%s",
                   local_str(p, "out"), " (a folder per export)");
    return 0;
}

struct light {
    json_t *line;
    const char *session;
    long long bytes;
    int shard;
};

struct sess {
    const char *id;
    long long bytes;
    int first, n; /* lights[first..first+n) after sorting by session */
};

static int by_session(const void *a, const void *b)
{
    return strcmp(((const struct light *)a)->session, ((const struct light *)b)->session);
}

static int by_bytes_desc(const void *a, const void *b)
{
    long long x = ((const struct sess *)a)->bytes, y = ((const struct sess *)b)->bytes;
    return x < y   ? 1
           : x > y ? -1
                   : strcmp(((const struct sess *)a)->id, ((const struct sess *)b)->id);
}

static int least(const long long *load, int n)
{
    int best = 0;

    for (int i = 1; i < n; i++)
        if (load[i] < load[best])
            best = i;
    return best;
}

/* place assigns each light a shard (see the file comment). */
static void place(struct light *l, size_t n, int shards, long long *load)
{
    struct sess *ss = calloc(n + 1, sizeof *ss);
    long long total = 0;
    int ns = 0;

    if (ss == NULL)
        return;
    qsort(l, n, sizeof *l, by_session);
    for (size_t i = 0; i < n; i++) {
        if (ns == 0 || strcmp(ss[ns - 1].id, l[i].session) != 0)
            ss[ns++] = (struct sess){l[i].session, 0, (int)i, 0};
        ss[ns - 1].bytes += l[i].bytes;
        ss[ns - 1].n++;
        total += l[i].bytes;
    }
    qsort(ss, (size_t)ns, sizeof *ss, by_bytes_desc);
    for (int s = 0; s < ns; s++) {
        bool split = shards > 1 && ss[s].bytes > total / shards + 1;
        int sh = least(load, shards);
        for (int k = ss[s].first; k < ss[s].first + ss[s].n; k++) {
            if (split)
                sh = least(load, shards);
            l[k].shard = sh;
            load[sh] += l[k].bytes > 0 ? l[k].bytes : 1;
        }
    }
    free(ss);
}

static long long file_size(const char *path)
{
    struct stat st;
    return path != NULL && stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* masters_mib: the largest master set's memory as float32, in MiB (see the file comment). */
static long long task_mem_mib(const struct light *l, size_t n, int cpus)
{
    long long best = 0, jm = 32LL << 20;

    for (size_t i = 0; i < n; i++) {
        json_t *ms = json_object_get(l[i].line, "masters"), *v;
        const char *k;
        long long sum = 0;
        json_object_foreach(ms, k, v)
        {
            sum += 2 * file_size(json_string_value(json_object_get(v, "path")));
        }
        if (sum > best)
            best = sum;
        v = json_object_get(json_object_get(l[i].line, "options"), "job_memory");
        if (json_is_integer(v) && json_integer_value(v) > jm)
            jm = json_integer_value(v);
    }
    return (best + (long long)cpus * jm) / 1048576 + 256;
}

static int write_slurm(const ctl_parsed_t *p, const char *dir, int nshards, int cpus,
                       long long mem)
{
    char path[4200];
    FILE *f;
    const char *part = local_str(p, "partition"), *tl = local_str(p, "time");

    snprintf(path, sizeof path, "%s/astrocald-array.sbatch", dir);
    if ((f = fopen(path, "w")) == NULL)
        return say(EX_CANTCREAT, "%s: %s", path, strerror(errno));
    fprintf(f,
            "#!/bin/sh\n"
            "# Written by astrocalctl export: one array task per shard (docs/cluster.md).\n"
            "# Each task is idempotent: resubmitting the array skips the lights done.\n"
            "#SBATCH --job-name=astrocald\n"
            "#SBATCH --array=1-%d\n"
            "#SBATCH --ntasks=1\n"
            "#SBATCH --cpus-per-task=%d\n"
            "#SBATCH --mem=%lldM\n"
            "#SBATCH --time=%s\n"
            "#SBATCH --output=%s/slurm-%%A_%%a.out\n",
            nshards, cpus, mem, tl ? tl : "04:00:00", dir);
    if (part != NULL)
        fprintf(f, "#SBATCH --partition=%s\n", part);
    fprintf(f,
            "i=$(printf %%04d \"$SLURM_ARRAY_TASK_ID\")\n"
            "exec \"${ASTROCALD:-astrocald}\" calibrate --manifest \"%s/shard-$i.jsonl\" \\\n"
            "    --results \"%s/shard-$i.results.jsonl\" --jobs \"${SLURM_CPUS_PER_TASK:-%d}\" "
            "--quiet\n",
            dir, dir, cpus);
    if (fclose(f) != 0)
        return say(EX_IOERR, "%s: %s", path, strerror(errno));
    chmod(path, 0755);
    printf("sbatch %s\n", path);
    return 0;
}

/* astrocald_path: where the execute hosts run astrocald: $ASTROCALD when absolute, else
 * the astrocald on PATH here (HTCondor wants an absolute executable; the nodes share the
 * installation), else the packaged /usr/bin/astrocald. */
static void astrocald_path(char *out, size_t size)
{
    const char *env = getenv("ASTROCALD"), *path = getenv("PATH");
    char *dirs, *save = NULL;

    snprintf(out, size, "/usr/bin/astrocald");
    if (env != NULL && env[0] == '/') {
        snprintf(out, size, "%s", env);
        return;
    }
    if (path == NULL || (dirs = strdup(path)) == NULL)
        return;
    for (char *d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
        char cand[4200];
        snprintf(cand, sizeof cand, "%s/astrocald", d);
        if (d[0] == '/' && access(cand, X_OK) == 0) {
            snprintf(out, size, "%s", cand);
            break;
        }
    }
    free(dirs);
}

/* write_condor writes DIR/astrocald.sub: one HTCondor job per shard (queue ... from), the
 * CPUs and memory of the Slurm rule (the file comment), on a shared file system. */
static int write_condor(const char *dir, int nshards, int cpus, long long mem)
{
    char path[4200], exe[4200];
    FILE *f;

    if (strpbrk(dir, "'\"\n") != NULL)
        return say(EX_USAGE,
                   "export --condor: %s: a folder whose name has quotes cannot be "
                   "written in an HTCondor argument list",
                   dir);
    astrocald_path(exe, sizeof exe);
    snprintf(path, sizeof path, "%s/astrocald.sub", dir);
    if ((f = fopen(path, "w")) == NULL)
        return say(EX_CANTCREAT, "%s: %s", path, strerror(errno));
    fprintf(f,
            "# Written by astrocalctl export: one HTCondor job per shard (docs/cluster.md).\n"
            "# Each job is idempotent: submitting again skips the lights done.\n"
            "universe = vanilla\n"
            "executable = %s\n"
            "transfer_executable = false\n"
            "should_transfer_files = NO\n"
            "arguments = \"calibrate --manifest '%s/$(shard).jsonl' --results "
            "'%s/$(shard).results.jsonl' --jobs %d --quiet\"\n"
            "request_cpus = %d\n"
            "request_memory = %lldM\n"
            "log = %s/astrocald-condor.log\n"
            "output = %s/$(shard).condor.out\n"
            "error = %s/$(shard).condor.err\n"
            "queue shard from (\n",
            exe, dir, dir, cpus, cpus, mem, dir, dir, dir);
    for (int i = 1; i <= nshards; i++)
        fprintf(f, "shard-%04d\n", i);
    fprintf(f, ")\n");
    if (fclose(f) != 0)
        return say(EX_IOERR, "%s: %s", path, strerror(errno));
    printf("condor_submit %s\n", path);
    return 0;
}

static int export_write(const ctl_parsed_t *p, json_t *res, bool json)
{
    json_t *lines = json_object_get(res, "lights"), *v;
    size_t n = json_array_size(lines), i;
    int shards = local_int(p, "shards", 1), cpus = local_int(p, "cpus", 4), used = 0;
    const char *dir = local_str(p, "out");
    struct light *l = calloc(n + 1, sizeof *l);
    long long *load = calloc((size_t)shards, sizeof *load);
    int *count = calloc((size_t)shards, sizeof *count),
        *num = calloc((size_t)shards, sizeof *num);
    int status = 0, maxn = 0;
    long long mem_mib;
    char path[4200];

    if (l == NULL || load == NULL || count == NULL || num == NULL) {
        status = say(EX_OSERR, "out of memory");
        goto out;
    }
    json_array_foreach(lines, i, v)
    {
        l[i].line = v;
        l[i].session = json_string_value(json_object_get(v, "session_id"));
        l[i].bytes = file_size(json_string_value(json_object_get(v, "light")));
        json_object_set_new(v, "bytes", json_integer(l[i].bytes));
    }
    place(l, n, shards, load);
    for (i = 0; i < n; i++)
        count[l[i].shard]++;
    for (int s = 0; s < shards; s++)
        if (count[s] > 0) {
            num[s] = ++used;
            maxn = count[s] > maxn ? count[s] : maxn;
        }
    for (int s = 0; s < shards && status == 0; s++) {
        FILE *f;
        if (count[s] == 0)
            continue;
        snprintf(path, sizeof path, SHARD_NAME, dir, num[s]);
        if ((f = fopen(path, "w")) == NULL) {
            status = say(EX_CANTCREAT, "%s: %s", path, strerror(errno));
            break;
        }
        for (i = 0; i < n; i++) { /* in the daemon's order within the shard */
            char *t;
            if (l[i].shard != s || (t = json_dumps(l[i].line, JSON_COMPACT)) == NULL)
                continue;
            fprintf(f, "%s\n", t);
            free(t);
        }
        if (fclose(f) != 0)
            status = say(EX_IOERR, "%s: %s", path, strerror(errno));
    }
    if (cpus > maxn && maxn > 0)
        cpus = maxn;
    /* The lights (l[i].line) are read for the task memory before the array is replaced by
     * its count. */
    mem_mib = task_mem_mib(l, n, cpus);
    json_object_del(res, "lights");
    json_object_set_new(res, "lights", json_integer((json_int_t)n));
    json_object_set_new(res, "shards", json_integer(used));
    snprintf(path, sizeof path, "%s/export.json", dir);
    if (status == 0 && json_dump_file(res, path, JSON_INDENT(2)) != 0)
        status = say(EX_IOERR, "%s: cannot write", path);
    if (status == 0 && used > 0 && json_is_true(json_object_get(p->local, "slurm")))
        status = write_slurm(p, dir, used, cpus, mem_mib);
    if (status == 0 && used > 0 && json_is_true(json_object_get(p->local, "condor")))
        status = write_condor(dir, used, cpus, mem_mib);
    if (status == 0 && json) {
        char *t = json_dumps(res, JSON_COMPACT);
        printf("%s\n", t ? t : "null");
        free(t);
    } else if (status == 0) {
        printf("%zu light%s handed out in %d shard%s under %s (until %.0f, export %s)\n", n,
               n == 1 ? "" : "s", used, used == 1 ? "" : "s", dir,
               json_number_value(json_object_get(res, "expires")),
               json_string_value(json_object_get(res, "export_id")));
        json_array_foreach(json_object_get(res, "skipped"), i, v)
        {
            printf("skipped session %s: %s\n",
                   json_string_value(json_object_get(v, "session_id")),
                   json_string_value(json_object_get(v, "reason")));
        }
    }
out:
    free(l);
    free(load);
    free(count);
    free(num);
    return status;
}

/* add_totals adds a reply's counts into tot and appends its refusals. */
static void add_totals(json_t *tot, json_t *res)
{
    static const char *const keys[] = {"recorded", "already", "failed_back", "failed_kept"};

    for (size_t k = 0; k < 4; k++)
        json_object_set_new(tot, keys[k],
                            json_integer(json_integer_value(json_object_get(tot, keys[k])) +
                                         json_integer_value(json_object_get(res, keys[k]))));
    json_array_extend(json_object_get(tot, "refused"), json_object_get(res, "refused"));
}

/* import_results sends every line of the results files (NAME.results.jsonl) in DIR, in
 * batches. */
static int import_results(const ctl_parsed_t *p, bool json, ctl_send_fn send, void *ud)
{
    const char *dir = json_string_value(json_object_get(p->args, "dir"));
    json_t *tot = json_pack("{s:i,s:i,s:i,s:i,s:[]}", "recorded", 0, "already", 0,
                            "failed_back", 0, "failed_kept", 0, "refused"),
           *batch = json_array(), *res, *v;
    struct dirent **names = NULL;
    size_t bytes = 0, i;
    int nn, status = 0, files = 0;

    nn = scandir(dir, &names, NULL, alphasort);
    if (nn < 0)
        return say(EX_NOINPUT, "%s: %s", dir, strerror(errno));
    for (int k = 0; k <= nn && status == 0; k++) {
        const char *nm = k < nn ? names[k]->d_name : NULL;
        size_t len = nm ? strlen(nm) : 0;
        char path[4200], *buf = NULL;
        size_t cap = 0;
        FILE *f;

        if (nm != NULL && (len < 14 || strcmp(nm + len - 14, ".results.jsonl") != 0))
            continue;
        if (nm != NULL) {
            snprintf(path, sizeof path, "%s/%s", dir, nm);
            if ((f = fopen(path, "r")) == NULL) {
                status = say(EX_NOINPUT, "%s: %s", path, strerror(errno));
                break;
            }
            files++;
            while (getline(&buf, &cap, f) >= 0) {
                json_t *o = json_loads(buf, 0, NULL);
                if (o == NULL)
                    continue; /* a line cut short by a killed task */
                json_array_append_new(batch, o);
                bytes += strlen(buf);
                if (bytes > MAX_BATCH_BYTES) {
                    if ((status = send(ud, "import-results",
                                       json_pack("{s:O}", "results", batch), &res)) != 0)
                        break;
                    add_totals(tot, res);
                    json_decref(res);
                    json_array_clear(batch);
                    bytes = 0;
                }
            }
            free(buf);
            fclose(f);
        } else if (json_array_size(batch) > 0) {
            if ((status = send(ud, "import-results", json_pack("{s:O}", "results", batch),
                               &res)) == 0) {
                add_totals(tot, res);
                json_decref(res);
            }
        }
    }
    for (int k = 0; k < nn; k++)
        free(names[k]);
    free(names);
    if (status == 0 && json) {
        char *t = json_dumps(tot, JSON_COMPACT);
        printf("%s\n", t ? t : "null");
        free(t);
    } else if (status == 0) {
        long long kept = (long long)json_integer_value(json_object_get(tot, "failed_kept"));
        char more[96] = "";
        if (kept > 0)
            snprintf(more, sizeof more, ", %lld recalibration%s failed (previous kept)", kept,
                     kept == 1 ? "" : "s");
        printf("%d results file%s: %lld recorded, %lld already recorded, %lld failed back to "
               "the queue%s, %zu refused\n",
               files, files == 1 ? "" : "s",
               (long long)json_integer_value(json_object_get(tot, "recorded")),
               (long long)json_integer_value(json_object_get(tot, "already")),
               (long long)json_integer_value(json_object_get(tot, "failed_back")), more,
               json_array_size(json_object_get(tot, "refused")));
        json_array_foreach(json_object_get(tot, "refused"), i, v)
        {
            printf("refused %s: %s\n", json_string_value(json_object_get(v, "file_id")),
                   json_string_value(json_object_get(v, "reason")));
        }
    }
    if (status == 0 && json_array_size(json_object_get(tot, "refused")) > 0)
        status = 1;
    json_decref(batch);
    json_decref(tot);
    return status;
}

int ctl_cluster_run(const ctl_cmd_t *cmd, ctl_parsed_t *p, bool json, ctl_send_fn send,
                    void *ud)
{
    json_t *res = NULL;
    int status;

    if (strcmp(cmd->name, "import-results") == 0)
        return import_results(p, json, send, ud);
    if ((status = send(ud, cmd->name, json_incref(p->args), &res)) != 0)
        return status;
    status = export_write(p, res, json);
    json_decref(res);
    return status;
}
