/* Internal tables and constants that the hot paths trust without checking:
 * the size-class tables against the formulas they were written from, the
 * thread cache's bins, and the composition locks' striping. Includes the
 * library's own headers. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>

#include "../../src/diag/diag.h"

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

/* ======================================================================
 * Owner locks: owners on different threads share none (a reset of a
 * context without children and a composition record take only theirs)
 * ==================================================================== */

static void *stripe_of_new_context(void *arg) {
    const mmi_lock **out = arg;
    mm_context *ctx = mm_context_create("stripe", NULL);
    *out = ctx ? mmi_ctx_owner_lock(ctx) : NULL;
    mm_context_destroy(ctx);
    return NULL;
}

Test(internals, sixteen_threads_made_in_turn_get_sixteen_owner_locks_on_lines_of_their_own) {
    enum { N = 16 };
    const mmi_lock *lock[N];
    for (int i = 0; i < N; i++) { /* one after another: consecutive thread serials */
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, stripe_of_new_context, &lock[i]), 0);
        cr_assert_eq(pthread_join(th, NULL), 0);
        cr_assert_not_null(lock[i], "thread %d should have made a context", i);
        cr_assert_eq((uintptr_t)lock[i] % MMI_CACHE_LINE, 0,
                     "thread %d's owner lock should start a cache line", i);
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            uintptr_t a = (uintptr_t)lock[i], b = (uintptr_t)lock[j];
            cr_assert((a > b ? a - b : b - a) >= MMI_CACHE_LINE,
                      "threads %d and %d should get owner locks on different lines", i, j);
        }
}
