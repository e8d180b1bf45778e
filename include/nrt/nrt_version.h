/*
 * nrt_version.h - the runtime's version query.
 * Written for nrt-async-shim from docs/neuron-abi.md.
 */
#ifndef NRT_VERSION_H
#define NRT_VERSION_H

#include <stddef.h>
#include <stdint.h>
#include "nrt_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NRT_VERSION_DETAIL_MAX 128
#define NRT_VERSION_GIT_HASH_MAX 64

typedef struct nrt_version {
    uint64_t rt_major;
    uint64_t rt_minor;
    uint64_t rt_patch;
    uint64_t rt_maintenance;
    char rt_detail[NRT_VERSION_DETAIL_MAX];
    char git_hash[NRT_VERSION_GIT_HASH_MAX];
} nrt_version_t;

/* Fills *ver; size is sizeof(nrt_version_t) as the caller knows it. */
NRT_STATUS nrt_get_version(nrt_version_t *ver, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* NRT_VERSION_H */
