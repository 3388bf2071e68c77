/*
 * ctlauth.c - control socket credentials and permissions (see ctlauth.h).
 *
 * No globals. The lookups use the reentrant NSS calls (getpwuid_r, getgrnam_r, getgrgid_r)
 * with buffers sized by sysconf and grown on ERANGE.
 */
#include "ctlauth.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"
#include "util.h"

/* nss_buf returns a buffer for the *_r calls of at least the size sysconf suggests. */
static char *nss_buf(int which, size_t *size)
{
    long n = sysconf(which);

    *size = n > 0 ? (size_t)n : 16384;
    return malloc(*size);
}

int ac_ctlauth_peer_set_groups(ac_ctlauth_peer_t *p, const gid_t *gids, int n)
{
    gid_t *g = malloc(sizeof *g * (size_t)(n > 0 ? n : 1));

    if (g == NULL)
        return -ENOMEM;
    if (n > 0)
        memcpy(g, gids, sizeof *g * (size_t)n);
    free(p->groups);
    p->groups = g;
    p->ngroups = n > 0 ? n : 0;
    return 0;
}

void ac_ctlauth_peer_free(ac_ctlauth_peer_t *p)
{
    free(p->groups);
    p->groups = NULL;
    p->ngroups = 0;
}

/* user_groups sets p's groups to p->gid plus the groups of user (primary group pw_gid). */
static int user_groups(ac_ctlauth_peer_t *p, const char *user, gid_t pw_gid)
{
    int n = 32, rc;
    gid_t *g = NULL;

    for (int tries = 0; tries < 4; tries++) {
        gid_t *ng = realloc(g, sizeof *g * (size_t)(n + 1));

        if (ng == NULL) {
            free(g);
            return -ENOMEM;
        }
        g = ng;
        int want = n;
        if (getgrouplist(user, pw_gid, g + 1, &want) >= 0) {
            g[0] = p->gid;
            rc = ac_ctlauth_peer_set_groups(p, g, want + 1);
            free(g);
            return rc;
        }
        n = want > n ? want : n * 2; /* glibc says how many are needed */
    }
    free(g);
    return ac_ctlauth_peer_set_groups(p, &p->gid, 1);
}

int ac_ctlauth_peer_get(int fd, ac_ctlauth_peer_t *p, void *ud)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    struct passwd pw, *res = NULL;
    size_t size;
    char *buf;
    int rc;

    (void)ud;
    memset(p, 0, sizeof *p);
    p->uid = (uid_t)-1;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -errno;
    p->known = true;
    p->uid = cred.uid;
    p->gid = cred.gid;
    p->pid = cred.pid;
    buf = nss_buf(_SC_GETPW_R_SIZE_MAX, &size);
    while (buf != NULL && (rc = getpwuid_r(p->uid, &pw, buf, size, &res)) == ERANGE) {
        char *nb = realloc(buf, size * 2);
        if (nb == NULL)
            break;
        buf = nb;
        size *= 2;
    }
    if (buf != NULL && res != NULL) {
        ac_strlcpy(p->user, pw.pw_name, sizeof p->user);
        rc = user_groups(p, pw.pw_name, pw.pw_gid);
    } else {
        rc = ac_ctlauth_peer_set_groups(p, &p->gid, 1);
    }
    free(buf);
    return rc;
}

char *ac_ctlauth_describe(const ac_ctlauth_peer_t *p, char *buf, size_t size)
{
    if (!p->known)
        snprintf(buf, size, "unknown peer");
    else if (p->user[0] != '\0')
        snprintf(buf, size, "uid %lu (%s) pid %ld", (unsigned long)p->uid, p->user,
                 (long)p->pid);
    else
        snprintf(buf, size, "uid %lu pid %ld", (unsigned long)p->uid, (long)p->pid);
    return buf;
}

/* group_lookup looks a group up by name (name != NULL) or by gid: 1 found, 0 not, -errno. */
static int group_lookup(const char *name, gid_t gid, ac_ctlauth_group_t *g)
{
    struct group gr, *res = NULL;
    size_t size;
    char *buf = nss_buf(_SC_GETGR_R_SIZE_MAX, &size);
    int rc;

    if (buf == NULL)
        return -ENOMEM;
    for (;;) {
        rc = name != NULL ? getgrnam_r(name, &gr, buf, size, &res)
                          : getgrgid_r(gid, &gr, buf, size, &res);
        if (rc != ERANGE)
            break;
        char *nb = realloc(buf, size * 2);
        if (nb == NULL) {
            rc = ENOMEM;
            break;
        }
        buf = nb;
        size *= 2;
    }
    if (res != NULL) {
        g->gid = gr.gr_gid;
        ac_strlcpy(g->name, gr.gr_name, sizeof g->name);
    }
    free(buf);
    return res != NULL ? 1 : rc != 0 ? -rc : 0;
}

void ac_ctlauth_group_of(gid_t gid, ac_ctlauth_group_t *g)
{
    if (group_lookup(NULL, gid, g) != 1) {
        g->gid = gid;
        snprintf(g->name, sizeof g->name, "%lu", (unsigned long)gid);
    }
}

int ac_ctlauth_group_resolve(const char *key, const char *text, ac_ctlauth_group_t *g,
                             ac_err_t *e)
{
    char *end;
    unsigned long n;
    int rc;

    rc = group_lookup(text, 0, g);
    if (rc == 1)
        return 0;
    errno = 0;
    n = strtoul(text, &end, 10);
    if (text[0] >= '0' && text[0] <= '9' && *end == '\0' && errno == 0 &&
        n < (unsigned long)(gid_t)-1) {
        ac_ctlauth_group_of((gid_t)n, g);
        return 0;
    }
    if (rc < 0)
        return ac_err_set(e, AC_ECONFIG, "%s: cannot look up group '%s': %s", key, text,
                          strerror(-rc));
    return ac_err_set(e, AC_ECONFIG, "%s: no group named '%s'", key, text);
}

bool ac_ctlauth_privileged(const ac_ctlauth_policy_t *pol, uid_t uid)
{
    return uid == 0 || uid == pol->self_uid;
}

static bool member(const gid_t *gids, int n, gid_t gid)
{
    for (int i = 0; i < n; i++)
        if (gids[i] == gid)
            return true;
    return false;
}

int ac_ctlauth_level(const ac_ctlauth_policy_t *pol, bool known, uid_t uid, const gid_t *gids,
                     int ngids)
{
    if (!known)
        return AC_PROTO_ACCESS_NONE;
    if (ac_ctlauth_privileged(pol, uid) || member(gids, ngids, pol->admin.gid))
        return AC_PROTO_ACCESS_CHANGE;
    if (member(gids, ngids, pol->reader.gid))
        return AC_PROTO_ACCESS_READ;
    return AC_PROTO_ACCESS_NONE;
}

char *ac_ctlauth_deny_message(const ac_ctlauth_policy_t *pol, const char *cmd, int need,
                              char *buf, size_t size)
{
    if (need <= AC_PROTO_ACCESS_READ && pol->reader.gid != pol->admin.gid)
        snprintf(buf, size, "%s needs membership of group %s or %s", cmd, pol->reader.name,
                 pol->admin.name);
    else
        snprintf(buf, size, "%s needs membership of group %s", cmd,
                 need <= AC_PROTO_ACCESS_READ ? pol->reader.name : pol->admin.name);
    return buf;
}
