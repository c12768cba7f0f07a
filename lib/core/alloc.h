/* Allocation of large, long-lived buffers (packed weights, arenas, a model
 * file's bytes). From 2 MiB up they are 2 MiB aligned, rounded up to
 * whole 2 MiB and marked for transparent huge pages where the kernel
 * offers them on request (madvise mode): one page fault and one TLB entry
 * per 2 MiB instead of 512. Loading a 26 MB INT8 ResNet-50 spent about a
 * quarter of its time in 4 KiB page faults. Smaller buffers are 64-byte
 * aligned. Free with free(). */
#ifndef QI_CORE_ALLOC_H
#define QI_CORE_ALLOC_H

#include <stddef.h>

void *qi_alloc_large(size_t bytes);

#endif
