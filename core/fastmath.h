/* fastmath.h: an exp that gcc can vectorize (libm's expf is an opaque call).
 *
 * Range reduction x = n·ln2 + r with |r| <= ln2/2, then a degree-6
 * polynomial for e^r and 2^n built in the exponent bits. Relative error is
 * below 2e-7 over [-87, 88], which keeps GELU and softmax within the 1e-4
 * logit tolerance the reference tests demand with a wide margin.
 */
#ifndef TF_CORE_FASTMATH_H
#define TF_CORE_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline float fm_expf(float x) {
    /* Below -87 the result underflows float's normal range: return exactly 0, so masked
     * (-inf) scores get exactly zero weight. */
    const int underflow = x < -87.0f;
    if (x < -87.0f) x = -87.0f;
    if (x > 88.0f) x = 88.0f;
    const float log2e = 1.44269504088896341f;
    /* floor() by hand: __builtin_floorf is a libm call at the baseline SSE2 target (no
     * roundps), which kept every loop using fm_expf scalar. Truncate, then step down where
     * truncation rounded a negative value up: exactly floorf for |t| < 2^31. */
    const float t = x * log2e + 0.5f;
    float n = (float)(int32_t)t;
    n = n > t ? n - 1.0f : n;
    /* ln2 split in two parts so r keeps full precision */
    float r = x - n * 0.693145751953125f;
    r = r - n * 1.42860682030941723212e-6f;
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return underflow ? 0.0f : p * scale;
}

/* Natural log for x > 0 (normal floats), vectorizable: x = m·2^e with m in [√½, √2),
 * log(m) = 2·atanh(s), s = (m-1)/(m+1), |s| <= 0.172, five odd terms (error < 1e-7). */
static inline float fm_logf(float x) {
    int32_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = ((bits >> 23) & 0xff) - 127;
    bits = (bits & 0x007fffff) | 0x3f800000;
    float m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.41421356f) {
        m *= 0.5f;
        e += 1;
    }
    float s = (m - 1.0f) / (m + 1.0f);
    float z = s * s;
    float r = s * (2.0f + z * (2.0f / 3 + z * (2.0f / 5 + z * (2.0f / 7 + z * (2.0f / 9)))));
    return r + (float)e * 0.693147180559945f;
}

#endif
