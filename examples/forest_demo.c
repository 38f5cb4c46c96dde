/* forest_demo.c: a stand-in for a Mimic run, to watch mimicmem at work.
 * Synthetic merger-tree forests with heavy-tailed sizes are processed one at a
 * time in a "Forest" context that is reset between forests; five physics
 * modules keep their per-forest data in child contexts of their own. The run is
 * deterministic from --seed; at the end it prints mimicmem's reports. Built
 * with MM_WITH_SITES, so MIMICMEM_SITES=on lists its allocation sites (off, the
 * default, costs nothing); the other MIMICMEM_* options apply as to any host. */
#define MM_WITH_SITES

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* isatty() is POSIX; elsewhere (plain Windows C, say) the bar stays off. */
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define DEMO_HAVE_ISATTY 1
#endif

#include "mimicmem.h"

#define DEMO_NAME "mimicmem-forest-demo"
#define DEMO_DEFAULT_FORESTS 90000u  /* 3.5-4.5 s, optimised build, gcc or clang */
#define DEMO_DEFAULT_SEED 42u
#define DEMO_FORESTS_PER_FILE 5000u  /* forests per synthetic tree file */
#define DEMO_MIN_HALOS 25.0          /* Pareto scale: the smallest forest */
#define DEMO_MAX_HALOS 20000.0       /* Pareto truncation: the largest forest */
#define DEMO_PARETO_ALPHA 1.2        /* tail index: median ~45 halos, p99 ~1200 */
#define DEMO_NEW_TREE_ODDS 64u       /* 1 halo in 64 starts a new tree in the forest */
#define DEMO_MERGE_PROB 0.55         /* chance a satellite merges at each snapshot */
#define DEMO_IO_BUFFER_BYTES 32768u  /* output buffer, flushed when full */
#define DEMO_WORKSPACE_START 16u     /* first capacity of the galaxy workspace */
#define DEMO_NSNAPS 64               /* snapshots 0..63, 63 is today */
#define DEMO_AGE_SLOTS 1000u         /* age table slots, as Mimic sizes it */
#define DEMO_NOUTPUTS 8              /* output snapshots, as in Mimic's test runs */
#define DEMO_BARYON_FRACTION 0.17f   /* hot gas added per unit of halo growth */

static const int demo_output_snaps[DEMO_NOUTPUTS] = {63, 37, 32, 27, 23, 20, 18, 16};

/* ========================================================================
 * Random numbers: splitmix64, so a seed gives the same run everywhere
 * ====================================================================== */

typedef struct {
    uint64_t state; /* advanced by a fixed odd constant per draw */
} demo_rng;

static uint64_t rng_next(demo_rng *r)
{
    uint64_t z = (r->state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_uniform(demo_rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, n), n > 0. */
static uint32_t rng_below(demo_rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

/* Halos in one forest: a Pareto law truncated to [MIN, MAX), so most forests
 * hold tens of halos and a rare few thousands, as in real merger trees. */
static int32_t rng_forest_halos(demo_rng *r)
{
    double tail = pow(DEMO_MIN_HALOS / DEMO_MAX_HALOS, DEMO_PARETO_ALPHA);
    double u = rng_uniform(r);
    double x = DEMO_MIN_HALOS / pow(1.0 - u * (1.0 - tail), 1.0 / DEMO_PARETO_ALPHA);
    return (int32_t)x;
}

/* ========================================================================
 * What a forest holds
 * ====================================================================== */

struct demo_halo {                /* one halo as a tree file stores it: 104 bytes */
    int32_t descendant;           /* index in the forest, -1 for a tree root */
    int32_t first_progenitor;     /* main progenitor, -1 when none */
    int32_t next_progenitor;      /* next halo with the same descendant, -1 at the end */
    int32_t first_in_fof;         /* head of the halo's friends-of-friends group */
    int32_t next_in_fof;          /* next halo of that group, -1 at the end */
    int32_t npart;                /* particles in the halo */
    float m_mean200;              /* mass within 200x the mean density, 1e10 Msun/h */
    float mvir;                   /* virial mass, 1e10 Msun/h */
    float m_tophat;               /* top-hat mass, 1e10 Msun/h */
    float pos[3];                 /* comoving position, Mpc/h */
    float vel[3];                 /* peculiar velocity, km/s */
    float vel_disp;               /* velocity dispersion, km/s */
    float vmax;                   /* maximum circular velocity, km/s */
    float spin[3];                /* specific angular momentum, Mpc/h km/s */
    int64_t most_bound_id;        /* id of the most bound particle */
    int32_t snap;                 /* snapshot, 0..DEMO_NSNAPS-1 */
    int32_t file_nr;              /* tree file the halo came from */
    int32_t subhalo_index;        /* index in the snapshot's subhalo catalogue */
    float sub_half_mass;          /* 1e10 Msun/h */
};

struct demo_galaxy {              /* one galaxy at one snapshot: 104 bytes, like Mimic's */
    int32_t type;                 /* 0 central, 1 satellite */
    int32_t halo;                 /* halo index in the forest */
    int32_t snap;                 /* snapshot of this copy */
    int32_t central;              /* output index of its halo's central, set when written */
    int64_t galaxy_id;            /* unique over the run */
    float pos[3];                 /* Mpc/h */
    float vel[3];                 /* km/s */
    float mvir;                   /* virial mass of its halo, 1e10 Msun/h */
    float rvir;                   /* virial radius, Mpc/h */
    float vvir;                   /* virial velocity, km/s */
    float hot_gas;                /* 1e10 Msun/h, as every mass below */
    float cold_gas;               /* star-forming gas */
    float ejected_gas;            /* gas blown out of the halo */
    float stellar_mass;           /* all stars, bulge included */
    float bulge_mass;             /* stars in the bulge */
    float black_hole_mass;        /* central black hole */
    float metals_hot;             /* metals in the hot gas */
    float metals_cold;            /* metals in the cold gas */
    float metals_stellar;         /* metals in stars */
    float sfr;                    /* star formation rate, 1e10 Msun/h per Gyr */
    float cooling_rate;           /* cooling rate, 1e10 Msun/h per Gyr */
};

_Static_assert(sizeof(struct demo_halo) == 104, "a tree-file halo is 104 bytes");
_Static_assert(sizeof(struct demo_galaxy) == 104, "a galaxy copy is 104 bytes");

struct demo_halo_aux {            /* per-halo bookkeeping during the walk: 16 bytes */
    int32_t first_galaxy;         /* index of its first galaxy in the workspace */
    int32_t ngalaxies;            /* galaxies of the halo, merged ones included */
    int32_t done;                 /* 1 once the halo has been walked */
    int32_t depth;                /* position in the walk order */
};

struct demo_merger {              /* one merger event, kept by the Mergers module */
    int32_t snap;                 /* snapshot of the merger */
    int32_t halo;                 /* halo hosting the central */
    float mass_ratio;             /* satellite over central stellar mass */
    float stellar_mass;           /* satellite stellar mass, 1e10 Msun/h */
};

/* ========================================================================
 * Physics modules: each registers a category in "Physics Modules" and keeps
 * a lookup table and per-halo state in a child context of the forest context.
 * ====================================================================== */

enum { DEMO_COOLING, DEMO_STAR_FORMATION, DEMO_FEEDBACK, DEMO_MERGERS, DEMO_DISK_INSTABILITY,
       DEMO_NMODULES };

struct demo_module {
    const char *name;             /* category and context name */
    size_t table_doubles;         /* per-forest lookup table, doubles */
    size_t state_doubles;         /* per-halo state, doubles per halo */
    mm_category cat;              /* registered at start-up */
    mm_context *ctx;              /* child of the forest context, rebuilt each forest */
    double *table;                /* table_doubles entries, in ctx */
    double *state;                /* state_doubles per halo, in ctx */
};

/* Cooling keeps three times the memory of the others: its rate tables. */
static struct demo_module demo_modules[DEMO_NMODULES] = {
    {"Cooling", 1536, 6, MM_CAT_INVALID, NULL, NULL, NULL},
    {"Star Formation", 512, 2, MM_CAT_INVALID, NULL, NULL, NULL},
    {"Feedback", 512, 2, MM_CAT_INVALID, NULL, NULL, NULL},
    {"Mergers", 512, 2, MM_CAT_INVALID, NULL, NULL, NULL},
    {"Disk Instability", 512, 2, MM_CAT_INVALID, NULL, NULL, NULL},
};

/* ========================================================================
 * Run and forest state
 * ====================================================================== */

struct demo_file {                /* the tables kept for one open tree file */
    uint64_t first_forest;        /* run-wide index of its first forest */
    uint32_t nforests;            /* forests in the file */
    int32_t *nhalos;              /* halos per forest (Trees, process-wide) */
    int32_t *first_halo;          /* file offset of each forest's first halo (Trees) */
    int32_t *ngals[DEMO_NOUTPUTS]; /* galaxies written per forest and output (Trees) */
};

struct demo_totals {              /* run-wide counters, for the summary line */
    uint64_t halos;               /* halos walked */
    uint64_t galaxies;            /* galaxy copies allocated */
    uint64_t freed;               /* galaxy copies freed explicitly (mergers) */
    uint64_t checksum;            /* FNV-1a of every byte written: same seed, same value */
};

struct demo_forest {
    mm_context *ctx;              /* the "Forest" context, reset after each forest */
    uint64_t index;               /* run-wide forest number */
    demo_rng rng;                 /* this forest's own stream */
    const double *age;            /* age of the universe per snapshot, Gyr */
    int32_t nhalos;               /* halos in the forest */
    struct demo_halo *halos;      /* Trees */
    int32_t *walk_order;          /* Trees: progenitors before descendants */
    struct demo_halo_aux *aux;    /* Halos */
    struct demo_galaxy **work;    /* Halos: every galaxy copy, grown by doubling */
    size_t nwork;                 /* entries used in work */
    size_t work_capacity;         /* entries allocated in work */
    struct demo_merger *mergers;  /* Mergers module: events, grown by doubling */
    size_t nmergers;              /* events used */
    size_t merger_capacity;       /* events allocated */
    unsigned char *io_buffer;     /* IO: DEMO_IO_BUFFER_BYTES */
    size_t io_used;               /* bytes waiting in io_buffer */
    struct demo_totals *totals;   /* run-wide counters */
};

/* The default error handler aborts, so NULL only comes back from a handler
 * that returns; stop cleanly in that case too. */
static void *demo_need(void *p, const char *what)
{
    if (p == NULL) {
        fprintf(stderr, "%s: could not allocate %s\n", DEMO_NAME, what);
        exit(EXIT_FAILURE);
    }
    return p;
}

static double demo_now(void)
{
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) == 0)
        return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ========================================================================
 * Building a forest: what reading it from a tree file would give
 * ====================================================================== */

static void forest_build_tree(struct demo_forest *f, int32_t file_nr)
{
    demo_rng *r = &f->rng;
    int32_t n = f->nhalos;
    struct demo_halo *halos = f->halos;

    for (int32_t i = 0; i < n; i++) {
        struct demo_halo *h = &halos[i];
        h->first_progenitor = -1;
        h->next_progenitor = -1;
        if (i == 0 || rng_below(r, DEMO_NEW_TREE_ODDS) == 0) {
            h->descendant = -1;
            h->snap = DEMO_NSNAPS - 1;
            h->mvir = (float)pow(10.0, 1.0 + 3.0 * rng_uniform(r));
            for (int k = 0; k < 3; k++) {
                h->pos[k] = (float)(500.0 * rng_uniform(r));
                h->vel[k] = (float)(300.0 * (rng_uniform(r) - 0.5));
            }
        } else {
            uint32_t window = i < 16 ? (uint32_t)i : 16u;
            int32_t d = i - 1 - (int32_t)rng_below(r, window);
            if (halos[d].snap == 0)
                d = halos[d].descendant; /* a snapshot-0 halo is never a root */
            struct demo_halo *desc = &halos[d];
            h->descendant = d;
            h->snap = desc->snap - 1;
            h->mvir = desc->mvir * (float)(0.2 + 0.7 * rng_uniform(r));
            for (int k = 0; k < 3; k++) {
                h->pos[k] = desc->pos[k] + (float)(0.5 * (rng_uniform(r) - 0.5));
                h->vel[k] = desc->vel[k] + (float)(50.0 * (rng_uniform(r) - 0.5));
            }
            h->next_progenitor = desc->first_progenitor;
            desc->first_progenitor = i;
        }
        h->m_mean200 = 0.9f * h->mvir;
        h->m_tophat = 1.1f * h->mvir;
        h->npart = (int32_t)(h->mvir * 11.6f) + 20;
        h->vmax = (float)(60.0 * cbrt((double)h->mvir));
        h->vel_disp = 0.7f * h->vmax;
        for (int k = 0; k < 3; k++)
            h->spin[k] = (float)(rng_uniform(r) - 0.5);
        h->most_bound_id = (int64_t)(f->index * 100000u) + i;
        h->file_nr = file_nr;
        h->subhalo_index = i;
        h->sub_half_mass = 0.5f * h->mvir;
    }
    /* Friends-of-friends groups: the progenitors of one halo, a root alone. */
    for (int32_t i = 0; i < n; i++) {
        if (halos[i].descendant < 0) {
            halos[i].first_in_fof = i;
            halos[i].next_in_fof = -1;
        }
        for (int32_t p = halos[i].first_progenitor; p >= 0; p = halos[p].next_progenitor) {
            halos[p].first_in_fof = halos[i].first_progenitor;
            halos[p].next_in_fof = halos[p].next_progenitor;
        }
    }
}

/* Walk order: reversed depth-first preorder from each root, so every
 * progenitor comes before its descendant. The stack is freed right away. */
static void forest_order_walk(struct demo_forest *f)
{
    int32_t n = f->nhalos;
    int32_t *stack = demo_need(mm_context_malloc(f->ctx, (size_t)n * sizeof *stack,
                                                 MM_CAT_TREES), "walk stack");
    int32_t top = 0, count = 0;
    for (int32_t i = n - 1; i >= 0; i--)
        if (f->halos[i].descendant < 0)
            stack[top++] = i;
    while (top > 0) {
        int32_t h = stack[--top];
        f->walk_order[n - 1 - count++] = h;
        for (int32_t p = f->halos[h].first_progenitor; p >= 0; p = f->halos[p].next_progenitor)
            stack[top++] = p;
    }
    mm_free(stack);
}

/* ========================================================================
 * Modules
 * ====================================================================== */

static void modules_begin_forest(struct demo_forest *f)
{
    double scale = 0.5 + rng_uniform(&f->rng); /* stands for the forest's environment */
    for (int m = 0; m < DEMO_NMODULES; m++) {
        struct demo_module *mod = &demo_modules[m];
        mod->ctx = demo_need(mm_context_create(mod->name, f->ctx), "module context");
        mod->table = demo_need(mm_context_malloc(mod->ctx, mod->table_doubles * sizeof(double),
                                                 mod->cat), "module table");
        mod->state = demo_need(mm_context_calloc(mod->ctx, (size_t)f->nhalos * mod->state_doubles,
                                                 sizeof(double), mod->cat), "module state");
        double slope = 0.5 / (double)mod->table_doubles;
        for (size_t k = 0; k < mod->table_doubles; k++)
            mod->table[k] = scale * 0.05 * (1.0 - slope * (double)k);
    }
    struct demo_module *mergers = &demo_modules[DEMO_MERGERS];
    f->merger_capacity = 8;
    f->nmergers = 0;
    f->mergers = demo_need(mm_context_malloc(mergers->ctx, f->merger_capacity * sizeof *f->mergers,
                                             mergers->cat), "merger list");
}

/* The reset destroyed the module contexts; forget their pointers. */
static void modules_end_forest(struct demo_forest *f)
{
    for (int m = 0; m < DEMO_NMODULES; m++) {
        demo_modules[m].ctx = NULL;
        demo_modules[m].table = NULL;
        demo_modules[m].state = NULL;
    }
    f->mergers = NULL;
}

static double module_lookup(int m, float key)
{
    const struct demo_module *mod = &demo_modules[m];
    float scaled = key * 37.0f;
    if (!(scaled >= 0.0f))
        scaled = 0.0f;
    else if (scaled > 1e9f)
        scaled = 1e9f;
    size_t k = (size_t)scaled % mod->table_doubles;
    return mod->table[k];
}

static void module_record_merger(struct demo_forest *f, int32_t halo, const struct demo_galaxy *cen,
                                 const struct demo_galaxy *sat)
{
    if (f->nmergers == f->merger_capacity) {
        f->merger_capacity *= 2;
        f->mergers = demo_need(mm_realloc(f->mergers, f->merger_capacity * sizeof *f->mergers),
                               "merger list");
    }
    struct demo_merger *e = &f->mergers[f->nmergers++];
    e->snap = f->halos[halo].snap;
    e->halo = halo;
    e->stellar_mass = sat->stellar_mass;
    e->mass_ratio = cen->stellar_mass > 0.0f ? sat->stellar_mass / cen->stellar_mass : 0.0f;
    demo_modules[DEMO_MERGERS].state[2 * (size_t)halo] += 1.0;
    demo_modules[DEMO_MERGERS].state[2 * (size_t)halo + 1] += (double)e->mass_ratio;
}

/* One snapshot of toy physics for one galaxy of halo h. */
static void modules_evolve(struct demo_forest *f, int32_t h, struct demo_galaxy *g)
{
    int32_t snap = g->snap;
    float dt = snap > 0 ? (float)(f->age[snap] - f->age[snap - 1]) : 0.1f;
    double *cool = &demo_modules[DEMO_COOLING].state[6 * (size_t)h];

    float rate = (float)module_lookup(DEMO_COOLING, g->vvir);
    float cooled = g->hot_gas * (rate * dt < 1.0f ? rate * dt : 1.0f);
    g->hot_gas -= cooled;
    g->cold_gas += cooled;
    g->cooling_rate = cooled / dt;
    cool[0] += cooled;
    cool[1] = rate;
    cool[2] += g->hot_gas;
    cool[3] = g->vvir;
    cool[4] += dt;
    cool[5] += 1.0;

    float efficiency = (float)module_lookup(DEMO_STAR_FORMATION, g->rvir);
    float stars = g->cold_gas * (efficiency * dt < 0.5f ? efficiency * dt : 0.5f);
    g->cold_gas -= stars;
    g->stellar_mass += stars;
    g->sfr = stars / dt;
    demo_modules[DEMO_STAR_FORMATION].state[2 * (size_t)h] += stars;

    float loading = 2.0f + (float)module_lookup(DEMO_FEEDBACK, g->mvir);
    float reheated = stars * loading < g->cold_gas ? stars * loading : g->cold_gas;
    g->cold_gas -= reheated;
    g->hot_gas += 0.8f * reheated;
    g->ejected_gas += 0.2f * reheated;
    demo_modules[DEMO_FEEDBACK].state[2 * (size_t)h] += reheated;

    if (g->stellar_mass > 0.05f * g->mvir) {
        float unstable = 0.1f * (g->stellar_mass - g->bulge_mass);
        unstable *= 1.0f + (float)module_lookup(DEMO_DISK_INSTABILITY, g->stellar_mass);
        g->bulge_mass += unstable > 0.0f ? unstable : 0.0f;
        demo_modules[DEMO_DISK_INSTABILITY].state[2 * (size_t)h] += 1.0;
    }
    float metals = 0.02f * stars;
    g->metals_stellar += metals;
    g->metals_cold += 0.5f * metals;
    g->metals_hot += 0.5f * metals;
}

/* ========================================================================
 * Walking a forest
 * ====================================================================== */

static void forest_push_galaxy(struct demo_forest *f, struct demo_galaxy *g)
{
    if (f->nwork == f->work_capacity) {
        f->work_capacity *= 2;
        f->work = demo_need(mm_realloc(f->work, f->work_capacity * sizeof *f->work),
                            "galaxy workspace");
    }
    f->work[f->nwork++] = g;
    f->totals->galaxies++;
}

static struct demo_galaxy *forest_new_galaxy(struct demo_forest *f)
{
    return demo_need(mm_context_malloc(f->ctx, sizeof(struct demo_galaxy), MM_CAT_HALOS),
                     "galaxy");
}

static void galaxy_follow_halo(struct demo_galaxy *g, const struct demo_halo *h, int32_t index)
{
    g->halo = index;
    g->snap = h->snap;
    if (g->type == 0) {
        float infall = DEMO_BARYON_FRACTION * (h->mvir - g->mvir);
        g->hot_gas += infall > 0.0f ? infall : 0.0f;
        g->mvir = h->mvir;
        g->vvir = h->vmax / 1.1f;
        g->rvir = 1.5e-3f * h->vmax;
        memcpy(g->pos, h->pos, sizeof g->pos);
        memcpy(g->vel, h->vel, sizeof g->vel);
    }
}

/* Gathers the galaxies of halo h from its progenitors (the main progenitor
 * first, so the central is always the halo's first galaxy); satellites may
 * merge into the central, and their last copy is freed on the spot. */
static void forest_walk_halo(struct demo_forest *f, int32_t h)
{
    const struct demo_halo *halo = &f->halos[h];
    size_t first = f->nwork;

    if (halo->first_progenitor < 0) {
        struct demo_galaxy *g = forest_new_galaxy(f);
        memset(g, 0, sizeof *g);
        g->galaxy_id = (int64_t)f->totals->galaxies;
        g->central = -1;
        galaxy_follow_halo(g, halo, h);
        forest_push_galaxy(f, g);
    }
    for (int32_t p = halo->first_progenitor; p >= 0; p = f->halos[p].next_progenitor) {
        const struct demo_halo_aux *pa = &f->aux[p];
        for (int32_t k = 0; k < pa->ngalaxies; k++) {
            size_t slot = (size_t)(pa->first_galaxy + k);
            struct demo_galaxy *old = f->work[slot];
            if (old == NULL)
                continue;
            int central = p == halo->first_progenitor && old->type == 0;
            if (!central && f->nwork > first && rng_uniform(&f->rng) < DEMO_MERGE_PROB) {
                struct demo_galaxy *cen = f->work[first];
                module_record_merger(f, h, cen, old);
                cen->stellar_mass += old->stellar_mass;
                cen->bulge_mass += old->stellar_mass;
                cen->cold_gas += old->cold_gas;
                cen->black_hole_mass += 0.01f * old->cold_gas + old->black_hole_mass;
                mm_free(old);
                f->work[slot] = NULL;
                f->totals->freed++;
                continue;
            }
            struct demo_galaxy *g = forest_new_galaxy(f);
            *g = *old;
            g->type = central ? 0 : 1;
            galaxy_follow_halo(g, halo, h);
            forest_push_galaxy(f, g);
        }
    }
    f->aux[h].first_galaxy = (int32_t)first;
    f->aux[h].ngalaxies = (int32_t)(f->nwork - first);
    f->aux[h].done = 1;
    for (size_t k = first; k < f->nwork; k++)
        modules_evolve(f, h, f->work[k]);
}

static void forest_flush(struct demo_forest *f)
{
    uint64_t hash = f->totals->checksum;
    for (size_t i = 0; i < f->io_used; i++) {
        hash ^= f->io_buffer[i];
        hash *= UINT64_C(0x100000001B3);
    }
    f->totals->checksum = hash;
    f->io_used = 0;
}

/* Writes the galaxies of each output snapshot, as Mimic does at the end of a
 * forest; order maps a workspace slot to its index in its snapshot's output. */
static void forest_write(struct demo_forest *f, struct demo_file *file, uint32_t in_file)
{
    int output_of_snap[DEMO_NSNAPS];
    int32_t written[DEMO_NOUTPUTS] = {0};
    for (int s = 0; s < DEMO_NSNAPS; s++)
        output_of_snap[s] = -1;
    for (int o = 0; o < DEMO_NOUTPUTS; o++)
        output_of_snap[demo_output_snaps[o]] = o;

    int32_t *order = demo_need(mm_context_malloc(f->ctx, (f->nwork + 1) * sizeof *order,
                                                 MM_CAT_IO), "output order");
    for (size_t k = 0; k < f->nwork; k++) {
        order[k] = -1;
        if (f->work[k] != NULL && output_of_snap[f->work[k]->snap] >= 0)
            order[k] = written[output_of_snap[f->work[k]->snap]]++;
    }
    f->io_buffer = demo_need(mm_context_malloc(f->ctx, DEMO_IO_BUFFER_BYTES, MM_CAT_IO),
                             "output buffer");
    f->io_used = 0;
    for (int o = 0; o < DEMO_NOUTPUTS; o++) {
        for (size_t k = 0; k < f->nwork; k++) {
            if (order[k] < 0 || f->work[k]->snap != demo_output_snaps[o])
                continue;
            struct demo_galaxy out = *f->work[k];
            out.central = order[f->aux[out.halo].first_galaxy];
            if (f->io_used + sizeof out > DEMO_IO_BUFFER_BYTES)
                forest_flush(f);
            memcpy(f->io_buffer + f->io_used, &out, sizeof out);
            f->io_used += sizeof out;
        }
        file->ngals[o][in_file] = written[o];
    }
    forest_flush(f);
}

/* One forest, start to finish, in the forest context; the caller resets it. */
static void forest_process(struct demo_forest *f, struct demo_file *file, uint32_t in_file)
{
    f->nhalos = file->nhalos[in_file];
    f->halos = demo_need(mm_context_malloc(f->ctx, (size_t)f->nhalos * sizeof *f->halos,
                                           MM_CAT_TREES), "halos");
    f->walk_order = demo_need(mm_context_malloc(f->ctx, (size_t)f->nhalos * sizeof(int32_t),
                                                MM_CAT_TREES), "walk order");
    f->aux = demo_need(mm_context_calloc(f->ctx, (size_t)f->nhalos, sizeof *f->aux, MM_CAT_HALOS),
                       "halo bookkeeping");
    f->work_capacity = DEMO_WORKSPACE_START;
    f->nwork = 0;
    f->work = demo_need(mm_context_malloc(f->ctx, f->work_capacity * sizeof *f->work,
                                          MM_CAT_HALOS), "galaxy workspace");

    forest_build_tree(f, (int32_t)(file->first_forest / DEMO_FORESTS_PER_FILE));
    forest_order_walk(f);
    modules_begin_forest(f);
    for (int32_t i = 0; i < f->nhalos; i++) {
        int32_t h = f->walk_order[i];
        f->aux[h].depth = i;
        forest_walk_halo(f, h);
    }
    forest_write(f, file, in_file);
    f->totals->halos += (uint64_t)f->nhalos;
}

/* ========================================================================
 * Tree files: per-file tables, allocated process-wide while the file is open
 * ====================================================================== */

static void file_open(struct demo_file *file, uint64_t first_forest, uint64_t forests_left,
                      demo_rng *sizes)
{
    file->first_forest = first_forest;
    file->nforests = forests_left < DEMO_FORESTS_PER_FILE ? (uint32_t)forests_left
                                                          : DEMO_FORESTS_PER_FILE;
    size_t bytes = file->nforests * sizeof(int32_t);
    file->nhalos = demo_need(mm_malloc(bytes, MM_CAT_TREES), "file table");
    file->first_halo = demo_need(mm_malloc(bytes, MM_CAT_TREES), "file table");
    for (int o = 0; o < DEMO_NOUTPUTS; o++)
        file->ngals[o] = demo_need(mm_calloc(file->nforests, sizeof(int32_t), MM_CAT_TREES),
                                   "file table");
    int32_t offset = 0;
    for (uint32_t i = 0; i < file->nforests; i++) {
        file->nhalos[i] = rng_forest_halos(sizes);
        file->first_halo[i] = offset;
        offset += file->nhalos[i];
    }
}

static void file_close(struct demo_file *file)
{
    for (int o = DEMO_NOUTPUTS - 1; o >= 0; o--)
        mm_free(file->ngals[o]);
    mm_free(file->first_halo);
    mm_free(file->nhalos);
    memset(file, 0, sizeof *file);
}

/* ========================================================================
 * Progress bar: on stderr, whenever stderr is a terminal (stdout may go to a
 * file: the report lands there and the bar stays on the screen)
 * ====================================================================== */

struct demo_progress {
    int enabled;                  /* 0 when stderr is not a terminal */
    uint64_t total;               /* forests in the run */
    double start;                 /* seconds, demo_now() */
    double last_draw;             /* seconds of the last redraw */
    int last_percent;             /* percent shown by the last redraw */
};

static int demo_stderr_is_terminal(void)
{
#ifdef DEMO_HAVE_ISATTY
    return isatty(STDERR_FILENO);
#else
    return 0;
#endif
}

static void progress_init(struct demo_progress *p, uint64_t total, double start)
{
    p->enabled = demo_stderr_is_terminal();
    p->total = total;
    p->start = start;
    p->last_draw = -1.0;
    p->last_percent = -1;
}

/* Redraws at most 20 times a second, and only when the figure moved. */
static void progress_update(struct demo_progress *p, uint64_t done)
{
    if (!p->enabled)
        return;
    int percent = (int)(done * 100u / p->total);
    double now = demo_now();
    if (done < p->total && (percent == p->last_percent || now - p->last_draw < 0.05))
        return;
    char bar[41];
    int filled = percent * 40 / 100;
    for (int i = 0; i < 40; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[40] = '\0';
    fprintf(stderr, "\r[%s] %3d%%  %" PRIu64 "/%" PRIu64 " forests  %.1f s", bar, percent, done,
            p->total, now - p->start);
    if (done == p->total)
        fputc('\n', stderr);
    fflush(stderr);
    p->last_draw = now;
    p->last_percent = percent;
}

/* ========================================================================
 * Options
 * ====================================================================== */

struct demo_options {
    uint64_t forests;             /* forests to process, > 0 */
    uint64_t seed;                /* any value */
    const char *json_path;        /* --json FILE, or NULL */
    const char *epochs_path;      /* --epochs FILE, or NULL */
};

static void demo_usage(FILE *out)
{
    fprintf(out,
            "Usage: " DEMO_NAME " [options]\n"
            "Processes synthetic merger-tree forests the way Mimic does, one forest at a\n"
            "time in a context reset between forests, then prints mimicmem's reports.\n"
            "\n"
            "Options:\n"
            "  --forests N    forests to process (default %u)\n"
            "  --seed S       random seed; a seed always gives the same run (default %u)\n"
            "  --json FILE    write the JSON report of the \"Forest\" context to FILE\n"
            "  --epochs FILE  log one line per forest to FILE: CSV, or JSON Lines when\n"
            "                 FILE ends in .jsonl\n"
            "  --help         print this help and exit\n"
            "\n"
            "A progress bar goes to stderr when stderr is a terminal.\n",
            DEMO_DEFAULT_FORESTS, DEMO_DEFAULT_SEED);
}

static int demo_usage_error(void)
{
    fprintf(stderr, "Try '" DEMO_NAME " --help' for more information.\n");
    return 2;
}

/* Decimal digits only: no sign, no blanks, no trailing text. Returns 1 on
 * success, 0 for a malformed number, -1 when it does not fit in 64 bits. */
static int parse_u64(const char *text, uint64_t *out)
{
    if (*text < '0' || *text > '9')
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || *end != '\0')
        return 0;
    if (errno == ERANGE)
        return -1;
    *out = (uint64_t)v;
    return 1;
}

/* Matches "--name VALUE" and "--name=VALUE"; returns 1 on a match and sets
 * *value (NULL when the value is missing). */
static int match_option(const char *name, int argc, char **argv, int *i, const char **value)
{
    const char *arg = argv[*i];
    size_t len = strlen(name);
    if (strncmp(arg, name, len) != 0)
        return 0;
    if (arg[len] == '=') {
        *value = arg + len + 1;
        return 1;
    }
    if (arg[len] != '\0')
        return 0;
    *value = *i + 1 < argc ? argv[++*i] : NULL;
    return 1;
}

/* Checks the value of a numeric option; prints the error and returns 0 when
 * it is missing, not a whole number, or zero where positive is required. */
static int number_option(const char *name, const char *value, int positive, uint64_t *out)
{
    uint64_t number = 0;
    if (value == NULL) {
        fprintf(stderr, "%s: option '%s' needs a value\n", DEMO_NAME, name);
        return 0;
    }
    int parsed = parse_u64(value, &number);
    if (parsed < 0) {
        fprintf(stderr, "%s: value '%s' for %s is too large\n", DEMO_NAME, value, name);
        return 0;
    }
    if (parsed == 0 || (positive && number == 0)) {
        fprintf(stderr, "%s: invalid value '%s' for %s: expected %s\n", DEMO_NAME, value, name,
                positive ? "a positive whole number" : "a whole number");
        return 0;
    }
    *out = number;
    return 1;
}

static int file_option(const char *name, const char *value, const char **out)
{
    if (value == NULL || *value == '\0') {
        fprintf(stderr, "%s: option '%s' needs a file name\n", DEMO_NAME, name);
        return 0;
    }
    *out = value;
    return 1;
}

/* Returns -1 to run, otherwise the exit status (0 after --help, 2 on error). */
static int parse_options(int argc, char **argv, struct demo_options *opt)
{
    opt->forests = DEMO_DEFAULT_FORESTS;
    opt->seed = DEMO_DEFAULT_SEED;
    opt->json_path = NULL;
    opt->epochs_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *value = NULL;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            demo_usage(stdout);
            return 0;
        }
        if (match_option("--forests", argc, argv, &i, &value)) {
            if (!number_option("--forests", value, 1, &opt->forests))
                return demo_usage_error();
        } else if (match_option("--seed", argc, argv, &i, &value)) {
            if (!number_option("--seed", value, 0, &opt->seed))
                return demo_usage_error();
        } else if (match_option("--json", argc, argv, &i, &value)) {
            if (!file_option("--json", value, &opt->json_path))
                return demo_usage_error();
        } else if (match_option("--epochs", argc, argv, &i, &value)) {
            if (!file_option("--epochs", value, &opt->epochs_path))
                return demo_usage_error();
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "%s: unknown option '%s'\n", DEMO_NAME, argv[i]);
            return demo_usage_error();
        } else {
            fprintf(stderr, "%s: unexpected argument '%s'\n", DEMO_NAME, argv[i]);
            return demo_usage_error();
        }
    }
    return -1;
}

static FILE *demo_open(const char *path, const char *what)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fprintf(stderr, "%s: cannot open %s file '%s': %s\n", DEMO_NAME, what, path,
                strerror(errno));
    return f;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* ========================================================================
 * The run
 * ====================================================================== */

int main(int argc, char **argv)
{
    struct demo_options opt;
    int status = parse_options(argc, argv, &opt);
    if (status >= 0)
        return status;

    FILE *json = NULL, *epochs = NULL;
    if (opt.json_path != NULL && (json = demo_open(opt.json_path, "JSON")) == NULL)
        return EXIT_FAILURE;
    if (opt.epochs_path != NULL && (epochs = demo_open(opt.epochs_path, "epoch log")) == NULL) {
        if (json != NULL)
            fclose(json);
        return EXIT_FAILURE;
    }

    /* Modules register their categories at start-up, as Mimic's modules would. */
    for (int m = 0; m < DEMO_NMODULES; m++) {
        demo_modules[m].cat = mm_category_register(demo_modules[m].name, "Physics Modules");
        if (demo_modules[m].cat == MM_CAT_INVALID) {
            fprintf(stderr, "%s: cannot register category '%s'\n", DEMO_NAME, demo_modules[m].name);
            return EXIT_FAILURE;
        }
    }

    /* Run-wide tables, process-wide: freed at the very end. */
    double *age = demo_need(mm_calloc(DEMO_AGE_SLOTS, sizeof(double), MM_CAT_UTILITY), "age table");
    for (int s = 0; s < DEMO_NSNAPS; s++)
        age[s] = 13.7 * pow((double)(s + 1) / DEMO_NSNAPS, 1.5);
    int *outputs = demo_need(mm_malloc(sizeof demo_output_snaps, MM_CAT_UTILITY), "output list");
    memcpy(outputs, demo_output_snaps, sizeof demo_output_snaps);

    mm_context *forest_ctx = demo_need(mm_context_create("Forest", NULL), "forest context");
    if (epochs != NULL)
        mm_context_set_epoch_log(forest_ctx, epochs,
                                 ends_with(opt.epochs_path, ".jsonl") ? MM_EPOCH_LOG_JSONL
                                                                      : MM_EPOCH_LOG_CSV);

    struct demo_totals totals = {0, 0, 0, UINT64_C(0xCBF29CE484222325)};
    struct demo_forest forest;
    memset(&forest, 0, sizeof forest);
    forest.ctx = forest_ctx;
    forest.age = age;
    forest.totals = &totals;

    demo_rng sizes = {opt.seed};
    struct demo_file file;
    memset(&file, 0, sizeof file);
    struct demo_progress progress;
    double start = demo_now();
    progress_init(&progress, opt.forests, start);

    for (uint64_t i = 0; i < opt.forests; i++) {
        if (i % DEMO_FORESTS_PER_FILE == 0)
            file_open(&file, i, opt.forests - i, &sizes);
        char label[32];
        snprintf(label, sizeof label, "Forest %" PRIu64, i);
        mm_context_set_label(forest_ctx, label);

        forest.index = i;
        forest.rng.state = opt.seed ^ (UINT64_C(0xD1B54A32D192ED03) * (i + 1));
        forest_process(&forest, &file, (uint32_t)(i - file.first_forest));

        /* Leaves the surviving galaxies, the arrays and the module contexts
         * to the reset: one call frees them all and closes the epoch. */
        mm_context_reset(forest_ctx);
        modules_end_forest(&forest);
        if (i + 1 == file.first_forest + file.nforests)
            file_close(&file);
        progress_update(&progress, i + 1);
    }
    double elapsed = demo_now() - start;

    /* The forest context's report: usage by module, the context tree and the
     * per-forest statistics that name the largest forest. */
    mm_report(stdout, forest_ctx, MM_REPORT_TEXT);
    if (json != NULL) {
        mm_report(json, forest_ctx, MM_REPORT_JSON);
        if (fclose(json) != 0) {
            fprintf(stderr, "%s: error writing '%s'\n", DEMO_NAME, opt.json_path);
            status = EXIT_FAILURE;
        }
    }
    mm_context_set_epoch_log(forest_ctx, NULL, MM_EPOCH_LOG_CSV);
    if (epochs != NULL && fclose(epochs) != 0) {
        fprintf(stderr, "%s: error writing '%s'\n", DEMO_NAME, opt.epochs_path);
        status = EXIT_FAILURE;
    }
    mm_context_destroy(forest_ctx);

    /* The process report adds the process-wide blocks (run-wide tables, the
     * per-file tables' peak) and the peak of everything together; printed
     * after the destroy so it does not repeat the forest context's tables. */
    printf("\n");
    mm_report(stdout, NULL, MM_REPORT_TEXT);
    mm_free(outputs);
    mm_free(age);

    printf("\n%s: %" PRIu64 " forests, seed %" PRIu64 ", %.2f s; %" PRIu64 " halos, %" PRIu64
           " galaxy copies, %.1f%% freed explicitly; checksum %016" PRIx64 "\n",
           DEMO_NAME, opt.forests, opt.seed, elapsed, totals.halos, totals.galaxies,
           totals.galaxies ? 100.0 * (double)totals.freed / (double)totals.galaxies : 0.0,
           totals.checksum);
    mm_stats left = mm_stats_total(NULL);
    if (left.blocks != 0) {
        fprintf(stderr, "%s: %zu blocks (%zu bytes) still allocated at exit\n", DEMO_NAME,
                left.blocks, left.bytes);
        status = EXIT_FAILURE;
    }
    return status < 0 ? EXIT_SUCCESS : status;
}
