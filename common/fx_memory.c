/*  fx_memory.c: the allocator settings of fx_memory.h. */
#include "fx_memory.h"

#include <malloc.h>
#include <stdlib.h>

#define S_MMAP_THRESHOLD (32 << 20) /* glibc's HEAP_MAX/2 on 64-bit: the most it accepts */
#define S_TRIM_THRESHOLD (128 << 20)

void fx_memory_tune(void)
{
#ifdef __GLIBC__
    const char *keep = getenv("FX_MALLOC_DEFAULTS"); /* "1": leave glibc's own (to compare) */
    if (keep && keep[0] == '1')
        return;
    /* Setting either one also stops glibc from adjusting them itself. */
    (void) mallopt(M_MMAP_THRESHOLD, S_MMAP_THRESHOLD);
    (void) mallopt(M_TRIM_THRESHOLD, S_TRIM_THRESHOLD);
#endif
}
