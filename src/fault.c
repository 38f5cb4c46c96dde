/* Fault injection: makes the k-th system allocation fail, so tests (ours and
 * the hosts') can run out-of-memory loops over whole scenarios. The settings
 * are process-wide atomics; platform.c asks mmi_fault_fail only while
 * mmi_fault_armed is set, so a disarmed library pays one relaxed load. */
#include "internal.h"

_Atomic int mmi_fault_armed;

static _Atomic int fault_mode;                /* mm_fault_mode in force */
static _Atomic uint64_t fault_k;              /* 1-based attempt that fails first; 0: never */
static _Atomic int fault_cat;                 /* category filter; MM_CAT_INVALID: any */
static _Atomic(const mm_context *) fault_ctx; /* context filter (by address); NULL: any */
static _Atomic uint64_t fault_attempts;       /* matching attempts since the last inject */
static _Atomic uint64_t fault_failures;       /* attempts made to fail since then */

bool mmi_fault_fail(int cat, const mm_context *ctx) {
    if (cat == MMI_SYS_EXEMPT) return false;
    int want_cat = mmi_load(&fault_cat);
    if (want_cat != MM_CAT_INVALID && cat != want_cat) return false;
    const mm_context *want_ctx = mmi_load(&fault_ctx);
    if (want_ctx != NULL && ctx != want_ctx) return false;
    uint64_t n = atomic_fetch_add_explicit(&fault_attempts, 1, MMI_RELAXED) + 1;
    uint64_t k = mmi_load(&fault_k);
    int mode = mmi_load(&fault_mode);
    bool fail = k != 0 && (mode == MM_FAULT_ONCE ? n == k : mode == MM_FAULT_FROM && n >= k);
    if (fail) atomic_fetch_add_explicit(&fault_failures, 1, MMI_RELAXED);
    return fail;
}

void mm_fault_inject(mm_fault_mode mode, uint64_t k, mm_category cat, const mm_context *ctx) {
    if (mode != MM_FAULT_OFF && mode != MM_FAULT_ONCE && mode != MM_FAULT_FROM) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, cat, NULL, ctx, "mm_fault_inject: unknown mode %d",
                  (int)mode);
        return;
    }
    if (cat != MM_CAT_INVALID && !mmi_cat_valid(cat)) {
        mmi_error_bad_category(cat, 0, ctx, "mm_fault_inject");
        return;
    }
    if (ctx != NULL && !mmi_ctx_alive(ctx)) {
        mmi_error(MM_ERR_BAD_CONTEXT, 0, cat, NULL, ctx,
                  "mm_fault_inject: %p is not a live context", (const void *)ctx);
        return;
    }
    /* disarm first, so no allocation sees half of the new setting */
    atomic_store(&mmi_fault_armed, 0);
    atomic_store(&fault_mode, (int)mode);
    atomic_store(&fault_k, k);
    atomic_store(&fault_cat, cat);
    atomic_store(&fault_ctx, ctx);
    atomic_store(&fault_attempts, 0);
    atomic_store(&fault_failures, 0);
    atomic_store(&mmi_fault_armed, mode != MM_FAULT_OFF);
}

uint64_t mm_fault_attempts(void) {
    return atomic_load(&fault_attempts);
}

uint64_t mm_fault_failures(void) {
    return atomic_load(&fault_failures);
}
