/*
 * temp.c - the temperature rule (meta.h, ac_temp_compare): the one place that decides
 * whether a master's temperature suits a light (or a flat, or the other subs of a master).
 * The planner (core/match.c), the engine and `astrocald calibrate` (core/calibrun.c) and the
 * master builder (work/build.c) all call it with the configured max_temperature_difference.
 * Thread: pure functions, any thread.
 */
#include <math.h>
#include <stdio.h>

#include "meta.h"

void ac_temp_compare(double ref_ccd, double ref_set, double m_ccd, double m_set,
                     double max_diff, const char *ref_what, const char *m_what,
                     ac_temp_cmp_t *out)
{
    double a, b;
    const char *ka, *kb;

    out->diff = NAN;
    out->basis = "";
    out->text[0] = '\0';
    if (isfinite(ref_ccd) && isfinite(m_ccd)) {
        a = ref_ccd, b = m_ccd, ka = kb = out->basis = "CCD-TEMP";
    } else if (isfinite(ref_set) && isfinite(m_set)) {
        a = ref_set, b = m_set, ka = kb = out->basis = "SET-TEMP";
    } else if ((isfinite(ref_ccd) || isfinite(ref_set)) &&
               (isfinite(m_ccd) || isfinite(m_set))) {
        /* One has only a sensor temperature, the other only a set point. */
        a = isfinite(ref_ccd) ? ref_ccd : ref_set;
        b = isfinite(m_ccd) ? m_ccd : m_set;
        ka = isfinite(ref_ccd) ? "CCD-TEMP" : "SET-TEMP";
        kb = isfinite(m_ccd) ? "CCD-TEMP" : "SET-TEMP";
        out->basis = "CCD-TEMP/SET-TEMP";
    } else if (!isfinite(ref_ccd) && !isfinite(ref_set) && !isfinite(m_ccd) &&
               !isfinite(m_set)) {
        out->verdict = AC_TEMP_NONE;
        snprintf(out->text, sizeof out->text,
                 "no temperature on the %s nor on the %s (uncooled camera): not compared",
                 ref_what, m_what);
        return;
    } else {
        bool ref_has = isfinite(ref_ccd) || isfinite(ref_set);
        out->verdict = AC_TEMP_UNKNOWN;
        snprintf(out->text, sizeof out->text,
                 "the %s has %s %.1f C but the %s has no temperature (CCD-TEMP, CCD_TEMP, "
                 "CCDTEMP, TEMPERAT, CAMTEMP, SET-TEMP, SET_TEMP or SETTEMP): the %.1f C "
                 "tolerance cannot be checked",
                 ref_has ? ref_what : m_what,
                 (ref_has ? isfinite(ref_ccd) : isfinite(m_ccd)) ? "CCD-TEMP" : "SET-TEMP",
                 ref_has ? (isfinite(ref_ccd) ? ref_ccd : ref_set)
                         : (isfinite(m_ccd) ? m_ccd : m_set),
                 ref_has ? m_what : ref_what, max_diff);
        return;
    }
    out->diff = fabs(a - b);
    out->verdict = out->diff <= max_diff + 1e-6 ? AC_TEMP_OK : AC_TEMP_DIFFERS;
    snprintf(out->text, sizeof out->text,
             "%s %s %.1f C vs %s %s %.1f C: %.1f C apart (%s %.1f)", ref_what, ka, a, m_what,
             kb, b, out->diff, out->verdict == AC_TEMP_OK ? "<=" : ">", max_diff);
}
