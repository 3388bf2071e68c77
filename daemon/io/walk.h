/*
 * walk.h - the one recursive folder walk of the tree (used by `astrocalctl import` and by
 * live ingest's scans).
 *
 * ac_walk lists a folder and, when asked, its sub-folders, depth first, with this policy:
 *  - entries come in byte order of their names (strcmp), "." and ".." left out; hidden
 *    names (".name") are entries like any other;
 *  - a sub-folder is reported (visit, is_dir) and then entered when visit returns
 *    AC_WALK_NEXT and the walk is recursive; a link to a folder is neither reported nor
 *    entered (no loops, as Python's os.walk);
 *  - a regular file, or a link to one, is reported (visit, !is_dir) when want_file accepts
 *    its name (want_file NULL: every file); its stat is the file's (the link's target);
 *  - anything else (fifos, sockets, devices, dangling links) and entries that vanish or
 *    cannot be stat'ed between the listing and the stat are passed over silently;
 *  - a folder that cannot be listed (the root included) is reported to error with its
 *    path and errno, once, and the walk goes on with the rest. The depth is bounded by
 *    PATH_MAX: an entry whose path is longer cannot be stat'ed and is passed over.
 * One folder's names are read and the folder closed before its entries are visited, so a
 * walk holds one open directory at a time whatever the depth.
 *
 * Ownership: the entry passed to visit, and its strings, are borrowed for the call.
 * Thread: any thread (no shared state); callbacks run on the calling thread.
 */
#ifndef AC_WALK_H
#define AC_WALK_H

#include <stdbool.h>
#include <sys/stat.h>

/* What visit returns. */
enum {
    AC_WALK_NEXT = 0, /* go on (a folder is entered when the walk is recursive) */
    AC_WALK_SKIP = 1, /* a folder: do not enter it (for a file, the same as NEXT) */
    AC_WALK_STOP = 2  /* end the whole walk now */
};

typedef struct ac_walk_entry {
    const char *path; /* the folder given, "/" and the name (and so on down) */
    const char *name; /* the last component */
    struct stat st;   /* the folder's, or the file's (a link's target) */
    bool is_dir;
} ac_walk_entry_t;

typedef struct ac_walk_ops {
    bool recursive; /* enter sub-folders (else list dir alone) */
    /* want_file says whether a file of that name is of interest (before it is stat'ed);
     * NULL: every file. */
    bool (*want_file)(void *ud, const char *name);
    /* visit receives every sub-folder and every wanted file; returns AC_WALK_*. */
    int (*visit)(void *ud, const ac_walk_entry_t *e);
    /* error receives a folder that cannot be listed (err: a positive errno); may be NULL. */
    void (*error)(void *ud, const char *dir, int err);
} ac_walk_ops_t;

/* ac_walk walks dir (not reported itself) as above. Returns AC_WALK_STOP when visit
 * stopped the walk, else 0 (errors go to ops->error). */
int ac_walk(const char *dir, const ac_walk_ops_t *ops, void *ud);

#endif
