/*
 * walk.c - the recursive folder walk (see walk.h for the policy).
 *
 * Each folder is read whole (its names copied, then sorted) and closed before any of its
 * entries is visited or entered, so one directory stream is open at a time. Each entry is
 * lstat'ed; only a link is stat'ed again (to a file it points at).
 *
 * Ownership: the names and paths are allocated and freed here, per folder.
 * Thread: any thread; no shared state.
 */
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list_names reads the names of dir, "." and ".." left out, sorted. 0 or a positive
 * errno (the names read so far are freed). */
static int list_names(const char *dir, char ***out, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **v = NULL;
    size_t cap = 0;
    int err = 0;

    *out = NULL;
    *n = 0;
    if (d == NULL)
        return errno;
    for (;;) {
        errno = 0;
        if ((de = readdir(d)) == NULL) {
            err = errno;
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (ac_grow((void **)&v, &cap, *n, sizeof *v) != 0) {
            err = ENOMEM;
            break;
        }
        if ((v[*n] = strdup(de->d_name)) == NULL) {
            err = ENOMEM;
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (err != 0) {
        for (size_t i = 0; i < *n; i++)
            free(v[i]);
        free(v);
        *n = 0;
        return err;
    }
    if (*n > 1)
        qsort(v, *n, sizeof *v, cmp_name);
    *out = v;
    return 0;
}

/* visit_entry stats one entry of a listing and hands it on; returns AC_WALK_STOP or 0. */
static int visit_entry(const char *dir, const char *name, const ac_walk_ops_t *ops, void *ud)
{
    ac_walk_entry_t e = {.name = name};
    size_t dl = strlen(dir);
    /* "/" (or "dir/") as given: no doubled slash in the paths reported ("//tmp/x"). */
    char *path = ac_asprintf("%s%s%s", dir, dl > 0 && dir[dl - 1] == '/' ? "" : "/", name);
    int r = 0;

    if (path == NULL || lstat(path, &e.st) != 0)
        goto out;
    e.path = path;
    e.is_dir = S_ISDIR(e.st.st_mode);
    if (e.is_dir) {
        r = ops->visit(ud, &e);
        if (r == AC_WALK_NEXT && ops->recursive)
            r = ac_walk(path, ops, ud);
    } else if ((ops->want_file == NULL || ops->want_file(ud, name)) &&
               (!S_ISLNK(e.st.st_mode) || stat(path, &e.st) == 0) && S_ISREG(e.st.st_mode)) {
        r = ops->visit(ud, &e);
    }
out:
    free(path);
    return r == AC_WALK_STOP ? AC_WALK_STOP : 0;
}

int ac_walk(const char *dir, const ac_walk_ops_t *ops, void *ud)
{
    char **names;
    size_t n;
    int err = list_names(dir, &names, &n), r = 0;

    if (err != 0) {
        if (ops->error != NULL)
            ops->error(ud, dir, err);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (r == 0)
            r = visit_entry(dir, names[i], ops, ud);
        free(names[i]);
    }
    free(names);
    return r;
}
