/* Size-class tables: the class of every size up to 1 KiB (one load on the
 * allocation paths instead of a bit scan), and the bytes of every class.
 * Written out from the formulas they replace; tests/unit/test_context.c
 * checks them against those formulas for every size. */
#include "block.h"

/* mmi_class_of_small[i] is the class of sizes 16*(i-1)+1 .. 16*i (i = 0: size 0):
 * (n - 1) / 16 up to 64 bytes, then 4 + (m - 6) * 4 + ((n - 1) >> (m - 2) & 3)
 * with m the highest bit of n - 1 */
const uint8_t mmi_class_of_small[MMI_CLASS_TABLE_MAX / 16 + 1] = {
    0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 10, 11,
    11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15,
    15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 17, 17,
    17, 18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19,
    19,
};

/* bytes of class k: (k + 1) * 16 up to 64, then (5 + q) << (m - 2) with
 * m = (k - 4) / 4 + 6 and q = (k - 4) % 4: four classes per doubling */
const uint32_t mmi_class_size[MMI_NCLASSES] = {
    16, 32, 48, 64, 80, 96, 112, 128,
    160, 192, 224, 256, 320, 384, 448, 512,
    640, 768, 896, 1024, 1280, 1536, 1792, 2048,
    2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192,
    10240, 12288, 14336, 16384, 20480, 24576, 28672, 32768,
    40960, 49152, 57344, 65536, 81920, 98304, 114688, 131072,
    163840, 196608, 229376, 262144,
};

_Static_assert(MMI_NCLASSES == 52, "the class-size table has 52 entries");
