/* Layer 6, reports: the snapshot a report is written from. Gathering it is
 * the one way a reader on any thread reads figures other threads own
 * (docs/design.md, "Reading while others work"): process figures under the
 * statistics lock, context figures under the registry lock (relaxed loads
 * of the owners' counters, structure the owners change only under that
 * lock), the composition under its lock, sites lock-free. Writing never
 * touches live structures: report.c writes text, JSON and CSV from here. */
#ifndef MMI_SNAPSHOT_H
#define MMI_SNAPSHOT_H

#include "../diag/diag.h"
#include "emit.h"

#define MMI_SNAP_SITES 10 /* sites listed in a report */

typedef struct {
    int id;     /* category id */
    int group;  /* group index */
    mm_stats s; /* figures in scope */
} mmi_snap_cat;

typedef struct {
    uint64_t index;              /* epoch number in its context */
    size_t peak_bytes;           /* its peak */
    char label[MM_NAME_MAX + 1]; /* its label */
    size_t first_peak, npeaks;   /* its per-category peaks, in mmi_snapshot.peaks */
} mmi_snap_top;

typedef struct {
    int cat;                             /* category id */
    size_t bytes, blocks;                /* reclaimed over all epochs */
    size_t last_bytes, last_blocks;      /* by the last reset */
} mmi_snap_reclaim;

typedef struct {
    char name[MM_NAME_MAX + 1];     /* context name */
    char label[MM_NAME_MAX + 1];    /* current epoch label */
    int depth;                      /* 0: a top-level context or the report's root */
    mm_stats total, self;           /* with descendants; alone */
    size_t chunk_bytes;             /* chunk memory held */
    mm_epoch_summary epochs;        /* summary of its closed epochs */
    size_t first_top, ntop;         /* its top epochs, in mmi_snapshot.tops */
    size_t first_reclaim, nreclaim; /* in mmi_snapshot.reclaims */
} mmi_snap_ctx;

typedef struct {
    bool process;                   /* a process report (else one context's) */
    char root_name[MM_NAME_MAX + 1]; /* the context of a context report */
    int rank;                       /* mm_get_rank(), -1 unknown */
    mm_stats total;                 /* the scope's total */
    int ncat;                       /* categories registered when gathered */
    int nrows;                      /* non-empty categories, by group then id */
    mmi_snap_cat *rows;
    int have_comp;                  /* a peak composition is recorded */
    mm_peak_info comp;              /* it */
    size_t *comp_cat;               /* [ncat] its bytes per category */
    size_t nsites;                  /* top sites (process reports) */
    mm_site_stats sites[MMI_SNAP_SITES];
    size_t nctx, capctx;            /* contexts, preorder: a context, then its subtree */
    mmi_snap_ctx *ctxs;
    size_t ntops, captops;
    mmi_snap_top *tops;
    size_t npeaks, cappeaks;
    struct mmi_epoch_catpeak *peaks;
    size_t nreclaims, capreclaims;
    mmi_snap_reclaim *reclaims;
    mmi_ledger ledger;              /* every context's epochs (process reports) */
    bool incomplete;                /* memory ran out: some lists are shorter */
} mmi_snapshot;

/* Gathers the snapshot of ctx and its descendants (NULL: the process and
 * every live context). false when not even the basics fit in memory. */
bool mmi_snap_gather(mmi_snapshot *s, const mm_context *ctx);
void mmi_snap_free(mmi_snapshot *s);

/* The leaks: process totals per category and the sites with live blocks. */
typedef struct {
    mm_stats total;                 /* the process */
    int ncat;                       /* categories registered */
    mm_stats *cats;                 /* [ncat] */
    size_t nsites;                  /* sites with live blocks */
    mm_site_stats *sites;           /* largest live bytes first */
} mmi_leaks;

bool mmi_leaks_gather(mmi_leaks *l);
void mmi_leaks_free(mmi_leaks *l);

/* ======================================================================
 * Writers (report.c) and the options (options.c)
 * ==================================================================== */

/* The text report of ctx (NULL: the process) as one system-malloc string;
 * NULL when out of memory. (mmi_hooks.report_text) */
char *mmi_report_text(const mm_context *ctx);
/* The exit report on out: text, or one JSON object {"report", "leaks"}. */
void mmi_report_exit(FILE *out, bool json);
/* The epoch log line of the epoch a reset of ctx closes. (mmi_hooks.epoch_log) */
void mmi_report_epoch_log(mm_context *ctx);
/* Reads MIMICMEM_* once. (mmi_hooks.read_environment) */
void mmi_options_read_environment(void);

#endif /* MMI_SNAPSHOT_H */
