/*
 * ctlsrv_setup.c - setting the control server up (see ctlsrv.h): who may do what and the
 * idle timeout (ac_ctlsrv_configure), binding a socket file (ac_ctlsrv_listen) or adopting
 * an inherited one (ac_ctlsrv_open_fd). The group of the socket file is remembered here:
 * it is the default reader group.
 *
 * Thread: loop thread only (group lookups are blocking NSS calls, made at start-up and
 * reload).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctlsrv_int.h"
#include "log.h"

int ac_ctlsrv_configure(ac_ctlsrv_t *srv, const char *reader_group, const char *admin_group,
                        unsigned idle_timeout_ms, ac_err_t *e)
{
    ac_ctlauth_group_t reader, admin;
    int rc = 0;

    if (reader_group[0] == '\0')
        ac_ctlauth_group_of(srv->socket_gid, &reader);
    else
        rc = ac_ctlauth_group_resolve("reader_group", reader_group, &reader, e);
    if (rc == 0 && admin_group[0] == '\0')
        ac_ctlauth_group_of(getegid(), &admin);
    else if (rc == 0)
        rc = ac_ctlauth_group_resolve("admin_group", admin_group, &admin, e);
    if (rc != 0)
        return rc;
    srv->reader_is_socket_group = reader_group[0] == '\0';
    srv->pol.reader = reader;
    srv->pol.admin = admin;
    srv->idle_ms = idle_timeout_ms;
    ac_log_debug("control socket: group %s may read, group %s may change, idle timeout %u ms",
                 reader.name, admin.name, idle_timeout_ms);
    return 0;
}

/* set_socket_gid records the group of the socket file (the default reader group). */
static void set_socket_gid(ac_ctlsrv_t *srv, gid_t gid)
{
    srv->socket_gid = gid;
    if (srv->reader_is_socket_group)
        ac_ctlauth_group_of(gid, &srv->pol.reader);
}

/* probe says whether something listens on the socket file at path: 1 yes, 0 no (stale),
 * or -errno when it cannot tell. */
static int probe(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, rc;

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS)
        rc = 1;
    else if (errno == ECONNREFUSED || errno == ENOENT)
        rc = 0;
    else
        rc = -errno;
    close(fd);
    return rc;
}

/* start_listening is the part of listen and open_fd after the pipe has its socket. */
static int start_listening(ac_ctlsrv_t *srv, const char *what, ac_err_t *e)
{
    int rc = uv_listen((uv_stream_t *)&srv->pipe, SOMAXCONN, ac_ctlsrv_on_connection);

    if (rc < 0)
        return ac_err_set(e, rc, "cannot listen on control socket %s: %s", what,
                          uv_strerror(rc));
    return 0;
}

int ac_ctlsrv_listen(ac_ctlsrv_t *srv, const char *path, unsigned mode, ac_err_t *e)
{
    struct sockaddr_un sa;
    struct stat st;
    size_t n = strlen(path);
    int rc, fd;

    if (n == 0)
        return ac_err_set(e, -EINVAL, "control socket path is empty");
    if (mode & S_IWOTH)
        return ac_err_set(e, -EPERM,
                          "control socket mode %04o would let every local user connect (others "
                          "may write); use 0660",
                          mode);
    if (n >= sizeof sa.sun_path)
        return ac_err_set(e, -ENAMETOOLONG,
                          "control socket path %s is %zu bytes long; a Unix socket path must "
                          "be shorter than %zu bytes",
                          path, n, sizeof sa.sun_path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return ac_err_set(e, -EEXIST,
                              "control socket path %s exists and is not a socket; not "
                              "replacing it",
                              path);
        rc = probe(path);
        if (rc > 0)
            return ac_err_set(e, -EADDRINUSE,
                              "another process is listening on control socket %s (is astrocald "
                              "already running?)",
                              path);
        if (rc < 0)
            return ac_err_set(e, rc, "cannot check control socket %s: %s", path, strerror(-rc));
        if (unlink(path) < 0 && errno != ENOENT)
            return ac_err_set(e, -errno, "cannot remove stale control socket %s: %s", path,
                              strerror(errno));
        ac_log_notice("removed stale control socket %s", path);
    }
    /* Bound here rather than with uv_pipe_bind, which in libuv 1.44 truncates long paths
     * silently and reports a missing directory as EACCES. */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ac_err_set(e, -errno, "cannot create control socket: %s", strerror(errno));
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n + 1);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        rc = ac_err_set(e, -errno, "cannot bind control socket %s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    if (chmod(path, (mode_t)mode) < 0 || stat(path, &st) < 0) {
        rc = ac_err_set(e, -errno, "cannot set mode %04o on control socket %s: %s", mode, path,
                        strerror(errno));
        goto fail;
    }
    srv->bound_path = strdup(path);
    if (srv->bound_path == NULL) {
        rc = ac_err_set(e, -ENOMEM, "out of memory");
        goto fail;
    }
    srv->bound_dev = st.st_dev;
    srv->bound_ino = st.st_ino;
    set_socket_gid(srv, st.st_gid);
    rc = uv_pipe_open(&srv->pipe, fd);
    if (rc < 0) {
        ac_err_set(e, rc, "cannot use control socket %s: %s", path, uv_strerror(rc));
        goto fail;
    }
    /* From here the pipe owns fd, and ac_ctlsrv_close removes the file. */
    return start_listening(srv, path, e);
fail:
    close(fd);
    unlink(path);
    free(srv->bound_path);
    srv->bound_path = NULL;
    return rc;
}

int ac_ctlsrv_open_fd(ac_ctlsrv_t *srv, int fd, ac_err_t *e)
{
    struct sockaddr_un sa;
    struct stat st;
    socklen_t sl = sizeof sa;
    int type = 0, acc = 0, rc;
    socklen_t il = sizeof type, al = sizeof acc;

    if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0 || sa.sun_family != AF_UNIX ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &il) < 0 || type != SOCK_STREAM ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) < 0 || !acc) {
        close(fd);
        return ac_err_set(e, -ENOTSOCK, "inherited fd %d is not a listening Unix stream socket",
                          fd);
    }
    rc = uv_pipe_open(&srv->pipe, fd);
    if (rc < 0) {
        close(fd);
        return ac_err_set(e, rc, "cannot use inherited socket fd %d: %s", fd, uv_strerror(rc));
    }
    /* The group of the socket file (the default reader group), when it has a path. */
    if (sl > offsetof(struct sockaddr_un, sun_path) && sa.sun_path[0] != '\0') {
        char path[sizeof sa.sun_path + 1] = "";

        memcpy(path, sa.sun_path, sl - offsetof(struct sockaddr_un, sun_path));
        if (stat(path, &st) == 0) {
            set_socket_gid(srv, st.st_gid);
            if (st.st_mode & S_IWOTH)
                ac_log_warn("control socket %s is writable by every local user (mode %04o); "
                            "only the group rules limit what they may do",
                            path, (unsigned)(st.st_mode & 07777));
        }
    }
    return start_listening(srv, "(inherited)", e);
}
