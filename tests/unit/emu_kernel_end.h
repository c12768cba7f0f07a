/* Included after each kernel file compiled over emulated intrinsics (see
 * emu_vnni_kernels.h): drops the private names the including file renamed
 * and the kernel's helper macros, so that the next kernel file can define
 * its own. No include guard: it is meant to be included several times. */
#undef MR
#undef NR
#undef load_u32
#undef load_tail
#undef ROWS
#undef GROUP
#undef DOT_ROW
