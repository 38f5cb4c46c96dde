/* Text: numbers and names the same under every locale (byte figures
 * "812.4 MB", counts "41,233", decimals for JSON and CSV, UTF-8 aware name
 * copies; no printf conversion of a floating-point value is used, because
 * its decimal point follows LC_NUMERIC), and file names from patterns with
 * the process id and the rank of this process in a parallel job. */
#include "platform.h"

#include <math.h> /* isfinite: a macro, no libm */
#include <stdlib.h>
#include <string.h>

/* Writes the integer part and one decimal of x * 10 rounded (tenths). */
static char *fmt_tenths(uint64_t tenths, const char *unit, char *buf, size_t len) {
    snprintf(buf, len, "%llu.%u%s%s", (unsigned long long)(tenths / 10), (unsigned)(tenths % 10),
             unit[0] ? " " : "", unit);
    return buf;
}

char *mm_format_bytes(size_t bytes, char *buf, size_t buflen) {
    static const char *units[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
    if (buf == NULL || buflen == 0) return buf;
    if (bytes < 1024) {
        snprintf(buf, buflen, "%zu B", bytes);
        return buf;
    }
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    if (v >= 1023.95 && u < 6) { /* 1023.96 KB would print as "1024.0 KB" */
        v /= 1024.0;
        u++;
    }
    return fmt_tenths((uint64_t)(v * 10.0 + 0.5), units[u], buf, buflen);
}

char *mmi_format_tenths(double x, char *buf, size_t len) {
    if (!(x >= 0.0) || x > 1e17) x = 0.0; /* NaN and negatives too */
    return fmt_tenths((uint64_t)(x * 10.0 + 0.5), "", buf, len);
}

char *mmi_format_double(double x, char *buf, size_t len) {
    if (len == 0) return buf;
    if (!isfinite(x)) { /* NaN, inf */
        buf[0] = '\0';
        return buf;
    }
    /* integral and exact: no decimal point (no libm: the conversion tests it) */
    if (x < 9007199254740992.0 && x > -9007199254740992.0 && (double)(long long)x == x) {
        snprintf(buf, len, "%lld", (long long)x);
        return buf;
    }
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.17g", x);
    /* whatever the locale wrote as its decimal point becomes '.' */
    size_t o = 0;
    bool point = false;
    for (const char *p = tmp; *p && o + 1 < len; p++) {
        char c = *p;
        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e' || c == 'E') {
            buf[o++] = c;
            point = false;
        } else if (!point) { /* the first byte of the decimal point */
            buf[o++] = '.';
            point = true;
        }
    }
    buf[o] = '\0';
    return buf;
}

char *mmi_format_count(uint64_t n, char *buf, size_t len) {
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < nd && o + 1 < len; i++) {
        if (i > 0 && (nd - i) % 3 == 0 && o + 2 < len) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

size_t mmi_utf8_len(const unsigned char *p) {
    if (p[0] < 0x80) return 1;
    size_t n = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 ? 2 : 0;
    if (n == 0 || p[0] > 0xF4) return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    /* no overlong forms, no surrogates, nothing above U+10FFFF */
    if (n == 3 && p[0] == 0xE0 && p[1] < 0xA0) return 0;
    if (n == 3 && p[0] == 0xED && p[1] >= 0xA0) return 0;
    if (n == 4 && p[0] == 0xF0 && p[1] < 0x90) return 0;
    if (n == 4 && p[0] == 0xF4 && p[1] >= 0x90) return 0;
    return n;
}

void mmi_copy_name(char *dst, const char *src, size_t max) {
    size_t n = strlen(src);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ======================================================================
 * The rank of this process in a parallel job
 * -1: not known yet; read once from the launcher's environment unless
 * mm_set_rank said first.
 * ==================================================================== */

static _Atomic int plat_rank = -2; /* -2: the environment not read yet */

static int plat_rank_from_env(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK",
                                       "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v == NULL || *v < '0' || *v > '9') continue;
        char *end;
        long r = strtol(v, &end, 10);
        if (*end == '\0' && r >= 0 && r <= INT32_MAX) return (int)r;
    }
    return -1;
}

int mm_get_rank(void) {
    int r = atomic_load(&plat_rank);
    if (r == -2) {
        int env = plat_rank_from_env();
        int expected = -2;
        atomic_compare_exchange_strong(&plat_rank, &expected, env);
        r = atomic_load(&plat_rank);
    }
    return r;
}

int mm_set_rank(int rank) {
    int old = mm_get_rank();
    if (rank < 0) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, NULL,
                  "mm_set_rank: %d is not a rank (0 or more)", rank);
        return old;
    }
    atomic_store(&plat_rank, rank);
    return old;
}

bool mmi_expand_path(const char *pattern, char *out, size_t len) {
    size_t o = 0;
    for (const char *p = pattern; *p; p++) {
        char tmp[32];
        if (p[0] == '%' && p[1] == 'p') {
            snprintf(tmp, sizeof tmp, "%ld", mmi_getpid());
            p++;
        } else if (p[0] == '%' && p[1] == 'r') {
            int r = mm_get_rank();
            snprintf(tmp, sizeof tmp, "%d", r < 0 ? 0 : r);
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            tmp[0] = '%', tmp[1] = '\0';
            p++;
        } else {
            tmp[0] = *p, tmp[1] = '\0';
        }
        size_t n = strlen(tmp);
        if (o + n >= len) return false;
        memcpy(out + o, tmp, n);
        o += n;
    }
    out[o] = '\0';
    return true;
}
