/*
 * pathtype.c - a frame's type from its file and folder names, for headers that name none
 * (SharpCap, the DWARF, sbig-snap, older observatory software): see meta.h,
 * ac_meta_type_from_path. Capture programs save into folders named for the frame type
 * (ASIAIR "Autorun/Light/...", "Autorun/Dark/Dark_60s_Bin1_...fit", Seestar "Light_M42_...",
 * SharpCap "Darks/", the DWARF "CALI_FRAME/dark/...").
 * Thread: pure functions, any thread.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "meta.h"
#include "util.h"

#define MAX_WORDS 32

/* word_type maps one word to a type (plural forms included). */
static ac_frame_type_t word_type(const char *w)
{
    static const struct {
        const char *word;
        ac_frame_type_t type;
    } words[] = {
        {"light", AC_FRAME_LIGHT},       {"lights", AC_FRAME_LIGHT},
        {"dark", AC_FRAME_DARK},         {"darks", AC_FRAME_DARK},
        {"flat", AC_FRAME_FLAT},         {"flats", AC_FRAME_FLAT},
        {"bias", AC_FRAME_BIAS},         {"biases", AC_FRAME_BIAS},
        {"offset", AC_FRAME_BIAS},       {"offsets", AC_FRAME_BIAS},
        {"flatdark", AC_FRAME_FLATDARK}, {"flatdarks", AC_FRAME_FLATDARK},
        {"darkflat", AC_FRAME_FLATDARK}, {"darkflats", AC_FRAME_FLATDARK},
    };

    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(w, words[i].word) == 0)
            return words[i].type;
    return AC_FRAME_UNKNOWN;
}

/* split cuts name into words (letters only; a lower-to-upper change starts a word). */
static int split(const char *name, char words[MAX_WORDS][32])
{
    int n = 0;
    size_t len = 0;

    for (const char *p = name;; p++) {
        unsigned char c = (unsigned char)*p;
        bool letter = isalpha(c) != 0;
        bool boundary =
            !letter || (len > 0 && isupper(c) && p > name && islower((unsigned char)p[-1]));
        if (boundary && len > 0) {
            words[n][len] = '\0';
            if (++n == MAX_WORDS)
                return n;
            len = 0;
        }
        if (c == '\0')
            return n;
        if (letter && len + 1 < sizeof words[0])
            words[n][len++] = (char)c;
    }
}

/* name_type says what one file or folder name says: the type, UNKNOWN when it says
 * nothing; *ambiguous when it names two different types. */
static ac_frame_type_t name_type(const char *name, bool *ambiguous)
{
    char words[MAX_WORDS][32];
    int n = split(name, words);
    ac_frame_type_t found = AC_FRAME_UNKNOWN;

    *ambiguous = false;
    for (int i = 0; i < n; i++) {
        ac_frame_type_t t = word_type(words[i]);
        /* "DWARF_RAW_...", "DWARF3_RAW_...": the DWARF app's folder of raw lights. */
        if (i + 1 < n && strcasecmp(words[i], "dwarf") == 0 &&
            strcasecmp(words[i + 1], "raw") == 0) {
            t = AC_FRAME_LIGHT;
            i++;
        }
        /* "Flat_Dark", "Dark Flats": two adjacent words make a flat-dark. */
        else if (i + 1 < n) {
            ac_frame_type_t u = word_type(words[i + 1]);
            if ((t == AC_FRAME_FLAT && u == AC_FRAME_DARK) ||
                (t == AC_FRAME_DARK && u == AC_FRAME_FLAT)) {
                t = AC_FRAME_FLATDARK;
                i++;
            }
        }
        if (t == AC_FRAME_UNKNOWN)
            continue;
        if (found != AC_FRAME_UNKNOWN && found != t) {
            *ambiguous = true;
            return AC_FRAME_UNKNOWN;
        }
        found = t;
    }
    return found;
}

ac_frame_type_t ac_meta_type_from_path(const char *path, const char *root, int levels,
                                       char *why, size_t why_size)
{
    char buf[4096], *end;
    size_t rootlen = root != NULL ? strlen(root) : 0;

    while (rootlen > 1 && root[rootlen - 1] == '/')
        rootlen--;
    if (why != NULL && why_size > 0)
        why[0] = '\0';
    ac_strlcpy(buf, path, sizeof buf);
    end = buf + strlen(buf);
    /* Component 0 is the file name, then its folders, innermost first. */
    for (int level = 0; level <= levels && end > buf; level++) {
        char *slash;
        const char *name;
        bool ambiguous;
        ac_frame_type_t t;

        *end = '\0';
        if (level > 0 && rootlen > 0 && (size_t)(end - buf) <= rootlen &&
            strncmp(buf, root, (size_t)(end - buf)) == 0)
            break; /* at or above the watched or imported folder */
        slash = strrchr(buf, '/');
        name = slash != NULL ? slash + 1 : buf;
        t = name_type(name, &ambiguous);
        if (ambiguous) {
            if (why != NULL)
                snprintf(why, why_size, "%s '%s' names more than one frame type",
                         level == 0 ? "file name" : "folder", name);
            return AC_FRAME_UNKNOWN;
        }
        if (t != AC_FRAME_UNKNOWN) {
            if (why != NULL)
                snprintf(why, why_size, "%s '%s'", level == 0 ? "file name" : "folder", name);
            return t;
        }
        if (slash == NULL)
            break;
        end = slash;
    }
    if (why != NULL)
        snprintf(why, why_size,
                 "neither the file name nor its %d nearest folders name a frame type (Light, "
                 "Dark, Flat, Bias, Offset, DarkFlat or FlatDark)",
                 levels);
    return AC_FRAME_UNKNOWN;
}

bool ac_meta_object_from_path(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/'), *start, *p, *end;
    size_t n;

    /* The folder holding the file: .../DWARF[n]_RAW_[TELE_|WIDE_]<object>_EXP_... */
    if (slash == NULL || slash == path)
        return false;
    for (start = slash; start > path && start[-1] != '/'; start--)
        ;
    if (strncasecmp(start, "DWARF", 5) != 0 || (p = strchr(start, '_')) == NULL || p > slash ||
        strncasecmp(p + 1, "RAW_", 4) != 0)
        return false;
    p += 5;
    if (strncasecmp(p, "TELE_", 5) == 0 || strncasecmp(p, "WIDE_", 5) == 0)
        p += 5;
    end = strstr(p, "_EXP_");
    if (end == NULL || end > slash || end == p)
        return false;
    n = (size_t)(end - p);
    if (n + 1 > size)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}
