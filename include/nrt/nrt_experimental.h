/*
 * nrt_experimental.h - the runtime's experimental C API: batched tensor I/O,
 * device allocation queries, output-completion counters, and the two leftovers
 * of the implicit async mode.
 *
 * Written for nrt-async-shim from the facts in docs/neuron-abi.md; not a copy of
 * the vendor header.
 */
#ifndef NRT_EXPERIMENTAL_H
#define NRT_EXPERIMENTAL_H

#include "nrt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nrt_tensor_batch_op {
    uint64_t offset;
    uint64_t size;
    void *buffer;
} nrt_tensor_batch_op_t;

typedef struct nrt_tensor_batch {
    const nrt_tensor_t *tensor;
    const nrt_tensor_batch_op_t *ops;
    uint32_t num_ops;
} nrt_tensor_batch_t;

typedef struct nrt_tensor_device_allocation_info {
    uint64_t physical_address;
    size_t size;
    int hbm_index;
} nrt_tensor_device_allocation_info_t;

/* unsafe_mode: skip the runtime's own tracking of pending work. */
NRT_STATUS nrt_tensor_read_batch(const nrt_tensor_batch_t *batches, uint64_t num_batches, bool unsafe_mode);
NRT_STATUS nrt_tensor_write_batch(const nrt_tensor_batch_t *batches, uint64_t num_batches, bool unsafe_mode);

NRT_STATUS nrt_tensor_get_device_allocation_info(const nrt_tensor_t *tensor,
                                                 nrt_tensor_device_allocation_info_t *alloc_info);

/* Negative timeout_us waits forever; NRT_TIMEOUT when expected_count is not reached. */
NRT_STATUS nrt_tensor_check_output_completion(const nrt_tensor_t *output_tensor, int64_t timeout_us,
                                              uint64_t expected_completion_count);
NRT_STATUS nrt_tensor_reset_output_completion(nrt_tensor_t *output_tensor);

/* ---- leftovers of the implicit async mode (NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS) ---- */

typedef void (*NRT_ASYNC_EXEC_STATUS_CALLBACK)(void *params, uint32_t model_id, uint32_t vnc, uint64_t job_id,
                                               NRT_STATUS status);

/* Replaces any callback registered earlier. */
NRT_STATUS nrt_register_async_exec_callback(NRT_ASYNC_EXEC_STATUS_CALLBACK callback, void *params);
/* Blocks until the queued executions of that core are done. */
NRT_STATUS nrt_async_drain_queued_execs(int32_t vnc);

/* ---- synchronisation across ranks ---- */

/* A barrier over g_device_count workers (a small all-reduce); this worker is
 * g_device_id and runs on core vnc. */
NRT_STATUS nrt_barrier(int32_t vnc, uint32_t g_device_id, uint32_t g_device_count);

#ifdef __cplusplus
}
#endif

#endif /* NRT_EXPERIMENTAL_H */
