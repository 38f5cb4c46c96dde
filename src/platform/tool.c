/* Which tool watches the process (Valgrind memcheck, found at run time;
 * AddressSanitizer, known at compile time) and the two switches the hot
 * paths read so that, under a tool, every context allocation and free takes
 * its slow path, where the annotations of tool.h are made. */
#include "platform.h"

#if MMI_TOOL_ASAN
_Atomic int mmi_tool = MMI_TOOL_ASANRT;
uintptr_t mmi_free_page_mask = 0;
uintptr_t mmi_free_big_at = 0;
#else
_Atomic int mmi_tool = MMI_TOOL_NONE;
uintptr_t mmi_free_page_mask = 4095;
uintptr_t mmi_free_big_at = 16;
#endif

int mmi_tool_detect(void) {
#if MMI_TOOL_VG
    /* memcheck only: callgrind (bench/callgrind.sh) and the other tools
     * leave its requests unanswered, and a get of a local's bits answers 1
     * only under memcheck */
    unsigned char probe = 0, vbits = 0;
    if (RUNNING_ON_VALGRIND && VALGRIND_GET_VBITS(&probe, &vbits, 1) == 1 &&
        mmi_load(&mmi_tool) == MMI_TOOL_NONE) {
        mmi_store(&mmi_tool, MMI_TOOL_MEMCHECK);
        mmi_free_page_mask = 0; /* ((p - 16) & 0) == 0: every free is slow */
        mmi_free_big_at = 0;
    }
#endif
    return mmi_load(&mmi_tool);
}
