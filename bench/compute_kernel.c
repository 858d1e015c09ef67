/* A deterministic compute kernel for the guest-vs-native comparison: integer hashing,
 * scalar floating point, and loops the compiler vectorises (SSE/AVX with
 * DOMUS_COMPUTE_KERNEL_FLAGS, see compute_kernel.cmake). Plain C, no dependencies: the
 * host build compiles this same file natively. Returns a checksum. */
#include <stdint.h>

#define N 4096

static float xs[N], ys[N], zs[N];
static double ds[N];

double compute_kernel(unsigned iterations) {
    uint64_t h = 0x243f6a8885a308d3ull;
    for (unsigned i = 0; i < N; ++i) {
        xs[i] = (float)(i % 97) * 0.25f;
        ys[i] = ((float)(i % 13) - 6.0f) * 0.05f;
        zs[i] = 0.0f;
        ds[i] = (double)i * 1e-3;
    }
    double scalar = 0.0;
    for (unsigned it = 0; it < iterations; ++it) {
        /* integer: a multiply-xorshift hash chain */
        for (unsigned i = 0; i < N; ++i) {
            h ^= h >> 29;
            h *= 0xbf58476d1ce4e5b9ull;
            h += i;
        }
        /* vectorisable single precision: saxpy-like and a reduction */
        float a = 1.0f + (float)(it % 7) * 0.125f;
        for (unsigned i = 0; i < N; ++i)
            zs[i] = a * xs[i] + ys[i] * zs[i] * 0.5f;
        float acc = 0.0f;
        for (unsigned i = 0; i < N; ++i)
            acc += zs[i] * 0.001f;
        /* vectorisable double precision */
        for (unsigned i = 0; i < N; ++i)
            ds[i] = ds[i] * 0.999 + (double)zs[i] * 1e-6;
        /* scalar dependency chain */
        double x = (double)acc;
        for (unsigned i = 0; i < 256; ++i)
            x = x * 0.5 + 1.0 / (1.0 + x * x);
        scalar += x;
    }
    double dsum = 0.0;
    for (unsigned i = 0; i < N; ++i)
        dsum += ds[i];
    return scalar + dsum + (double)(h & 0xffffff);
}
