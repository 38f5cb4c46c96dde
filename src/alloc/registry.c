/* The registry of live contexts: the lock readers on any thread hold while
 * they copy a context's figures, and under which owners change a context's
 * structure (children, category arrays, labels, epochs); the list of
 * top-level contexts; and the errors whose message names a context. Lowest
 * file of the allocation layer, so every other file of it may use these. */
#include "alloc.h"

#include <string.h>

mmi_lock mmi_ctx_lock = MMI_LOCK_INIT(MMI_RANK_CONTEXTS, "contexts");
mm_context *mmi_ctx_top; /* live top-level contexts (sibling links); mmi_ctx_lock */

static mmi_lock reg_limits_lock = MMI_LOCK_INIT(MMI_RANK_LIMIT, "limits");
static long reg_limits; /* limits set anywhere (process, contexts); reg_limits_lock */

void mmi_limits_counted(size_t old, size_t new_bytes) {
    long d = (old == 0 && new_bytes != 0) - (old != 0 && new_bytes == 0);
    if (d == 0) return;
    mmi_lock_take(&reg_limits_lock); /* the count and its bit change together */
    reg_limits += d;
    mmi_diag_set(MMI_DIAG_LIMITS, reg_limits > 0);
    mmi_lock_drop(&reg_limits_lock);
}

void mmi_contexts_lock(void) {
    mmi_lock_take(&mmi_ctx_lock);
}

void mmi_contexts_unlock(void) {
    mmi_lock_drop(&mmi_ctx_lock);
}

void mmi_contexts_read(void (*fn)(const mm_context *top, void *arg), void *arg) {
    mmi_lock_take(&mmi_ctx_lock);
    for (mm_context *c = mmi_ctx_top; c; c = c->next_sibling) fn(c, arg);
    mmi_lock_drop(&mmi_ctx_lock);
}

void mmi_context_error(const mm_context *ctx, const char *fn) {
    if (ctx == NULL)
        mmi_error(MM_ERR_BAD_CONTEXT, 0, MM_CAT_INVALID, NULL, NULL, "%s: the context is NULL", fn);
    else
        mmi_error(MM_ERR_BAD_CONTEXT, 0, MM_CAT_INVALID, NULL, ctx,
                  "%s: %p is not a live context (destroyed, or never created)", fn,
                  (const void *)ctx);
}

/* ======================================================================
 * The out-of-memory message
 * ==================================================================== */

void mmi_error_oom(size_t size, int cat, const mm_context *ctx, const char *fn) {
    char sz[32], live[32], peak[32], where[2 * MM_NAME_MAX + 48] = "", largest[256] = "";
    mm_format_bytes(size, sz, sizeof sz);
    if (mmi_ctx_alive(ctx)) {
        char label[MM_NAME_MAX + 1];
        mmi_lock_take(&mmi_ctx_lock);
        memcpy(label, ctx->label, sizeof label);
        mmi_lock_drop(&mmi_ctx_lock);
        if (label[0])
            snprintf(where, sizeof where, " in context \"%s\" (epoch \"%s\")", ctx->name, label);
        else
            snprintf(where, sizeof where, " in context \"%s\"", ctx->name);
    }
    mm_stats tot = mmi_process_stats(-1);
    mm_format_bytes(tot.bytes, live, sizeof live);
    mm_format_bytes(tot.peak_bytes, peak, sizeof peak);
    /* the three largest categories by live bytes */
    int ncat = atomic_load(&mmi_ncat);
    size_t bytes[MM_CATEGORY_MAX];
    mmi_process_cat_bytes(bytes, ncat);
    int top[3] = {-1, -1, -1};
    for (int c = 0; c < ncat; c++) {
        for (int k = 0; k < 3; k++) {
            if (bytes[c] > 0 && (top[k] < 0 || bytes[c] > bytes[top[k]])) {
                for (int j = 2; j > k; j--) top[j] = top[j - 1];
                top[k] = c;
                break;
            }
        }
    }
    size_t used = 0;
    for (int k = 0; k < 3 && top[k] >= 0; k++) {
        char b[32];
        mm_format_bytes(bytes[top[k]], b, sizeof b);
        int w = snprintf(largest + used, sizeof largest - used, "%s%s %s",
                         k ? ", " : "; largest: ", mmi_cat_name(top[k]), b);
        if (w < 0 || (size_t)w >= sizeof largest - used) break;
        used += (size_t)w;
    }
    mmi_error(MM_ERR_OUT_OF_MEMORY, size, cat, NULL, ctx,
              "%s (%zu bytes) for category \"%s\"%s in %s\n"
              "mimicmem:   live %s, peak %s%s",
              sz, size, mmi_cat_name(cat), where, fn, live, peak, largest);
}
