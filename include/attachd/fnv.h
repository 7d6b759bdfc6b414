/* FNV-1a, 64 bits: a fingerprint of bytes (not for anything an adversary chooses to collide). */
#ifndef ATTACHD_FNV_H
#define ATTACHD_FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV1A_START 14695981039346656037ULL

/* h folded with the `len` bytes at `data`. */
static inline uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

#endif
