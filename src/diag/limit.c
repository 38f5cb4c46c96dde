/* Byte limits for the process, a context (with its descendants) and a
 * category (process-wide or within a context). Checked on the decorated
 * paths only (mmi_diag has MMI_DIAG_LIMITS while any limit is set), so a run
 * without limits pays nothing. An allocation that would pass a limit is an
 * MM_ERR_LIMIT error carrying the report of who uses what; a soft threshold
 * logs one warning per limit. */
#include "diag.h"

#include <stdlib.h>
#include <string.h>

/* Process limits: [0] the total, [c + 1] category c; 0 means none. */
static _Atomic size_t lim_process[MM_CATEGORY_MAX + 1];
static _Atomic int lim_warned[MM_CATEGORY_MAX + 1]; /* soft warning logged */
static _Atomic unsigned lim_warn_pct = 90;           /* option "limit_warn" */

static bool lim_cat_ok(int cat, const mm_context *ctx, const char *fn) {
    if (cat == MM_CAT_INVALID || mmi_cat_valid(cat)) return true;
    mmi_error_bad_category(cat, 0, ctx, fn);
    return false;
}

size_t mm_limit_set(mm_context *ctx, mm_category cat, size_t bytes) {
    mmi_first_use();
    if (!lim_cat_ok(cat, ctx, "mm_limit_set")) return 0;
    size_t old;
    if (ctx == NULL) {
        old = atomic_exchange(&lim_process[cat + 1], bytes);
        mmi_store(&lim_warned[cat + 1], 0);
    } else {
        if (!mmi_ctx_alive(ctx)) {
            mmi_context_error(ctx, "mm_limit_set");
            return 0;
        }
        if (cat == MM_CAT_INVALID) {
            old = ctx->limit_bytes;
            ctx->limit_bytes = bytes;
            ctx->limit_warned = 0;
        } else {
            if (!mmi_context_cats(ctx, cat, "mm_limit_set")) return 0;
            old = ctx->cold[cat].limit_bytes;
            ctx->cold[cat].limit_bytes = bytes;
            ctx->cold[cat].limit_warned = 0;
        }
    }
    mmi_limits_counted(old, bytes);
    return old;
}

size_t mm_limit_get(const mm_context *ctx, mm_category cat) {
    mmi_first_use();
    if (!lim_cat_ok(cat, ctx, "mm_limit_get")) return 0;
    if (ctx == NULL) return mmi_load(&lim_process[cat + 1]);
    if (!mmi_ctx_alive(ctx)) {
        mmi_context_error(ctx, "mm_limit_get");
        return 0;
    }
    if (cat == MM_CAT_INVALID) return ctx->limit_bytes;
    return cat < ctx->ncap ? ctx->cold[cat].limit_bytes : 0;
}

unsigned mm_set_limit_warn(unsigned percent) {
    mmi_first_use();
    if (percent > 100) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, NULL,
                  "mm_set_limit_warn: %u is not a percentage (0..100)", percent);
        return mmi_load(&lim_warn_pct);
    }
    return atomic_exchange(&lim_warn_pct, percent);
}

unsigned mmi_limit_warn_get(void) {
    return mmi_load(&lim_warn_pct);
}


/* ======================================================================
 * The check
 * ==================================================================== */

/* Names a limit's scope: "the process", "category \"Halos\" in context
 * \"forest\"", ... */
static void lim_scope(char *buf, size_t len, const mm_context *ctx, int cat) {
    char c[MM_NAME_MAX + 32] = "";
    if (cat != MM_CAT_INVALID) snprintf(c, sizeof c, "category \"%s\"", mmi_cat_name(cat));
    if (ctx == NULL)
        snprintf(buf, len, "%s%s", c[0] ? c : "the process", c[0] ? " (process-wide)" : "");
    else
        snprintf(buf, len, "%s%scontext \"%s\"", c, c[0] ? " in " : "", ctx->name);
}

static MMI_COLD void lim_fail(const mm_context *scope_ctx, int scope_cat, size_t limit,
                              size_t would, mm_context *ctx, int cat, size_t size, const char *fn) {
    char scope[2 * MM_NAME_MAX + 64], sz[32], lim[32], now[32], head[4 * MM_NAME_MAX + 320];
    lim_scope(scope, sizeof scope, scope_ctx, scope_cat);
    char where[MM_NAME_MAX + 32] = "";
    if (ctx) snprintf(where, sizeof where, " in context \"%s\"", ctx->name);
    snprintf(head, sizeof head,
             "mimicmem: %s: %s (%zu bytes) for category \"%s\"%s in %s would bring %s to %s, "
             "over its limit of %s. Usage now:",
             mm_error_kind_name(MM_ERR_LIMIT), mm_format_bytes(size, sz, sizeof sz), size,
             mmi_cat_name(cat), where, fn, scope, mm_format_bytes(would, now, sizeof now),
             mm_format_bytes(limit, lim, sizeof lim));
    char *body = mmi_hooks.report_text(scope_ctx);
    mmi_error_long(MM_ERR_LIMIT, size, cat, NULL, ctx, head,
                   body ? body : "(no report: out of memory)");
    free(body);
}

static void lim_warn(const mm_context *scope_ctx, int scope_cat, size_t limit, size_t would) {
    char scope[2 * MM_NAME_MAX + 64], lim[32], now[32];
    lim_scope(scope, sizeof scope, scope_ctx, scope_cat);
    mmi_log(MM_LOG_WARNING, "%s reached %s, %u%% of its limit of %s", scope,
            mm_format_bytes(would, now, sizeof now), (unsigned)(100.0 * (double)would / (double)limit),
            mm_format_bytes(limit, lim, sizeof lim));
}

/* Whether would bytes reach the soft threshold (the option "limit_warn",
 * a percentage of limit; 0: never). */
static bool lim_warn_reached(size_t limit, double would) {
    unsigned pct = mmi_load(&lim_warn_pct);
    return pct != 0 && would >= (double)limit * pct / 100.0;
}

/* One limit: false after the error when used + grow passes it. */
static bool lim_one(size_t limit, size_t used, size_t grow, int *warned, _Atomic int *awarned,
                    const mm_context *scope_ctx, int scope_cat, mm_context *ctx, int cat,
                    size_t size, const char *fn) {
    if (limit == 0 || grow == 0) return true;
    size_t would = used + grow;
    if (would < used || would > limit) {
        lim_fail(scope_ctx, scope_cat, limit, would < used ? SIZE_MAX : would, ctx, cat, size, fn);
        return false;
    }
    if (warned ? *warned : mmi_load(awarned)) return true; /* warned once already */
    if (lim_warn_reached(limit, (double)would)) {
        bool first = warned ? !*warned : !atomic_exchange(awarned, 1);
        if (warned) *warned = 1;
        if (first) lim_warn(scope_ctx, scope_cat, limit, would);
    }
    return true;
}

/* The process figure a process limit is checked against: the calling
 * thread's view (its own bytes exact, the others' as they last folded them),
 * or the exact sum once the view would pass the limit or give its first
 * warning. The view can stand above the sum by what other threads freed and
 * have not folded (under 256 KiB each): an allocation fails, and the warning
 * comes, only when the sum says so. (Below the sum it can be by what they
 * allocated and have not folded, under 256 KiB each: the bound mimicmem.h
 * gives.) A thread that keeps allocating within that much of a limit sums
 * at each allocation: a lock and a pass over the threads. */
static size_t lim_process_used(mmi_thread *t, int cat, size_t limit, size_t grow,
                               _Atomic int *awarned) {
    int64_t v = mmi_process_bytes_view(t, cat);
    double would = (double)(v > 0 ? v : 0) + (double)grow;
    bool near = would > (double)limit || (!mmi_load(awarned) && lim_warn_reached(limit, would));
    if (near) v = mmi_process_bytes_exact(cat);
    return v > 0 ? (size_t)v : 0;
}

bool mmi_limit_check(mm_context *ctx, int cat, size_t grow_cat, size_t grow_total, size_t size,
                     const char *fn) {
    mmi_thread *t = mmi_tls; /* the decorated path made it */
    size_t lim = mmi_load(&lim_process[0]);
    if (lim && grow_total &&
        !lim_one(lim, lim_process_used(t, -1, lim, grow_total, &lim_warned[0]), grow_total, NULL,
                 &lim_warned[0], NULL, MM_CAT_INVALID, ctx, cat, size, fn))
        return false;
    lim = mmi_load(&lim_process[cat + 1]);
    if (lim && grow_cat &&
        !lim_one(lim, lim_process_used(t, cat, lim, grow_cat, &lim_warned[cat + 1]), grow_cat,
                 NULL, &lim_warned[cat + 1], NULL, cat, ctx, cat, size, fn))
        return false;
    for (mm_context *p = ctx; p; p = p->parent) { /* most levels have no limit: test first */
        if (p->limit_bytes &&
            !lim_one(p->limit_bytes, mmi_load(&p->tree.bytes), grow_total, &p->limit_warned, NULL,
                     p, MM_CAT_INVALID, ctx, cat, size, fn))
            return false;
        if (cat < p->ncap && p->cold[cat].limit_bytes &&
            !lim_one(p->cold[cat].limit_bytes, mmi_load(&p->cats[cat].tree.bytes), grow_cat,
                     &p->cold[cat].limit_warned, NULL, p, cat, ctx, cat, size, fn))
            return false;
    }
    return true;
}
