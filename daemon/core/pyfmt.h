/*
 * pyfmt.h - values as AstroFiler's Python code writes them into the catalogue: header
 * values as astropy returns them, floats as Python's repr(). Pure; any thread.
 */
#ifndef AC_PYFMT_H
#define AC_PYFMT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * ac_pyfmt_text writes the text AstroFiler stores for a header value: Python's str()
 * of what astropy returns. A quoted (string) value is kept as it is; an integer literal is
 * normalised as Python prints an int ('+007' -> '7'); a real literal as Python prints a
 * float ('300.' and '3.0E2' -> '300.0', '-10.10' -> '-10.1', 1e-5 -> '1e-05'); T/F as
 * 'True'/'False'. value is the value as written (ac_hdr_get_value). 0, or -ERANGE when out
 * is too small.
 */
int ac_pyfmt_text(const char *value, bool quoted, char *out, size_t size);

/* ac_pyfmt_float writes Python's repr() of a float (shortest round-trip digits,
 * '.0' for whole numbers, exponent form below 1e-4 and from 1e16). 0 or -ERANGE. */
int ac_pyfmt_float(double v, char *out, size_t size);

#endif
