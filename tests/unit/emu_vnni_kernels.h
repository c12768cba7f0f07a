/* The VNNI u8s8 GEMM kernels compiled over emulated intrinsics (x86_emu.h,
 * included first) as emu_ukernel_8x32c4 and emu_ukernel_6x16c4, for the
 * tests that check them on a CPU without VNNI (test_qgemm_emu, test_qconv).
 * Each kernel file defines the same private names: every inclusion gets
 * its own, and its helper macros are dropped afterwards. */
#ifndef QT_EMU_VNNI_KERNELS_H
#define QT_EMU_VNNI_KERNELS_H

#define MR emu512_mr
#define NR emu512_nr
#define load_u32 emu512_load_u32
#define load_tail emu512_load_tail
#define qi_u8s8_gemm_requant_ukernel_8x32c4__avx512vnni emu_ukernel_8x32c4
#include "gemm/8x32c4-avx512vnni.c"
#include "emu_kernel_end.h"

#define MR emuvnni_mr
#define NR emuvnni_nr
#define load_u32 emuvnni_load_u32
#define load_tail emuvnni_load_tail
#define qi_u8s8_gemm_requant_ukernel_6x16c4__avxvnni emu_ukernel_6x16c4
#include "gemm/6x16c4-avxvnni.c"
#include "emu_kernel_end.h"

#endif
