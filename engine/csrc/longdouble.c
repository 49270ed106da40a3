/* Long double arithmetic for INCRBYFLOAT and HINCRBYFLOAT.
 *
 * Redis parses these operands with strtold, adds them as long double and prints the sum with
 * "%.17Lf" minus trailing zeros. Rust has no long double, and doing the same in f64 gives
 * different digits (0.1 + 0.2 is "0.3" in Redis, "0.30000000000000004" in f64), so this one
 * operation is done in C to reply exactly what Redis replies. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses like Redis's string2ld. Returns 0 on success. */
static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[5120];
    char *end;
    if (len == 0 || len >= sizeof(buf)) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (strlen(buf) != len) return -1; /* embedded NUL */
    errno = 0;
    long double v = strtold(buf, &end);
    if (isspace((unsigned char)buf[0]) || (size_t)(end - buf) != len ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) ||
        isnan(v))
        return -1;
    *out = v;
    return 0;
}

/* Returns 0 and writes the formatted sum, -1 when an operand is not a float, -2 when the sum
 * is NaN or infinite, -3 when `a` itself is not a valid float (the stored value). */
int tradestate_ld_add(const char *a, size_t alen, const char *b, size_t blen, char *out,
                      size_t outlen, size_t *written) {
    long double x = 0, y;
    if (a != NULL && parse_ld(a, alen, &x) != 0) return -3;
    if (parse_ld(b, blen, &y) != 0) return -1;
    long double sum = x + y;
    if (isnan(sum) || isinf(sum)) return -2;
    int l = snprintf(out, outlen, "%.17Lf", sum);
    if (l < 0 || (size_t)l >= outlen) return -2;
    if (strchr(out, '.') != NULL) {
        char *p = out + l - 1;
        while (*p == '0') { p--; l--; }
        if (*p == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') { out[0] = '0'; l = 1; }
    *written = (size_t)l;
    return 0;
}
