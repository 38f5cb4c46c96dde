/* Unit tests for src/error.c: the mm_error each failure fills (kind, size,
 * category, pointer, context, message), the handler and its user pointer,
 * mm_error_kind_name, and every fatal path a second time under the default
 * handler in a child process (SIGABRT and the message on stderr). */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mimicmem.h"
#include "mm_test.h"

#define OOM_BYTES ((size_t)1 << 47) /* 128.0 TB: refused by the system, fits a header */

static _Alignas(max_align_t) unsigned char foreign_static[256];

#define expect_contains(text, phrase, what)                                              \
    cr_expect(strstr((text), (phrase)) != NULL, "%s should contain \"%s\"; it was: %s", \
              (what), (phrase), (text))

#define expect_starts_with_mimicmem(text, what)                                      \
    cr_expect(strncmp((text), "mimicmem: ", 10) == 0,                               \
              "%s should start with \"mimicmem: \"; it was: %s", (what), (text))

/* ------------------------------------------------------------------------
 * The handler
 * ---------------------------------------------------------------------- */

static void *seen_user;
static int seen_calls;

static void user_handler(const mm_error *err, void *user)
{
    (void)err;
    seen_user = user;
    seen_calls++;
}

Test(errors, the_handler_receives_the_user_pointer)
{
    int token = 0;
    mm_set_error_handler(user_handler, &token);
    cr_expect_null(mm_malloc(SIZE_MAX, MM_CAT_HALOS), "the failing call should return NULL");
    cr_expect_eq(seen_calls, 1, "the handler should be called once, was called %d times",
                 seen_calls);
    cr_expect_eq(seen_user, &token, "the handler should receive the user pointer given");
}

Test(errors, a_new_handler_replaces_the_old_one)
{
    mmt_recorder first, second;
    mmt_record_errors(&first);
    mmt_record_errors(&second);
    cr_expect_null(mm_malloc(8, -1), "the failing call should return NULL");
    cr_expect_eq(first.count, 0, "the replaced handler should not be called");
    cr_expect_eq(second.count, 1, "the current handler should be called once");
}

Test(errors, a_handler_that_returns_lets_the_library_carry_on)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_malloc(OOM_BYTES, MM_CAT_HALOS), "the refused call should return NULL");
    void *p = mm_malloc(32, MM_CAT_HALOS);
    cr_expect_not_null(p, "an allocation after a failure should succeed");
    cr_expect(mm_validate(p), "the new block should validate");
    mmt_expect_category(MM_CAT_HALOS, 32, 32, 1, 1, 0,
                        "Halos counts only the allocation that succeeded");
    mm_free(p);
    cr_expect_eq(rec.count, 1, "only the refused call should report an error");
}

/* ------------------------------------------------------------------------
 * What each failure reports, in-process
 * ---------------------------------------------------------------------- */

Test(errors, out_of_memory_reports_the_size_the_category_and_a_full_message)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_malloc(OOM_BYTES, MM_CAT_HALOS), "mm_malloc(2^47) should return NULL");
    cr_assert_eq(rec.count, 1, "one error should be reported");
    cr_expect_eq(rec.kind, MM_ERR_OUT_OF_MEMORY, "the kind should be out of memory, got %s",
                 mm_error_kind_name(rec.kind));
    cr_expect_eq(rec.size, OOM_BYTES, "the size should be the %zu bytes requested", OOM_BYTES);
    cr_expect_eq(rec.category, MM_CAT_HALOS, "the category should be Halos");
    cr_expect_null(rec.ptr, "no pointer is involved in a malloc failure");
    cr_expect_null(rec.context, "no context is involved in a process-wide malloc");
    cr_expect_eq(rec.message_null, 0, "the message should not be NULL");
    expect_starts_with_mimicmem(rec.message, "the out-of-memory message");
    expect_contains(rec.message, "out of memory", "the out-of-memory message");
    expect_contains(rec.message, "128.0 TB", "the out-of-memory message");
    expect_contains(rec.message, "(140737488355328 bytes)", "the out-of-memory message");
    expect_contains(rec.message, "for category \"Halos\"", "the out-of-memory message");
}

Test(errors, out_of_memory_in_a_registered_category_names_it)
{
    mmt_recorder rec;
    mm_category cool = mm_category_register("Cooling", "Physics Modules");
    mmt_record_errors(&rec);
    cr_expect_null(mm_calloc(OOM_BYTES / 4, 4, cool), "the refused calloc should return NULL");
    cr_assert_eq(rec.count, 1, "one error should be reported");
    cr_expect_eq(rec.kind, MM_ERR_OUT_OF_MEMORY, "the kind should be out of memory");
    cr_expect_eq(rec.category, cool, "the category should be Cooling (%d)", cool);
    expect_contains(rec.message, "for category \"Cooling\"", "the out-of-memory message");
}

Test(errors, a_refused_resize_reports_the_new_size_and_the_block)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    void *p = mm_malloc(10, MM_CAT_TREES);
    cr_assert_not_null(p, "mm_malloc(10) should succeed");
    cr_expect_null(mm_realloc(p, OOM_BYTES), "the refused resize should return NULL");
    cr_assert_eq(rec.count, 1, "one error should be reported");
    cr_expect_eq(rec.kind, MM_ERR_OUT_OF_MEMORY, "the kind should be out of memory");
    cr_expect_eq(rec.size, OOM_BYTES, "the size should be the new size asked for");
    cr_expect_eq(rec.category, MM_CAT_TREES, "the category should be the block's, Trees");
    expect_contains(rec.message, "for category \"Trees\"", "the out-of-memory message");
    mm_free(p);
}

Test(errors, size_overflow_reports_the_size_and_the_category)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_malloc(SIZE_MAX, MM_CAT_TREES), "mm_malloc(SIZE_MAX) should return NULL");
    cr_assert_eq(rec.count, 1, "one error should be reported");
    cr_expect_eq(rec.kind, MM_ERR_SIZE_OVERFLOW, "the kind should be size overflow, got %s",
                 mm_error_kind_name(rec.kind));
    cr_expect_eq(rec.size, SIZE_MAX, "the size should be SIZE_MAX");
    cr_expect_eq(rec.category, MM_CAT_TREES, "the category should be Trees");
    cr_expect_null(rec.ptr, "no pointer is involved");
    expect_starts_with_mimicmem(rec.message, "the size-overflow message");
    expect_contains(rec.message, "size overflow", "the size-overflow message");
}

Test(errors, calloc_overflow_is_reported_as_a_size_overflow)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_calloc(SIZE_MAX / 2, 3, MM_CAT_IO), "the overflowing calloc should fail");
    cr_assert_eq(rec.count, 1, "one error should be reported");
    cr_expect_eq(rec.kind, MM_ERR_SIZE_OVERFLOW, "the kind should be size overflow");
    cr_expect_eq(rec.category, MM_CAT_IO, "the category should be IO");
    expect_contains(rec.message, "size overflow", "the calloc overflow message");
}

Test(errors, an_unknown_category_reports_the_bad_id_and_the_size)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_malloc(24, 600), "mm_malloc in category 600 should return NULL");
    cr_assert_eq(rec.count, 1, "one error should be reported");
    cr_expect_eq(rec.kind, MM_ERR_BAD_CATEGORY, "the kind should be bad category, got %s",
                 mm_error_kind_name(rec.kind));
    cr_expect_eq(rec.category, 600, "the category should be the bad id 600, got %d",
                 rec.category);
    cr_expect_eq(rec.size, 24, "the size should be the 24 bytes requested");
    cr_expect_null(rec.ptr, "no pointer is involved");
    expect_starts_with_mimicmem(rec.message, "the bad-category message");
    expect_contains(rec.message, "unknown category", "the bad-category message");
}

Test(errors, a_bad_pointer_reports_the_pointer_in_the_message)
{
    mmt_recorder rec;
    char printed[64];
    void *p = foreign_static + 64;
    snprintf(printed, sizeof printed, "%p", p);
    mmt_record_errors(&rec);
    mm_free(p);
    cr_assert_eq(rec.count, 1, "one error should be reported");
    cr_expect_eq(rec.kind, MM_ERR_BAD_POINTER, "the kind should be bad pointer, got %s",
                 mm_error_kind_name(rec.kind));
    cr_expect_eq(rec.ptr, p, "the pointer should be the one passed to mm_free");
    cr_expect_eq(rec.size, 0, "no size is involved in a free");
    cr_expect_null(rec.context, "no context is known for a foreign pointer");
    expect_starts_with_mimicmem(rec.message, "the bad-pointer message");
    expect_contains(rec.message, "bad pointer", "the bad-pointer message");
    expect_contains(rec.message, printed, "the bad-pointer message");
}

Test(errors, a_damaged_header_is_reported_as_a_bad_pointer)
{
    mmt_recorder rec;
    char printed[64];
    mmt_record_errors(&rec);
    unsigned char *p = mm_malloc(16, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_malloc(16) should succeed");
    snprintf(printed, sizeof printed, "%p", (void *)p);
    p[-1] ^= 0x40;
    mm_free(p);
    cr_assert_eq(rec.count, 1, "one error should be reported");
    cr_expect_eq(rec.kind, MM_ERR_BAD_POINTER, "the kind should be bad pointer");
    cr_expect_eq(rec.ptr, p, "the pointer should be the damaged block");
    expect_contains(rec.message, "bad pointer", "the damaged-header message");
    expect_contains(rec.message, printed, "the damaged-header message");
    p[-1] ^= 0x40;
    mm_free(p);
}

Test(errors, a_double_free_reports_the_pointer_the_category_and_the_context)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_context *ctx = mmt_context("t", NULL);
    void *p = mmt_freed_block(ctx, 48, MM_CAT_HALOS);
    cr_expect_eq(rec.count, 0, "the first free should not be an error");
    mm_free(p);
    cr_assert_eq(rec.count, 1, "the second free should report one error");
    cr_expect_eq(rec.kind, MM_ERR_DOUBLE_FREE, "the kind should be double free, got %s",
                 mm_error_kind_name(rec.kind));
    cr_expect_eq(rec.ptr, p, "the pointer should be the freed block");
    cr_expect_eq(rec.category, MM_CAT_HALOS, "the category should be Halos");
    cr_expect_eq(rec.context, ctx, "the context should be the block's context");
    expect_starts_with_mimicmem(rec.message, "the double-free message");
    expect_contains(rec.message, "double free", "the double-free message");
    expect_contains(rec.message, "\"Halos\"", "the double-free message");
    mm_context_destroy(ctx);
}

Test(errors, a_bad_argument_is_reported_with_a_message)
{
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_null(mm_strdup(NULL, MM_CAT_IO), "mm_strdup(NULL) should return NULL");
    cr_assert_eq(rec.count, 1, "one error should be reported");
    cr_expect_eq(rec.kind, MM_ERR_BAD_ARGUMENT, "the kind should be bad argument, got %s",
                 mm_error_kind_name(rec.kind));
    cr_expect_null(rec.ptr, "no pointer is involved");
    expect_starts_with_mimicmem(rec.message, "the bad-argument message");
}

Test(errors, registry_full_is_reported_with_a_message)
{
    char name[32];
    for (int i = MM_CAT_BUILTIN_COUNT; i < MM_CATEGORY_MAX; i++) {
        snprintf(name, sizeof name, "c%d", i);
        cr_assert_eq(mm_category_register(name, "G"), i, "registering %s should succeed", name);
    }
    mmt_recorder rec;
    mmt_record_errors(&rec);
    cr_expect_eq(mm_category_register("extra", "G"), MM_CAT_INVALID,
                 "registering on a full registry should fail");
    cr_assert_eq(rec.count, 1, "one error should be reported");
    cr_expect_eq(rec.kind, MM_ERR_REGISTRY_FULL, "the kind should be registry full, got %s",
                 mm_error_kind_name(rec.kind));
    expect_starts_with_mimicmem(rec.message, "the registry-full message");
}

/* ------------------------------------------------------------------------
 * mm_error_kind_name
 * ---------------------------------------------------------------------- */

Test(errors, kind_names_are_short_and_distinct)
{
    const mm_error_kind kinds[] = {
        MM_ERR_NONE, MM_ERR_OUT_OF_MEMORY, MM_ERR_SIZE_OVERFLOW, MM_ERR_BAD_CATEGORY,
        MM_ERR_BAD_POINTER, MM_ERR_DOUBLE_FREE, MM_ERR_BAD_CONTEXT, MM_ERR_REGISTRY_FULL,
        MM_ERR_BAD_ARGUMENT, MM_ERR_OVERRUN, MM_ERR_LIMIT,
    };
    const size_t n = sizeof kinds / sizeof kinds[0];
    for (size_t i = 0; i < n; i++) {
        const char *a = mm_error_kind_name(kinds[i]);
        cr_assert_not_null(a, "kind %d should have a name", (int)kinds[i]);
        cr_expect_gt(strlen(a), 0, "the name of kind %d should not be empty", (int)kinds[i]);
        for (size_t j = 0; j < i; j++) {
            cr_expect_str_neq(a, mm_error_kind_name(kinds[j]),
                              "kinds %d and %d should have different names", (int)kinds[i],
                              (int)kinds[j]);
        }
    }
}

Test(errors, kind_names_match_the_documented_examples)
{
    cr_expect_str_eq(mm_error_kind_name(MM_ERR_OUT_OF_MEMORY), "out of memory",
                     "MM_ERR_OUT_OF_MEMORY should be named \"out of memory\"");
    cr_expect_str_eq(mm_error_kind_name(MM_ERR_DOUBLE_FREE), "double free",
                     "MM_ERR_DOUBLE_FREE should be named \"double free\"");
}

/* ------------------------------------------------------------------------
 * The default handler: print, then abort (in a child process)
 * ---------------------------------------------------------------------- */

static void child_out_of_memory(void *arg)
{
    (void)arg;
    (void)mm_malloc(OOM_BYTES, MM_CAT_HALOS);
}

static void child_realloc_out_of_memory(void *arg)
{
    (void)arg;
    void *p = mm_malloc(10, MM_CAT_TREES);
    (void)mm_realloc(p, OOM_BYTES);
}

static void child_size_overflow(void *arg)
{
    (void)arg;
    (void)mm_malloc(SIZE_MAX, MM_CAT_HALOS);
}

static void child_calloc_overflow(void *arg)
{
    (void)arg;
    (void)mm_calloc(SIZE_MAX / 2, 3, MM_CAT_HALOS);
}

static void child_unknown_category(void *arg)
{
    (void)arg;
    (void)mm_malloc(16, 777);
}

static void child_negative_category(void *arg)
{
    (void)arg;
    (void)mm_malloc(16, -5);
}

static void child_bad_pointer(void *arg) { mm_free(arg); }

static void child_damaged_header(void *arg)
{
    (void)arg;
    unsigned char *p = mm_malloc(16, MM_CAT_HALOS);
    if (p == NULL) _Exit(3);
    p[-4] ^= 0x01;
    mm_free(p);
}

static void child_double_free_context(void *arg)
{
    (void)arg;
    mm_context *ctx = mm_context_create("t", NULL);
    if (ctx == NULL) _Exit(3);
    void *p = mm_context_malloc(ctx, 32, MM_CAT_HALOS);
    mm_free(p);
    mm_free(p);
}

static void child_double_free_process(void *arg)
{
    (void)arg;
    void *p = mm_malloc(32, MM_CAT_HALOS);
    mm_free(p);
    mm_free(p);
}

static void child_strdup_null(void *arg)
{
    (void)arg;
    (void)mm_strdup(NULL, MM_CAT_IO);
}

static void child_restored_default(void *arg)
{
    (void)arg;
    mmt_recorder rec;
    mmt_record_errors(&rec);
    mm_set_error_handler(NULL, NULL);
    (void)mm_malloc(SIZE_MAX, MM_CAT_HALOS);
    _Exit(rec.count == 0 ? 4 : 5); /* only reached if the call returned */
}

Test(errors, default_handler_aborts_on_out_of_memory_naming_size_and_category)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(child_out_of_memory, NULL, "out of memory", msg);
    expect_contains(msg, "128.0 TB", "the out-of-memory message");
    expect_contains(msg, "(140737488355328 bytes)", "the out-of-memory message");
    expect_contains(msg, "for category \"Halos\"", "the out-of-memory message");
}

Test(errors, default_handler_aborts_on_a_refused_resize)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(child_realloc_out_of_memory, NULL, "out of memory", msg);
    expect_contains(msg, "(140737488355328 bytes)", "the out-of-memory message");
    expect_contains(msg, "for category \"Trees\"", "the out-of-memory message");
}

MMT_DEATH_TEST(errors, default_handler_aborts_on_a_size_overflow,
               child_size_overflow, "size overflow")

MMT_DEATH_TEST(errors, default_handler_aborts_on_a_calloc_overflow,
               child_calloc_overflow, "size overflow")

MMT_DEATH_TEST(errors, default_handler_aborts_on_an_unknown_category,
               child_unknown_category, "unknown category")

MMT_DEATH_TEST(errors, default_handler_aborts_on_a_negative_category,
               child_negative_category, "unknown category")

Test(errors, default_handler_aborts_on_a_bad_pointer_and_prints_it)
{
    char msg[MMT_MESSAGE_MAX];
    char printed[64];
    void *p = foreign_static + 64;
    snprintf(printed, sizeof printed, "%p", p);
    mmt_expect_death(child_bad_pointer, p, "bad pointer", msg);
    expect_contains(msg, printed, "the bad-pointer message");
}

MMT_DEATH_TEST(errors, default_handler_aborts_on_a_damaged_header,
               child_damaged_header, "bad pointer")

Test(errors, default_handler_aborts_on_a_double_free_naming_the_category)
{
    char msg[MMT_MESSAGE_MAX];
    mmt_expect_death(child_double_free_context, NULL, "double free", msg);
    expect_contains(msg, "\"Halos\"", "the double-free message");
}

Test(errors, default_handler_aborts_on_a_double_free_of_a_process_block)
{
    if (mmt_use_after_free_is_checked()) {
        cr_skip_test("a second free of a process block reads freed memory, which the "
                     "sanitizer or Valgrind would flag");
    }
    static mmt_death d;
    char msg[MMT_MESSAGE_MAX] = "";
    mmt_run_child(child_double_free_process, NULL, &d);
    cr_expect_eq(d.signal, SIGABRT, "the second free should abort, child ended with signal %d, "
                 "status %d; stderr:\n%s", d.signal, d.exit_status, d.text);
    cr_expect(mmt_death_message(&d, msg, sizeof msg), "a mimicmem message should be printed: %s",
              d.text);
    cr_expect(strstr(msg, "double free") != NULL || strstr(msg, "bad pointer") != NULL,
              "the message should say double free or bad pointer: %s", msg);
}

MMT_DEATH_TEST(errors, default_handler_aborts_on_strdup_of_null, child_strdup_null, "mimicmem: ")

MMT_DEATH_TEST(errors, setting_a_null_handler_restores_the_default,
               child_restored_default, "size overflow")

/* The same, inside Criterion's own test process: the test passes only if the
 * process dies of SIGABRT. stderr is captured so the log stays readable. */

Test(errors, out_of_memory_under_the_default_handler_raises_sigabrt, .signal = SIGABRT,
     .init = cr_redirect_stderr)
{
    mm_set_error_handler(NULL, NULL);
    (void)mm_malloc(OOM_BYTES, MM_CAT_HALOS);
    cr_assert_fail("mm_malloc(2^47) should not return under the default handler");
}

Test(errors, a_bad_pointer_under_the_default_handler_raises_sigabrt, .signal = SIGABRT,
     .init = cr_redirect_stderr)
{
    mm_set_error_handler(NULL, NULL);
    mm_free(foreign_static + 64);
    cr_assert_fail("mm_free of a foreign pointer should not return under the default handler");
}

Test(errors, a_double_free_under_the_default_handler_raises_sigabrt, .signal = SIGABRT,
     .init = cr_redirect_stderr)
{
    mm_set_error_handler(NULL, NULL);
    mm_context *ctx = mmt_context("t", NULL);
    void *p = mm_context_malloc(ctx, 32, MM_CAT_HALOS);
    cr_assert_not_null(p, "mm_context_malloc should succeed");
    mm_free(p);
    mm_free(p);
    cr_assert_fail("a double free should not return under the default handler");
}

Test(errors, an_unknown_category_under_the_default_handler_raises_sigabrt, .signal = SIGABRT,
     .init = cr_redirect_stderr)
{
    mm_set_error_handler(NULL, NULL);
    (void)mm_malloc(16, 999);
    cr_assert_fail("mm_malloc in category 999 should not return under the default handler");
}
