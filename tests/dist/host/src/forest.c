/* The host fixture's per-forest work: halos in MEM_HALOS, a scratch list
 * grown with myrealloc and moved with myrealloc_cat, all freed per forest. */
#include "util/memory.h"
#include "proto.h"

typedef struct {
    double mass; /* arbitrary units */
    int id;      /* halo number in its forest */
} halo;

double process_forest(int forest, int nhalos) {
    halo *halos = mymalloc_cat((size_t)nhalos * sizeof *halos, MEM_HALOS); /* SITE:halos */
    int *ids = mymalloc(4 * sizeof *ids);
    for (int i = 0; i < nhalos; i++) {
        halos[i].mass = 1.0 + forest + i;
        halos[i].id = i;
        if (i >= 4) ids = myrealloc(ids, (size_t)(i + 1) * sizeof *ids);
        ids[i] = halos[i].id;
    }
    ids = myrealloc_cat(ids, (size_t)nhalos * sizeof *ids, MEM_TREES);
    double sum = 0;
    for (int i = 0; i < nhalos; i++) sum += halos[ids[i]].mass;
    myfree(ids);
    myfree(halos);
    return sum;
}
