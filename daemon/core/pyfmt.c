/* pyfmt.c - Python's text of FITS header values (see pyfmt.h). */
#include "pyfmt.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int put(char *out, size_t size, const char *s)
{
    return ac_strlcpy(out, s, size) < size ? 0 : -ERANGE;
}

int ac_pyfmt_float(double v, char *out, size_t size)
{
    char buf[48], digits[24], res[64];
    int exp, nd = 0, p;
    bool neg;
    char *q;

    if (isnan(v))
        return put(out, size, "nan");
    if (isinf(v))
        return put(out, size, v > 0 ? "inf" : "-inf");
    if (v == 0)
        return put(out, size, signbit(v) ? "-0.0" : "0.0");
    /* Shortest decimal that reads back as v (Python's repr uses the same rule). */
    for (p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    neg = buf[0] == '-';
    for (q = buf + neg; *q != 'e'; q++) {
        if (isdigit((unsigned char)*q))
            digits[nd++] = *q;
    }
    exp = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    q = res;
    if (neg)
        *q++ = '-';
    if (exp >= -4 && exp < 16) {
        if (exp >= 0) {
            for (int i = 0; i <= exp; i++)
                *q++ = i < nd ? digits[i] : '0';
            *q++ = '.';
            if (nd > exp + 1) {
                for (int i = exp + 1; i < nd; i++)
                    *q++ = digits[i];
            } else {
                *q++ = '0';
            }
        } else {
            *q++ = '0';
            *q++ = '.';
            for (int i = 0; i < -exp - 1; i++)
                *q++ = '0';
            for (int i = 0; i < nd; i++)
                *q++ = digits[i];
        }
        *q = '\0';
    } else {
        *q++ = digits[0];
        if (nd > 1) {
            *q++ = '.';
            for (int i = 1; i < nd; i++)
                *q++ = digits[i];
        }
        snprintf(q, sizeof res - (size_t)(q - res), "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
    }
    return put(out, size, res);
}

int ac_pyfmt_text(const char *value, bool quoted, char *out, size_t size)
{
    char t[128], *s, *end;
    size_t len;
    double v;

    if (value == NULL)
        return put(out, size, "");
    if (quoted)
        return put(out, size, value);
    if (ac_strlcpy(t, value, sizeof t) >= sizeof t)
        return put(out, size, value); /* not a number we could print differently */
    s = ac_str_trim(t);
    if (strcmp(s, "T") == 0)
        return put(out, size, "True");
    if (strcmp(s, "F") == 0)
        return put(out, size, "False");
    len = strlen(s);
    if (len > 0) {
        size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
        size_t start = i;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
        if (i == len && i > start) { /* integer literal: as Python prints an int */
            bool neg = s[0] == '-';
            while (start < len - 1 && s[start] == '0')
                start++;
            if (strcmp(s + start, "0") == 0)
                neg = false;
            if (size < (neg ? 2 : 1) + (len - start))
                return -ERANGE;
            snprintf(out, size, "%s%s", neg ? "-" : "", s + start);
            return 0;
        }
    }
    for (char *c = s; *c != '\0'; c++) {
        if (*c == 'D' || *c == 'd')
            *c = 'E'; /* FITS allows a D exponent */
    }
    errno = 0;
    v = strtod(s, &end);
    if (len > 0 && *end == '\0' && errno == 0)
        return ac_pyfmt_float(v, out, size);
    return put(out, size, value);
}
