/* Unit tests for src/category.c: the built-in categories, registration
 * (idempotent by name, argument checks, the registry limit), lookups by name
 * and by id. Each Criterion test runs in its own process: a fresh registry. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mimicmem.h"
#include "mm_test.h"

static const char *const builtin_names[MM_CAT_BUILTIN_COUNT] = {
    "Unknown", "Galaxies", "Halos", "Trees", "IO", "Utility",
};

/* A string of exactly n 'x' bytes in buf (n < buflen). */
static const char *repeat_x(char *buf, size_t buflen, size_t n)
{
    cr_assert_lt(n, buflen, "the test buffer should hold %zu bytes plus the NUL", n);
    memset(buf, 'x', n);
    buf[n] = '\0';
    return buf;
}

/* ------------------------------------------------------------------------
 * Built-ins
 * ---------------------------------------------------------------------- */

Test(category, builtins_have_fixed_ids_and_names)
{
    cr_expect_eq(MM_CAT_UNKNOWN, 0, "MM_CAT_UNKNOWN should be 0");
    cr_expect_eq(MM_CAT_GALAXIES, 1, "MM_CAT_GALAXIES should be 1");
    cr_expect_eq(MM_CAT_HALOS, 2, "MM_CAT_HALOS should be 2");
    cr_expect_eq(MM_CAT_TREES, 3, "MM_CAT_TREES should be 3");
    cr_expect_eq(MM_CAT_IO, 4, "MM_CAT_IO should be 4");
    cr_expect_eq(MM_CAT_UTILITY, 5, "MM_CAT_UTILITY should be 5");
    for (int c = 0; c < MM_CAT_BUILTIN_COUNT; c++) {
        const char *name = mm_category_name(c);
        cr_expect_not_null(name, "built-in category %d should have a name", c);
        if (name != NULL) {
            cr_expect_str_eq(name, builtin_names[c], "built-in category %d should be named %s",
                             c, builtin_names[c]);
        }
    }
}

Test(category, builtins_are_in_group_core)
{
    for (int c = 0; c < MM_CAT_BUILTIN_COUNT; c++) {
        const char *group = mm_category_group(c);
        cr_expect_not_null(group, "built-in category %d should have a group", c);
        if (group != NULL) {
            cr_expect_str_eq(group, "Core", "built-in category %s should be in group Core",
                             builtin_names[c]);
        }
    }
}

Test(category, count_starts_at_the_six_builtins)
{
    cr_expect_eq(mm_category_count(), MM_CAT_BUILTIN_COUNT,
                 "a fresh process should have exactly the %d built-in categories",
                 MM_CAT_BUILTIN_COUNT);
}

Test(category, find_returns_the_ids_of_the_builtins)
{
    for (int c = 0; c < MM_CAT_BUILTIN_COUNT; c++) {
        cr_expect_eq(mm_category_find(builtin_names[c]), c,
                     "mm_category_find(\"%s\") should return %d", builtin_names[c], c);
    }
}

/* ------------------------------------------------------------------------
 * Registration
 * ---------------------------------------------------------------------- */

Test(category, register_returns_the_next_free_id)
{
    mm_category a = mm_category_register("Cooling", "Physics Modules");
    mm_category b = mm_category_register("Star Formation", "Physics Modules");
    cr_expect_eq(a, MM_CAT_BUILTIN_COUNT, "the first registered category should get id %d",
                 MM_CAT_BUILTIN_COUNT);
    cr_expect_eq(b, MM_CAT_BUILTIN_COUNT + 1, "the second registered category should get id %d",
                 MM_CAT_BUILTIN_COUNT + 1);
    cr_expect_eq(mm_category_count(), MM_CAT_BUILTIN_COUNT + 2,
                 "two registrations should raise the count to %d", MM_CAT_BUILTIN_COUNT + 2);
    cr_expect_str_eq(mm_category_name(a), "Cooling", "the new category should keep its name");
    cr_expect_str_eq(mm_category_group(a), "Physics Modules",
                     "the new category should keep its group");
    cr_expect_eq(mm_category_find("Star Formation"), b,
                 "mm_category_find should return the id of a registered category");
}

Test(category, register_of_an_existing_name_returns_the_same_id)
{
    mm_category a = mm_category_register("Cooling", "Physics Modules");
    mm_category again = mm_category_register("Cooling", "Physics Modules");
    cr_expect_eq(again, a, "registering Cooling twice should return its id %d, got %d", a, again);
    cr_expect_eq(mm_category_count(), MM_CAT_BUILTIN_COUNT + 1,
                 "registering a name twice should add one category, not two");
}

Test(category, register_of_a_builtin_name_returns_the_builtin_id)
{
    mm_category c = mm_category_register("Halos", "Somewhere Else");
    cr_expect_eq(c, MM_CAT_HALOS, "registering \"Halos\" should return MM_CAT_HALOS");
    cr_expect_str_eq(mm_category_group(MM_CAT_HALOS), "Core",
                     "re-registering a built-in should leave it in group Core");
    cr_expect_eq(mm_category_count(), MM_CAT_BUILTIN_COUNT,
                 "re-registering a built-in should not add a category");
}

Test(category, register_again_keeps_the_first_group)
{
    mm_category a = mm_category_register("Cooling", "Physics Modules");
    mm_category b = mm_category_register("Cooling", "Other Group");
    cr_expect_eq(b, a, "registering Cooling in another group should return the same id");
    cr_expect_str_eq(mm_category_group(a), "Physics Modules",
                     "the group given the first time should stay");
}

Test(category, register_with_a_null_group_puts_the_category_in_other)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_category c = mm_category_register("Loose", NULL);
    mmt_expect_no_error(&rec, "a NULL group is allowed");
    cr_expect_eq(c, MM_CAT_BUILTIN_COUNT, "a NULL group should still register the category");
    if (c != MM_CAT_INVALID) {
        cr_expect_str_eq(mm_category_group(c), "Other", "a NULL group should mean \"Other\"");
    }
}

Test(category, register_with_an_empty_group_puts_the_category_in_other)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_category c = mm_category_register("Loose", "");
    mmt_expect_no_error(&rec, "an empty group is allowed");
    cr_expect_eq(c, MM_CAT_BUILTIN_COUNT, "an empty group should still register the category");
    if (c != MM_CAT_INVALID) {
        cr_expect_str_eq(mm_category_group(c), "Other", "an empty group should mean \"Other\"");
    }
}

Test(category, register_with_a_null_name_is_a_bad_argument)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_category c = mm_category_register(NULL, "Physics Modules");
    cr_expect_eq(c, MM_CAT_INVALID, "a NULL name should return MM_CAT_INVALID");
    mmt_expect_one_error(&rec, MM_ERR_BAD_ARGUMENT, "a NULL name");
    cr_expect_eq(mm_category_count(), MM_CAT_BUILTIN_COUNT,
                 "a rejected registration should not add a category");
}

Test(category, register_with_an_empty_name_is_a_bad_argument)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_category c = mm_category_register("", "Physics Modules");
    cr_expect_eq(c, MM_CAT_INVALID, "an empty name should return MM_CAT_INVALID");
    mmt_expect_one_error(&rec, MM_ERR_BAD_ARGUMENT, "an empty name");
    cr_expect_eq(mm_category_count(), MM_CAT_BUILTIN_COUNT,
                 "a rejected registration should not add a category");
}

Test(category, register_with_an_over_long_name_is_a_bad_argument)
{
    char name[MM_NAME_MAX + 2];
    mmt_recorder rec;
    mmt_record_errors(&rec);
    repeat_x(name, sizeof name, MM_NAME_MAX + 1);
    mm_category c = mm_category_register(name, "Physics Modules");
    cr_expect_eq(c, MM_CAT_INVALID, "a %d-byte name should return MM_CAT_INVALID",
                 MM_NAME_MAX + 1);
    mmt_expect_one_error(&rec, MM_ERR_BAD_ARGUMENT, "a name one byte over MM_NAME_MAX");
    cr_expect_eq(mm_category_count(), MM_CAT_BUILTIN_COUNT,
                 "a rejected registration should not add a category");
    cr_expect_eq(mm_category_find(name), MM_CAT_INVALID,
                 "a rejected name should not be found afterwards");
}

Test(category, register_accepts_a_name_of_exactly_name_max_bytes)
{
    char name[MM_NAME_MAX + 1];
    mmt_recorder rec;
    mmt_record_errors(&rec);
    repeat_x(name, sizeof name, MM_NAME_MAX);
    mm_category c = mm_category_register(name, "Physics Modules");
    mmt_expect_no_error(&rec, "a name of exactly MM_NAME_MAX bytes is allowed");
    cr_expect_eq(c, MM_CAT_BUILTIN_COUNT, "a %d-byte name should register", MM_NAME_MAX);
    if (c != MM_CAT_INVALID) {
        cr_expect_str_eq(mm_category_name(c), name, "the %d-byte name should be kept whole",
                         MM_NAME_MAX);
    }
}

Test(category, register_with_an_over_long_group_is_a_bad_argument)
{
    char group[MM_NAME_MAX + 2];
    mmt_recorder rec;
    mmt_record_errors(&rec);
    repeat_x(group, sizeof group, MM_NAME_MAX + 1);
    mm_category c = mm_category_register("Cooling", group);
    cr_expect_eq(c, MM_CAT_INVALID, "a %d-byte group should return MM_CAT_INVALID",
                 MM_NAME_MAX + 1);
    mmt_expect_one_error(&rec, MM_ERR_BAD_ARGUMENT, "a group one byte over MM_NAME_MAX");
    cr_expect_eq(mm_category_find("Cooling"), MM_CAT_INVALID,
                 "a category rejected for its group should not be registered");
}

Test(category, register_accepts_a_group_of_exactly_name_max_bytes)
{
    char group[MM_NAME_MAX + 1];
    mmt_recorder rec;
    mmt_record_errors(&rec);
    repeat_x(group, sizeof group, MM_NAME_MAX);
    mm_category c = mm_category_register("Cooling", group);
    mmt_expect_no_error(&rec, "a group of exactly MM_NAME_MAX bytes is allowed");
    cr_expect_eq(c, MM_CAT_BUILTIN_COUNT, "a %d-byte group should register", MM_NAME_MAX);
    if (c != MM_CAT_INVALID) {
        cr_expect_str_eq(mm_category_group(c), group, "the %d-byte group should be kept whole",
                         MM_NAME_MAX);
    }
}

Test(category, register_copies_the_name_and_the_group)
{
    char name[16] = "Cooling";
    char group[32] = "Physics Modules";
    mm_category c = mm_category_register(name, group);
    strcpy(name, "Changed");
    strcpy(group, "Changed too");
    cr_expect_str_eq(mm_category_name(c), "Cooling",
                     "the registry should keep its own copy of the name");
    cr_expect_str_eq(mm_category_group(c), "Physics Modules",
                     "the registry should keep its own copy of the group");
    cr_expect_eq(mm_category_find("Cooling"), c, "the copied name should still be found");
}

Test(category, names_stay_valid_while_the_registry_grows)
{
    mm_category first = mm_category_register("First", "Early");
    const char *name = mm_category_name(first);
    const char *group = mm_category_group(first);
    const char *builtin = mm_category_name(MM_CAT_HALOS);
    char buf[32];
    for (int i = 0; i < 900; i++) {
        snprintf(buf, sizeof buf, "grow%03d", i);
        cr_assert_neq(mm_category_register(buf, "Growth"), MM_CAT_INVALID,
                      "registration %d of 900 should succeed", i);
    }
    cr_expect_str_eq(name, "First", "a name returned earlier should live as long as the process");
    cr_expect_str_eq(group, "Early", "a group returned earlier should live as long as the process");
    cr_expect_str_eq(builtin, "Halos", "a built-in name should live as long as the process");
}

Test(category, a_registered_category_accepts_allocations)
{
    mm_category c = mm_category_register("Cooling", "Physics Modules");
    void *p = mm_malloc(100, c);
    cr_assert_not_null(p, "mm_malloc in a registered category should succeed");
    cr_expect_eq(mm_block_category(p), c, "the block should belong to the registered category");
    mmt_expect_category(c, 100, 100, 1, 1, 0, "Cooling after one 100-byte block");
    mm_free(p);
    mmt_expect_category(c, 0, 100, 0, 1, 1, "Cooling after freeing its block");
}

/* ------------------------------------------------------------------------
 * Registry limit
 * ---------------------------------------------------------------------- */

static void fill_registry(void)
{
    char buf[32];
    for (int i = MM_CAT_BUILTIN_COUNT; i < MM_CATEGORY_MAX; i++) {
        snprintf(buf, sizeof buf, "fill%04d", i);
        mm_category c = mm_category_register(buf, "Filler");
        cr_assert_eq(c, i, "registration of %s should return id %d, got %d", buf, i, c);
    }
}

Test(category, registry_holds_exactly_category_max_categories)
{
    fill_registry();
    cr_expect_eq(mm_category_count(), MM_CATEGORY_MAX,
                 "the registry should hold %d categories, built-ins included", MM_CATEGORY_MAX);
    cr_expect_str_eq(mm_category_name(MM_CATEGORY_MAX - 1), "fill1023",
                     "the last slot should hold the last name registered");
}

Test(category, register_on_a_full_registry_is_registry_full)
{
    fill_registry();
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_category c = mm_category_register("One Too Many", "Filler");
    cr_expect_eq(c, MM_CAT_INVALID, "registering on a full registry should return MM_CAT_INVALID");
    mmt_expect_one_error(&rec, MM_ERR_REGISTRY_FULL, "registering on a full registry");
    cr_expect_eq(mm_category_count(), MM_CATEGORY_MAX, "a full registry should stay at %d",
                 MM_CATEGORY_MAX);
    cr_expect_eq(mm_category_find("One Too Many"), MM_CAT_INVALID,
                 "a category refused for lack of room should not be found");
}

Test(category, register_of_an_existing_name_succeeds_on_a_full_registry)
{
    fill_registry();
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_eq(mm_category_register("fill0500", "Filler"), 500,
                 "an existing name should return its id even when the registry is full");
    cr_expect_eq(mm_category_register("Trees", NULL), MM_CAT_TREES,
                 "a built-in name should return its id even when the registry is full");
    mmt_expect_no_error(&rec, "re-registering existing names on a full registry");
}

/* ------------------------------------------------------------------------
 * Lookups
 * ---------------------------------------------------------------------- */

Test(category, find_of_an_unregistered_name_returns_invalid_without_an_error)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_eq(mm_category_find("Nope"), MM_CAT_INVALID,
                 "an unregistered name should give MM_CAT_INVALID");
    cr_expect_eq(mm_category_find(""), MM_CAT_INVALID, "the empty name should give MM_CAT_INVALID");
    mmt_expect_no_error(&rec, "mm_category_find is never an error");
}

Test(category, find_of_a_null_name_returns_invalid_without_an_error)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_eq(mm_category_find(NULL), MM_CAT_INVALID, "a NULL name should give MM_CAT_INVALID");
    mmt_expect_no_error(&rec, "mm_category_find is never an error");
}

Test(category, name_of_an_id_past_the_count_is_a_bad_category)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    int id = mm_category_count();
    cr_expect_null(mm_category_name(id), "mm_category_name(%d) should return NULL", id);
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_category_name of the id equal to count");
    cr_expect_null(mm_category_name(MM_CATEGORY_MAX + 5),
                   "mm_category_name of an id past the registry should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_category_name past the registry");
}

Test(category, name_of_a_negative_id_is_a_bad_category)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_category_name(-1), "mm_category_name(-1) should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_category_name(-1)");
    cr_expect_null(mm_category_name(-1000), "mm_category_name(-1000) should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_category_name(-1000)");
}

Test(category, group_of_an_id_past_the_count_is_a_bad_category)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    int id = mm_category_count();
    cr_expect_null(mm_category_group(id), "mm_category_group(%d) should return NULL", id);
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_category_group of the id equal to count");
}

Test(category, group_of_a_negative_id_is_a_bad_category)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_category_group(-1), "mm_category_group(-1) should return NULL");
    mmt_expect_one_error(&rec, MM_ERR_BAD_CATEGORY, "mm_category_group(-1)");
}

Test(category, a_bad_category_error_names_the_id)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    (void)mm_category_name(77);
    cr_expect_eq(rec.count, 1, "mm_category_name(77) should report one error");
    cr_expect_eq(rec.category, 77, "the error should carry the bad id 77, got %d", rec.category);
    cr_expect(strstr(rec.message, "unknown category") != NULL,
              "the message should say \"unknown category\": %s", rec.message);
}

/* ------------------------------------------------------------------------
 * The same failures under the default handler
 * ---------------------------------------------------------------------- */

static void child_register_null_name(void *arg)
{
    (void)arg;
    (void)mm_category_register(NULL, "Physics Modules");
}

static void child_register_over_long_name(void *arg)
{
    (void)arg;
    char name[MM_NAME_MAX + 2];
    memset(name, 'y', MM_NAME_MAX + 1);
    name[MM_NAME_MAX + 1] = '\0';
    (void)mm_category_register(name, "Physics Modules");
}

static void child_register_on_full_registry(void *arg)
{
    (void)arg;
    char buf[32];
    for (int i = MM_CAT_BUILTIN_COUNT; i < MM_CATEGORY_MAX; i++) {
        snprintf(buf, sizeof buf, "fill%04d", i);
        if (mm_category_register(buf, "Filler") != i) _Exit(3);
    }
    (void)mm_category_register("One Too Many", "Filler");
}

static void child_name_of_unknown_id(void *arg)
{
    (void)arg;
    (void)mm_category_name(4321);
}

MMT_DEATH_TEST(category, default_handler_aborts_on_a_null_name,
               child_register_null_name, "mimicmem: ")

MMT_DEATH_TEST(category, default_handler_aborts_on_an_over_long_name,
               child_register_over_long_name, "mimicmem: ")

MMT_DEATH_TEST(category, default_handler_aborts_on_a_full_registry,
               child_register_on_full_registry, "mimicmem: ")

MMT_DEATH_TEST(category, default_handler_aborts_on_the_name_of_an_unknown_id,
               child_name_of_unknown_id, "unknown category")
