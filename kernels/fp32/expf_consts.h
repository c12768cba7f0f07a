/* Constants of the Cephes expf shared by the scalar and AVX2 softmax
 * kernels (see softmax.h); one copy, so the variants cannot drift apart. */
#ifndef QI_KERNELS_FP32_EXPF_CONSTS_H
#define QI_KERNELS_FP32_EXPF_CONSTS_H

/* exp(89) > FLT_MAX; exp(-110) < half the smallest denormal. */
#define QI_EXPF_HI 89.0f
#define QI_EXPF_LO -110.0f
#define QI_EXPF_LOG2E 1.44269504088896341f
/* ln 2 = LN2_HI + LN2_LO; LN2_HI has 9 significant bits, so n * LN2_HI is
 * exact for |n| < 2^15. */
#define QI_EXPF_LN2_HI 0.693359375f
#define QI_EXPF_LN2_LO -2.12194440e-4f
/* Adding 1.5 * 2^23 rounds a float of magnitude < 2^22 to an integer held in
 * the low mantissa bits. */
#define QI_EXPF_ROUND_MAGIC 12582912.0f
/* P(r), highest degree first: exp(r) = 1 + r + r^2 P(r) on |r| <= ln2 / 2. */
#define QI_EXPF_P0 1.9875691500e-4f
#define QI_EXPF_P1 1.3981999507e-3f
#define QI_EXPF_P2 8.3334519073e-3f
#define QI_EXPF_P3 4.1665795894e-2f
#define QI_EXPF_P4 1.6666665459e-1f
#define QI_EXPF_P5 5.0000001201e-1f

#endif
