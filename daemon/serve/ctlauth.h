/*
 * ctlauth.h - who may do what on the control socket: the peer's credentials and the rule
 * that turns them into a level (enum ac_proto_access in common/proto.h).
 *
 * The rule (docs/protocol.md, "Who may do what"):
 *  - root and the daemon's own user may do everything (CHANGE);
 *  - members of the admin group may do everything (CHANGE);
 *  - members of the reader group may use the read-only commands (READ);
 *  - anybody else (and a peer whose credentials cannot be read) nothing (NONE).
 * Which command needs which level is ac_proto_cmd_access (common/proto.c).
 *
 * Credentials: ac_ctlauth_peer_get reads SO_PEERCRED (uid, gid and pid of the connecting
 * process), then the user's name and groups from the user database (getpwuid_r and
 * getgrouplist): a blocking NSS lookup, done ONCE per connection, when it is accepted (no
 * cache: a user added to a group gets the new rights on the next connection). The groups
 * are the process's gid plus the user's primary and supplementary groups.
 *
 * Ownership: a peer owns its groups array (ac_ctlauth_peer_free); a policy is a plain value.
 * Thread: ac_ctlauth_level, ac_ctlauth_privileged, ac_ctlauth_describe and
 * ac_ctlauth_deny_message are pure (any thread); the lookups call NSS and are meant for
 * the loop thread at accept or start-up time.
 */
#ifndef AC_CTLAUTH_H
#define AC_CTLAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* A connected peer. uid is (uid_t)-1 and known false when SO_PEERCRED failed. */
typedef struct ac_ctlauth_peer {
    bool known;
    uid_t uid;
    gid_t gid;
    pid_t pid;
    char user[64]; /* "" when the uid has no user database entry */
    gid_t *groups; /* malloc'd; gid first */
    int ngroups;
} ac_ctlauth_peer_t;

/* A group of the policy: its id and the name shown in messages. */
typedef struct ac_ctlauth_group {
    gid_t gid;
    char name[64];
} ac_ctlauth_group_t;

typedef struct ac_ctlauth_policy {
    uid_t self_uid; /* the daemon's effective uid */
    ac_ctlauth_group_t reader, admin;
} ac_ctlauth_policy_t;

/*
 * The credentials source of the control server (ac_ctlsrv_set_peer_fn): fills *p for the
 * connected socket fd. Returns 0 or a negative code (the peer then gets no rights; *p must
 * still be safe to free). ud is the pointer given with the function.
 */
typedef int (*ac_ctlauth_peer_fn)(int fd, ac_ctlauth_peer_t *p, void *ud);

/* ac_ctlauth_peer_get is the real source: SO_PEERCRED plus the user database (see above).
 * ud is unused. Returns 0, or -errno when SO_PEERCRED fails (p->known false). A missing
 * user entry is not an error: the groups are then the process's gid alone. */
int ac_ctlauth_peer_get(int fd, ac_ctlauth_peer_t *p, void *ud);

/* ac_ctlauth_peer_set_groups replaces p's groups with a copy of the n gids. 0 or -ENOMEM. */
int ac_ctlauth_peer_set_groups(ac_ctlauth_peer_t *p, const gid_t *gids, int n);

/* ac_ctlauth_peer_free releases p's groups (safe on a zeroed peer). */
void ac_ctlauth_peer_free(ac_ctlauth_peer_t *p);

/* ac_ctlauth_describe writes "uid 1000 (alice) pid 1234" (without the name when there is
 * none; "unknown peer" when the credentials could not be read). Returns buf. */
char *ac_ctlauth_describe(const ac_ctlauth_peer_t *p, char *buf, size_t size);

/* ac_ctlauth_group_resolve fills *g from text: a group name (getgrnam_r) or a number. An
 * unknown name gives AC_ECONFIG with "KEY: no group named 'text'" (key names the setting
 * in messages). */
int ac_ctlauth_group_resolve(const char *key, const char *text, ac_ctlauth_group_t *g,
                             ac_err_t *e);

/* ac_ctlauth_group_of fills *g for gid, named by getgrgid_r (the number when unnamed). */
void ac_ctlauth_group_of(gid_t gid, ac_ctlauth_group_t *g);

/* ac_ctlauth_privileged says whether uid is root or the daemon's own user (the reserved
 * connection slots are for them). */
bool ac_ctlauth_privileged(const ac_ctlauth_policy_t *pol, uid_t uid);

/* ac_ctlauth_level decides a peer's level (enum ac_proto_access) from its uid and groups
 * by the rule above. known false gives NONE. */
int ac_ctlauth_level(const ac_ctlauth_policy_t *pol, bool known, uid_t uid, const gid_t *gids,
                     int ngids);

/* ac_ctlauth_deny_message writes why cmd, which needs level need, is refused: "pause needs
 * membership of group astrocald" (READ: "status needs membership of group R", with " or A"
 * when the admin group differs). Returns buf. */
char *ac_ctlauth_deny_message(const ac_ctlauth_policy_t *pol, const char *cmd, int need,
                              char *buf, size_t size);

#endif
