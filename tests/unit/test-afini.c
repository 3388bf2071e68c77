/*
 * test-afini.c - AstroFiler's astrofiler.ini (core/afini.c): the values are those Python's
 * configparser (what AstroFiler uses) reads from the same text, then astrocald's folder
 * rules; what configparser or astrocald cannot follow is refused with the line.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "afini.h"
#include "test.h"

/* python_get returns configparser's [DEFAULT] key of the file ini.txt, in a static buffer
 * ("<none>" when it has none), or NULL when python3 is missing. */
static const char *python_get(const char *key)
{
    static char out[4096];
    char cmd[512];
    FILE *p;
    size_t n;

    if (access("/usr/bin/python3", X_OK) != 0)
        return NULL;
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import configparser; c = configparser.ConfigParser(); "
             "c.read('ini.txt'); print(c.get('DEFAULT', '%s', fallback='<none>'), end='')\"",
             key);
    p = popen(cmd, "r");
    ASSERT_NOT_NULL(p);
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    ASSERT_EQ(pclose(p), 0);
    return out;
}

static void write_ini(const char *text)
{
    FILE *f = fopen("ini.txt", "w");

    ASSERT_NOT_NULL(f);
    fputs(text, f);
    fclose(f);
}

TEST(afini_reads_what_configparser_reads)
{
    /* As AstroFiler's config widget writes it (trailing slashes), with the other
     * sections and keys it has, comments, "key: value", upper-case keys and '%%'. */
    const char *text = "# AstroFiler settings\n"
                       "[DEFAULT]\n"
                       "source = /srv/astro/incoming/\n"
                       "REPO: /srv/astro/repo 100%%/\n"
                       "theme = Dark\n"
                       "; bucket below\n"
                       "bucket_url =   astrofiler-repository  \n"
                       "\n"
                       "[CLOUD]\n"
                       "repo = /not/this/one\n";
    ac_afini_t af;
    ac_err_t e = {0};
    const char *py;

    write_ini(text);
    ASSERT_OK(ac_afini_parse(text, strlen(text), "ini.txt", "/etc/af", &af, &e));
    if ((py = python_get("repo")) != NULL) {
        char want[4096];
        ASSERT_STR_EQ(py, "/srv/astro/repo 100%/");
        snprintf(want, sizeof want, "%s", py);
        want[strlen(want) - 1] = '\0'; /* astrocald drops the trailing '/' */
        ASSERT_STR_EQ(af.value[AC_AFINI_REPO], want);
        ASSERT_STR_EQ(python_get("bucket_url"), af.value[AC_AFINI_BUCKET_URL]);
    } else {
        printf("note: python3 missing, configparser comparison skipped\n");
    }
    ASSERT_STR_EQ(af.value[AC_AFINI_REPO], "/srv/astro/repo 100%");
    ASSERT_EQ(af.line[AC_AFINI_REPO], 4);
    ASSERT_STR_EQ(af.value[AC_AFINI_SOURCE], "/srv/astro/incoming");
    ASSERT_EQ(af.line[AC_AFINI_SOURCE], 3);
    ASSERT_STR_EQ(af.value[AC_AFINI_BUCKET_URL], "astrofiler-repository");
    ASSERT_EQ(af.line[AC_AFINI_BUCKET_URL], 7);
}

TEST(afini_relative_folders_are_taken_from_the_ini_folder)
{
    /* AstroFiler's defaults when nothing was configured. */
    const char *text = "[DEFAULT]\nsource = REPOSITORY.incoming/\nrepo = .\nbucket_url =\n";
    ac_afini_t af;
    ac_err_t e = {0};

    ASSERT_OK(ac_afini_parse(text, strlen(text), "a.ini", "/home/obs/af", &af, &e));
    ASSERT_STR_EQ(af.value[AC_AFINI_SOURCE], "/home/obs/af/REPOSITORY.incoming");
    ASSERT_STR_EQ(af.value[AC_AFINI_REPO], "/home/obs/af");
    ASSERT_EQ(af.line[AC_AFINI_BUCKET_URL], 0); /* empty: unset */
}

TEST(afini_refuses_what_it_cannot_follow_naming_the_line)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"repo = /a\n", "a.ini:1: a key before any [SECTION] header"},
        {"[DEFAULT]\nrepo = /a\nrepo = /b\n",
         "a.ini:3: [DEFAULT] repo is set twice (also line 2)"},
        {"[DEFAULT]\nrepo = %(home)s/repo\n", "a.ini:2: [DEFAULT] repo '%(home)s/repo' uses "
                                              "%(name)s interpolation"},
        {"[DEFAULT]\nrepo = 50%/x\n", "a.ini:2: [DEFAULT] repo '50%/x' has a '%'"},
        {"[DEFAULT]\nrepo = C:\\astro\\repo\\\n", "is a Windows path"},
        {"[DEFAULT]\nrepo = /a\n  /b\n", "a.ini:3: [DEFAULT] repo continues on an indented"},
        {"[DEFAULT]\nsource = /a,/b\n", "has a ','"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ac_afini_t af;
        ac_err_t e = {0};
        ASSERT_EQ(ac_afini_parse(cases[i].text, strlen(cases[i].text), "a.ini", "/d", &af, &e),
                  AC_ECONFIG);
        ASSERT_CONTAINS(e.msg, cases[i].want);
    }
}
