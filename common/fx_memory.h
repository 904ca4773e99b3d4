/*  fx_memory.h: how fx processes ask the C library's allocator to keep
    large buffers.

    Every CurveZMQ hop allocates a fresh buffer for each message it
    encrypts and each one it decrypts. glibc serves a buffer above its mmap
    threshold (128 KiB at first) with a new mapping and gives freed memory at
    the heap's top back to the kernel above its trim threshold, so a 10 MiB
    argument meets fresh pages at every hop, and touching a fresh page is
    slow on these virtual machines (about 17 ms per MiB, against under 2 ms
    for memory already mapped). Measured on one CURVE hop, 10 MiB there and
    back: 220-470 ms with glibc's defaults, 42-75 ms with the settings below
    (see README, How fast). The cost: memory freed after a large message
    stays mapped, up to the trim threshold, rather than going back at once. */
#ifndef FX_MEMORY_H
#define FX_MEMORY_H

/* Allocations up to 32 MiB (glibc's largest mmap threshold) come from the
   heap and are reused; up to 128 MiB freed at the heap's top is kept.
   Call once, early in main (or a module's init). Idempotent. With
   FX_MALLOC_DEFAULTS=1 in the environment it leaves glibc's defaults (to
   measure the difference, or where memory matters more than speed). */
void fx_memory_tune(void);

#endif
