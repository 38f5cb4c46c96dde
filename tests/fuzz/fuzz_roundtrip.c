/* libFuzzer target: the trace round trip (roundtrip.h). Each input is a
 * sequence of API calls (allocations of every kind, realloc to 0 and across
 * categories, contexts created, reset and destroyed, checking modes, sites
 * and limits switched, calls that must fail) made under a trace written to
 * one scratch file per process. The trace must load, its model must give
 * the figures mimicmem reported while the calls ran (peak and peak per
 * category, allocations, frees, reallocs, F lines, live bytes and blocks at
 * the stop), and it must replay through raw malloc, mimicmem and the legacy
 * table with no double free (ASan) and mimicmem's counts moving by the
 * trace's. Everything is freed again, so each input starts from nothing. */
#define _POSIX_C_SOURCE 200809L

#include "fuzz_common.h"
#include "roundtrip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *fr_path = fz_scratch_file("roundtrip"); /* rt_run installs its own handlers */
    rt_live l;
    FZ_CHECK(rt_run(data, size, fr_path, &l) == 0, "the trace %s should open", fr_path);
    char why[512];
    FZ_CHECK(rt_verify(fr_path, &l, why, sizeof why) == 0, "round trip of %zu calls: %s",
             l.calls, why);
    mm_stats t = mm_stats_total(NULL);
    FZ_CHECK(t.bytes == 0 && t.blocks == 0, "everything is freed after an input (%zu bytes, %zu "
             "blocks live)", t.bytes, t.blocks);
    return 0;
}
