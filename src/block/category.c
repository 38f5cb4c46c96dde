/* The category registry: the six built-ins with fixed ids in group "Core", and
 * categories registered by name at run time. Entries are written once and
 * never move, so readers need no lock; writers serialise on cat_lock. */
#include "block.h"

#include <string.h>

typedef struct {
    char name[MM_NAME_MAX + 1]; /* unique, non-empty */
    int group;                  /* index into cat_groups */
} cat_entry;

static mmi_lock cat_lock = MMI_LOCK_INIT(MMI_RANK_CATEGORIES, "categories");
static cat_entry cat_table[MM_CATEGORY_MAX] = {
    {"Unknown", 0}, {"Galaxies", 0}, {"Halos", 0}, {"Trees", 0}, {"IO", 0}, {"Utility", 0},
};
static char cat_groups[MM_CATEGORY_MAX][MM_NAME_MAX + 1] = {"Core"}; /* group names */
static _Atomic int cat_ngroups = 1;                                  /* groups in use */

_Atomic int mmi_ncat = MM_CAT_BUILTIN_COUNT;

/* Checks a name: returns its length, or 0 after reporting the error. */
static size_t cat_check_name(const char *s, const char *what) {
    if (s == NULL) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, NULL,
                  "mm_category_register: %s is NULL", what);
        return 0;
    }
    size_t n = strlen(s);
    if (n == 0 || n > MM_NAME_MAX) {
        mmi_error(MM_ERR_BAD_ARGUMENT, 0, MM_CAT_INVALID, NULL, NULL,
                  "mm_category_register: %s \"%.*s%s\" is %s (1 to %d bytes allowed)", what,
                  n > 40 ? 40 : (int)n, s, n > 40 ? "..." : "", n == 0 ? "empty" : "too long",
                  MM_NAME_MAX);
        return 0;
    }
    return n;
}

static int cat_find_locked(const char *name, int ncat) {
    for (int i = 0; i < ncat; i++)
        if (strcmp(cat_table[i].name, name) == 0) return i;
    return MM_CAT_INVALID;
}

mm_category mm_category_register(const char *name, const char *group) {
    mmi_first_use();
    if (cat_check_name(name, "name") == 0) return MM_CAT_INVALID;
    if (group == NULL || group[0] == '\0') group = "Other";
    if (cat_check_name(group, "group") == 0) return MM_CAT_INVALID;

    mmi_lock_take(&cat_lock);
    int ncat = atomic_load_explicit(&mmi_ncat, memory_order_relaxed);
    int id = cat_find_locked(name, ncat);
    if (id != MM_CAT_INVALID) {
        mmi_lock_drop(&cat_lock);
        return id;
    }
    if (ncat >= MM_CATEGORY_MAX) {
        mmi_lock_drop(&cat_lock);
        mmi_error(MM_ERR_REGISTRY_FULL, 0, MM_CAT_INVALID, NULL, NULL,
                  "cannot register \"%s\": all %d category slots are in use", name,
                  MM_CATEGORY_MAX);
        return MM_CAT_INVALID;
    }
    int ngroups = atomic_load_explicit(&cat_ngroups, memory_order_relaxed);
    int g = 0;
    while (g < ngroups && strcmp(cat_groups[g], group) != 0) g++;
    if (g == ngroups) {
        memcpy(cat_groups[g], group, strlen(group) + 1);
        atomic_store_explicit(&cat_ngroups, ngroups + 1, memory_order_release);
    }
    memcpy(cat_table[ncat].name, name, strlen(name) + 1);
    cat_table[ncat].group = g;
    atomic_store_explicit(&mmi_ncat, ncat + 1, memory_order_release);
    mmi_lock_drop(&cat_lock);
    return ncat;
}

mm_category mm_category_find(const char *name) {
    if (name == NULL) return MM_CAT_INVALID;
    mmi_lock_take(&cat_lock);
    int id = cat_find_locked(name, atomic_load_explicit(&mmi_ncat, memory_order_relaxed));
    mmi_lock_drop(&cat_lock);
    return id;
}

const char *mm_category_name(mm_category c) {
    if (!mmi_cat_valid(c)) {
        mmi_error_bad_category(c, 0, NULL, "mm_category_name");
        return NULL;
    }
    return cat_table[c].name;
}

const char *mm_category_group(mm_category c) {
    if (!mmi_cat_valid(c)) {
        mmi_error_bad_category(c, 0, NULL, "mm_category_group");
        return NULL;
    }
    return cat_groups[cat_table[c].group];
}

void mmi_error_bad_category(int cat, size_t size, const mm_context *ctx, const char *fn) {
    mmi_error(MM_ERR_BAD_CATEGORY, size, cat, NULL, ctx,
              "%d passed to %s (registered ids are 0..%d; register a category with "
              "mm_category_register first)",
              cat, fn, atomic_load(&mmi_ncat) - 1);
}

int mm_category_count(void) {
    return atomic_load_explicit(&mmi_ncat, memory_order_acquire);
}

const char *mmi_cat_name(int c) {
    return mmi_cat_valid(c) ? cat_table[c].name : "?";
}

int mmi_category_group_index(int c) {
    return mmi_cat_valid(c) ? cat_table[c].group : 0;
}

const char *mmi_group_name(int g) {
    return cat_groups[g];
}

int mmi_group_count(void) {
    return atomic_load_explicit(&cat_ngroups, memory_order_acquire);
}
