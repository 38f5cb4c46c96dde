/* Internal tables and constants that the hot paths trust without checking:
 * the size-class tables against the formulas they were written from, and
 * the thread cache's bins. Includes the library's own headers (the only
 * test that does). */
#include <criterion/criterion.h>

#include "../../src/stats/stats.h"

/* The formulas the tables replace (docs/design.md, "Contexts and chunks"). */
static unsigned formula_class(size_t n) {
    if (n <= 64) return n == 0 ? 0 : (unsigned)((n - 1) >> 4);
    unsigned msb = mmi_msb(n - 1);
    return 4 + (msb - 6) * 4 + (unsigned)(((n - 1) >> (msb - 2)) & 3);
}

static size_t formula_bytes(unsigned k) {
    if (k < 4) return (size_t)(k + 1) * 16;
    unsigned msb = (k - 4) / 4 + 6, q = (k - 4) % 4;
    return (size_t)(5 + q) << (msb - 2);
}

Test(internals, the_size_class_of_every_size_up_to_256_KiB_matches_the_formula) {
    for (size_t n = 0; n <= MMI_SMALL_MAX; n++)
        if (mmi_size_class(n) != formula_class(n))
            cr_assert_fail("size %zu: table class %u, formula %u", n, mmi_size_class(n),
                           formula_class(n));
}

Test(internals, every_class_holds_its_sizes_and_no_smaller_class_does) {
    for (unsigned k = 0; k < MMI_NCLASSES; k++)
        cr_expect_eq(mmi_class_bytes(k), formula_bytes(k), "class %u: bytes", k);
    for (size_t n = 1; n <= MMI_SMALL_MAX; n += 1 + n / 64) {
        unsigned k = mmi_size_class(n);
        cr_expect_geq(mmi_class_bytes(k), n, "class %u must hold %zu bytes", k, n);
        if (k > 0) cr_expect_lt(mmi_class_bytes(k - 1), n, "class %u must not be too big for %zu", k, n);
    }
    cr_expect_eq(mmi_class_bytes(MMI_NCLASSES - 1), MMI_SMALL_MAX, "the last class is 256 KiB");
}

Test(internals, the_cache_bins_above_4_KiB_start_at_the_class_of_4_KiB) {
    cr_expect_eq(MMI_CACHE_BIG0, mmi_size_class(4096), "bin 256 is the class of 4096 bytes");
    for (size_t n = 1; n <= MMI_CACHE_MAX_REQUEST; n++) {
        unsigned fit = mmi_cache_bin_fit(n), held = mmi_cache_bin_held(n);
        cr_assert_lt(fit, MMI_CACHE_BINS, "size %zu: bin %u out of range", n, fit);
        cr_assert_lt(held, MMI_CACHE_BINS, "size %zu: bin %u out of range", n, held);
        /* a block parked in bin b holds at least what any request taken from b asks */
        cr_assert_leq(held, fit, "size %zu: parked in %u but taken from %u", n, held, fit);
    }
    for (size_t n = MMI_CACHE_EXACT_MAX + 1; n <= MMI_CACHE_MAX_REQUEST; n++) {
        unsigned b = mmi_cache_bin_fit(n);
        size_t holds = mmi_class_bytes(b - 256 + MMI_CACHE_BIG0);
        cr_assert_geq(holds, n, "size %zu taken from bin %u, whose blocks hold %zu", n, b, holds);
    }
}
