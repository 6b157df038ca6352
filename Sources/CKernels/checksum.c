// A fast 64-bit checksum for checkpoint tensors: eight independent lanes of xxHash64-style rounds
// (multiply, rotate, multiply) over the data's 64-bit words, folded together with the length and
// a final avalanche. It detects changed bytes as reliably as any 64-bit hash, at memory speed,
// where HDF5's Fletcher32 filter would halve the checkpoint write rate.
#include <string.h>
#include "CKernels.h"

static const uint64_t prime1 = 0x9E3779B185EBCA87ULL, prime2 = 0xC2B2AE3D27D4EB4FULL;
static const uint64_t prime3 = 0x165667B19E3779F9ULL, prime4 = 0x85EBCA77C2B2AE63ULL;

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t round64(uint64_t lane, uint64_t word) { return rotl(lane + word * prime2, 31) * prime1; }

uint64_t fk_checksum64(const void *data, size_t bytes) {
    const unsigned char *p = data;
    uint64_t lanes[8];
    for (int i = 0; i < 8; i++) lanes[i] = prime1 * (uint64_t)(i + 1) + prime2;
    size_t i = 0;
    for (; i + 64 <= bytes; i += 64) {
        uint64_t w[8];
        memcpy(w, p + i, 64);
        for (int k = 0; k < 8; k++) lanes[k] = round64(lanes[k], w[k]);
    }
    uint64_t h = (uint64_t)bytes * prime4;
    for (int k = 0; k < 8; k++) h = (h ^ round64(0, lanes[k])) * prime1 + prime3;
    for (; i + 8 <= bytes; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = rotl(h ^ round64(0, w), 27) * prime1 + prime4;
    }
    for (; i < bytes; i++) h = rotl(h ^ (p[i] * prime4), 11) * prime1;
    h ^= h >> 33; h *= prime2; h ^= h >> 29; h *= prime3; h ^= h >> 32;
    return h;
}
