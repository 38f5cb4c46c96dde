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

#include <unistd.h>

#include "fuzz_common.h"
#include "roundtrip.h"

static char fr_path[64]; /* the scratch trace, made once per process */

static void fr_cleanup(void)
{
    if (fr_path[0] != '\0') unlink(fr_path);
}

static void fr_setup_once(void)
{
    if (fr_path[0] != '\0') return;
    fz_install_handlers(); /* rt_run installs its own; these cover the setup */
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fr_path, sizeof fr_path, "%s/mm-fuzz-roundtrip-XXXXXX", dir);
    int fd = mkstemp(fr_path);
    FZ_CHECK(fd >= 0, "mkstemp(%s) should make a scratch file", fr_path);
    close(fd);
    atexit(fr_cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fr_setup_once();
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
