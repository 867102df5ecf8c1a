/* Random numbers for the randomized tests: xoshiro256** seeded through splitmix64. */
#include <stdlib.h>

#include "vt.h"

static uint64_t vt__splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void vt_rng_seed(vt_rng_t *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = vt__splitmix(&seed);
}

static uint64_t vt__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t vt_rng_next(vt_rng_t *r) {
    uint64_t *s = r->s;
    uint64_t result = vt__rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = vt__rotl(s[3], 45);
    return result;
}

uint64_t vt_rng_below(vt_rng_t *r, uint64_t n) {
    /* Rejection sampling keeps the distribution exact. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = vt_rng_next(r);
    } while (x >= limit);
    return x % n;
}

uint64_t vt_seed_from_env(uint64_t def) {
    const char *e = getenv("VMS_SEED");
    if (e == NULL || *e == '\0') return def;
    return strtoull(e, NULL, 0);
}
