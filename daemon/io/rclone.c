/*
 * rclone.c - run rclone and wait, for --check-config (rclone.h). Any thread; blocking.
 */
#include "rclone.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double mono_now(void)
{
    return (double)ac_now_ns() / 1e9;
}

/* take appends what fd has to buf (cut at size - 1); false at end of file. */
static int take(int fd, char *buf, size_t size, size_t *len)
{
    char tmp[4096];
    ssize_t n = read(fd, tmp, sizeof tmp);

    if (n <= 0)
        return n == 0 || (errno != EINTR && errno != EAGAIN) ? 0 : 1;
    if (buf != NULL && size > 0 && *len + 1 < size) {
        size_t k = (size_t)n < size - 1 - *len ? (size_t)n : size - 1 - *len;
        memcpy(buf + *len, tmp, k);
        *len += k;
        buf[*len] = '\0';
    }
    return 1;
}

int ac_rclone_run(const char *const *argv, double timeout_s, char *out, size_t out_size,
                  char *errtext, size_t err_size, int *status)
{
    posix_spawn_file_actions_t fa;
    int po[2] = {-1, -1}, pe[2] = {-1, -1}, rc = 0, ws = 0;
    size_t olen = 0, elen = 0;
    bool open_o = true, open_e = true, killed = false;
    double deadline = mono_now() + timeout_s;
    pid_t pid;

    if (out != NULL && out_size > 0)
        out[0] = '\0';
    if (errtext != NULL && err_size > 0)
        errtext[0] = '\0';
    *status = 127;
    if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
        rc = -errno;
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(po[1]);
    close(pe[1]);
    po[1] = pe[1] = -1;
    if (rc != 0) {
        if (errtext != NULL && err_size > 0)
            snprintf(errtext, err_size, "cannot run %s: %s", argv[0], strerror(rc));
        rc = 0; /* reported through *status 127 */
        goto out;
    }
    while (open_o || open_e) {
        struct pollfd p[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
        double left = deadline - mono_now();
        int n;

        if (left <= 0 && !killed) {
            kill(pid, SIGKILL);
            killed = true;
        }
        p[0].fd = open_o ? po[0] : -1;
        p[1].fd = open_e ? pe[0] : -1;
        n = poll(p, 2, killed ? 1000 : (int)(left * 1000) + 1);
        if (n < 0 && errno != EINTR)
            break;
        if (p[0].revents != 0)
            open_o = take(po[0], out, out_size, &olen);
        if (p[1].revents != 0)
            open_e = take(pe[0], errtext, err_size, &elen);
    }
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    if (killed)
        *status = 124;
    else
        *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
out:
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0)
            close(po[i]);
        if (pe[i] >= 0)
            close(pe[i]);
    }
    return rc;
}

int ac_rclone_check(const struct ac_config *c, double timeout_s, ac_err_t *e)
{
    const char *argv[AC_CLOUD_ARGV_MAX];
    char errtext[8192], last[1024];
    ac_cloud_fault_t f;
    int status, rc;

    ac_cloud_argv(c, AC_CLOUD_LSF, c->remote, NULL, argv);
    rc = ac_rclone_run(argv, timeout_s, NULL, 0, errtext, sizeof errtext, &status);
    if (rc != 0)
        return ac_err_set(e, AC_ECONFIG, "[CLOUD] remote '%s': cannot run %s: %s", c->remote,
                          c->rclone_program, strerror(-rc));
    f = status == 124 ? AC_CLOUD_FAULT_TIMEOUT : ac_cloud_classify(status, errtext);
    if (f == AC_CLOUD_FAULT_NONE)
        return 0;
    ac_cloud_last_error(errtext, last, sizeof last);
    return ac_err_set(e, AC_ECONFIG, "[CLOUD] remote '%s': %s (rclone lsf exit %d): %s",
                      c->remote, ac_cloud_fault_text(f), status, last[0] ? last : "no message");
}
