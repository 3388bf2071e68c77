/*
 * test-walk.c - the one folder walk (daemon/io/walk.c): name order, hidden names, the
 * symlink policy (links to files followed, links to folders neither reported nor entered),
 * other file types passed over, want_file, SKIP, STOP, a flat listing, and errors reported
 * per folder. The expected visit lists are written out by hand from the tree built here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "walk.h"

/* What a walk saw: one line per visit ("D rel" or "F rel size"), then per error. */
struct seen {
    char log[4096];
    size_t root_len;
    const char *skip;   /* a relative folder path to answer SKIP for */
    const char *stop;   /* a relative path to answer STOP at */
    const char *remove; /* a relative folder path to remove when it is reported */
    char root[512];
};

static void put(const char *path, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char buf[64] = {0};

    ASSERT(fd >= 0 && size <= sizeof buf);
    ASSERT_EQ(write(fd, buf, size), (ssize_t)size);
    close(fd);
}

/* make_tree builds the tree every test walks, under root. */
static void make_tree(char *root, size_t size)
{
    char p[600];

    snprintf(root, size, "%s/tree", ac_test_tmpdir());
    ASSERT_OK(mkdir(root, 0755));
#define P(rel) (snprintf(p, sizeof p, "%s/%s", root, rel), p)
    put(P("b.fits"), 2);
    put(P("a.fits"), 1);
    put(P(".hidden.fits"), 3);
    put(P("notes.txt"), 4);
    ASSERT_OK(mkdir(P("sub"), 0755));
    put(P("sub/c.fits"), 5);
    ASSERT_OK(mkdir(P("sub/deeper"), 0755));
    put(P("sub/deeper/d.fits"), 6);
    ASSERT_OK(mkdir(P("x.fits"), 0755)); /* a folder with a FITS name is a folder */
    put(P("x.fits/e.fits"), 7);
    ASSERT_OK(symlink("sub", P("zlink-dir")));        /* a link to a folder */
    ASSERT_OK(symlink("sub/c.fits", P("link.fits"))); /* a link to a file */
    ASSERT_OK(symlink("nowhere.fits", P("dangling.fits")));
    ASSERT_OK(mkfifo(P("fifo.fits"), 0644));
#undef P
}

static bool fits_only(void *ud, const char *name)
{
    size_t n = strlen(name);

    (void)ud;
    return n > 5 && strcmp(name + n - 5, ".fits") == 0;
}

static int visit(void *ud, const ac_walk_entry_t *e)
{
    struct seen *s = ud;
    const char *rel = e->path + s->root_len + 1;
    size_t len = strlen(s->log);
    char p[600];

    ASSERT_EQ(strncmp(e->path, s->root, s->root_len), 0);
    ASSERT_STR_EQ(e->name, strrchr(e->path, '/') + 1);
    if (e->is_dir)
        snprintf(s->log + len, sizeof s->log - len, "D %s\n", rel);
    else
        snprintf(s->log + len, sizeof s->log - len, "F %s %lld\n", rel,
                 (long long)e->st.st_size);
    ASSERT(e->is_dir ? S_ISDIR(e->st.st_mode) : S_ISREG(e->st.st_mode));
    if (s->remove != NULL && strcmp(rel, s->remove) == 0) {
        snprintf(p, sizeof p, "%s/deeper/d.fits", e->path);
        ASSERT_OK(unlink(p));
        snprintf(p, sizeof p, "%s/deeper", e->path);
        ASSERT_OK(rmdir(p));
        snprintf(p, sizeof p, "%s/c.fits", e->path);
        ASSERT_OK(unlink(p));
        ASSERT_OK(rmdir(e->path));
    }
    if (s->stop != NULL && strcmp(rel, s->stop) == 0)
        return AC_WALK_STOP;
    return s->skip != NULL && strcmp(rel, s->skip) == 0 ? AC_WALK_SKIP : AC_WALK_NEXT;
}

static void on_error(void *ud, const char *dir, int err)
{
    struct seen *s = ud;
    size_t len = strlen(s->log);

    snprintf(s->log + len, sizeof s->log - len, "E %s %s\n",
             strncmp(dir, s->root, s->root_len) == 0 ? dir + s->root_len : dir, strerror(err));
}

/* What every walk of the tree sees first: the files of its root before "sub". */
#define TOP "F .hidden.fits 3\nF a.fits 1\nF b.fits 2\nF link.fits 5\n"
/* Then "sub" entered, and "x.fits". */
#define SUB "D sub\nF sub/c.fits 5\nD sub/deeper\nF sub/deeper/d.fits 6\n"
#define XF "D x.fits\nF x.fits/e.fits 7\n"

static int run(struct seen *s, bool recursive, bool filter)
{
    ac_walk_ops_t ops = {recursive, filter ? fits_only : NULL, visit, on_error};

    s->log[0] = '\0';
    s->root_len = strlen(s->root);
    return ac_walk(s->root, &ops, s);
}

TEST(walk_order_hidden_links_and_types)
{
    struct seen s = {0};

    make_tree(s.root, sizeof s.root);
    ASSERT_EQ(run(&s, true, true), 0);
    /* Byte order (".h" < "a" < ... < "x" < "z"); the link to a file has its target's size;
     * the dangling link, the fifo and the link to a folder are not there. */
    ASSERT_STR_EQ(s.log, TOP SUB XF);
    /* Without want_file, every regular file. */
    ASSERT_EQ(run(&s, true, false), 0);
    ASSERT_STR_EQ(s.log, TOP "F notes.txt 4\n" SUB XF);
}

TEST(walk_flat_skip_and_stop)
{
    struct seen s = {0};

    make_tree(s.root, sizeof s.root);
    ASSERT_EQ(run(&s, false, true), 0);
    ASSERT_STR_EQ(s.log, TOP "D sub\n"
                             "D x.fits\n");
    s.skip = "sub";
    ASSERT_EQ(run(&s, true, true), 0);
    ASSERT_STR_EQ(s.log, TOP "D sub\n" XF);
    s.skip = NULL;
    s.stop = "sub/c.fits"; /* from inside a sub-folder: the whole walk ends */
    ASSERT_EQ(run(&s, true, true), AC_WALK_STOP);
    ASSERT_STR_EQ(s.log, TOP "D sub\n"
                             "F sub/c.fits 5\n");
}

TEST(walk_errors_per_folder)
{
    struct seen s = {0};
    char file[600];

    /* A root that does not exist, or is a file: one error, for it. */
    snprintf(s.root, sizeof s.root, "%s/missing", ac_test_tmpdir());
    ASSERT_EQ(run(&s, true, true), 0);
    ASSERT_STR_EQ(s.log, "E  No such file or directory\n");
    snprintf(file, sizeof file, "%s/plain", ac_test_tmpdir());
    put(file, 1);
    snprintf(s.root, sizeof s.root, "%s", file);
    ASSERT_EQ(run(&s, true, true), 0);
    ASSERT_STR_EQ(s.log, "E  Not a directory\n");
    /* A sub-folder that vanishes between its listing and its own: an error for its path,
     * and the walk goes on with the rest. */
    s.remove = "sub";
    make_tree(s.root, sizeof s.root);
    ASSERT_EQ(run(&s, true, true), 0);
    ASSERT_STR_EQ(s.log, TOP "D sub\n"
                             "E /sub No such file or directory\n" XF);
}

/* slash_visit fails on a doubled slash in any reported path and counts the entries. */
static int slash_visit(void *ud, const ac_walk_entry_t *e)
{
    ASSERT(strstr(e->path, "//") == NULL);
    (*(int *)ud)++;
    return AC_WALK_NEXT;
}

TEST(walk_root_with_trailing_slash_joins_once)
{
    char root[600];
    ac_walk_ops_t ops = {0};
    int n = 0;

    /* `astrocalctl import /` walked "/" and stored "//tmp/..." paths: a root that ends in
     * '/' is joined without a second one. */
    make_tree(root, sizeof root);
    strcat(root, "/");
    ops.visit = slash_visit;
    ops.recursive = true;
    ASSERT_EQ(ac_walk(root, &ops, &n), 0);
    ASSERT(n >= 4);
}
