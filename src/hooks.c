/* The hook table: the one way a lower layer of src/ reaches a higher one
 * (docs/design.md, "Layers"). It is a constant table defined here, at the
 * top, so every call site below names only the table, never a higher file,
 * and linking the table pulls in every layer. tools/check-layers.sh allows
 * exactly this one upward reference. */
#include "report/snapshot.h"

static void hooks_fork_child(void) {
    mmi_trace_fork_child();
}

const mmi_hooks_t mmi_hooks = {
    .read_environment = mmi_options_read_environment,
    .fork_child = hooks_fork_child,
    .diag_alloc = mmi_diag_alloc,
    .diag_realloc = mmi_diag_realloc,
    .diag_free = mmi_diag_free,
    .diag_release = mmi_diag_release,
    .peak_process = mmi_peak_process,
    .peak_context = mmi_peak_context,
    .trace_forest = mmi_trace_forest,
    .report_text = mmi_report_text,
    .epoch_log = mmi_report_epoch_log,
};
