/* Fault injection, the public side (mimicmem_testing.h): arms the filter
 * that platform.c checks before every system allocation, so tests (ours and
 * the hosts') can run out-of-memory loops over whole scenarios. The setting
 * is process-wide; a disarmed library pays one relaxed load per system
 * allocation. */
#include "diag.h"

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
        mmi_context_error(ctx, "mm_fault_inject");
        return;
    }
    /* disarm first, so no allocation sees half of the new setting */
    atomic_store(&mmi_fault_armed, 0);
    atomic_store(&mmi_fault.mode, (int)mode);
    atomic_store(&mmi_fault.k, k);
    atomic_store(&mmi_fault.cat, cat);
    atomic_store(&mmi_fault.ctx, ctx);
    atomic_store(&mmi_fault.attempts, 0);
    atomic_store(&mmi_fault.failures, 0);
    atomic_store(&mmi_fault_armed, mode != MM_FAULT_OFF);
}

uint64_t mm_fault_attempts(void) {
    return atomic_load(&mmi_fault.attempts);
}

uint64_t mm_fault_failures(void) {
    return atomic_load(&mmi_fault.failures);
}
