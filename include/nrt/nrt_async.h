/*
 * nrt_async.h - the runtime's explicit async API (functions prefixed nrta_).
 *
 * Written for nrt-async-shim from the facts in docs/neuron-abi.md; not a copy of
 * the vendor header. Two generations exist with the same symbol names:
 *
 *   v3 (SDK 2.29 and later; declared by default): the 5th pointer of a schedule
 *      call is an NRT_STATUS* written when the request completes; the tensor
 *      calls take an lnc argument; completion is signalled on caller-owned
 *      eventfds (nrta_event_register_seq_id_completion).
 *   v2 (SDK 2.28; declared when NRTA_ABI_V2 is defined): errors are collected in
 *      an nrta_error_tracker_t; nrta_get_completion_handle gives a pollable fd.
 *
 * A runtime's generation shows in its exports: nrta_error_tracker_create exists
 * only in v2.
 */
#ifndef NRT_ASYNC_H
#define NRT_ASYNC_H

#include "nrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Unit id in the top 16 bits, a strictly increasing per-unit counter below.
 * Treat as opaque; compare only numbers of the same unit. */
typedef uint64_t nrta_seq_t;
typedef uint16_t nrta_xu_id_t;

#define NRTA_SEQ_NUM_MAX ((1ull << 48) - 1)

/* Prepared collectives: opaque to this interface. */
typedef struct nrt_cc_context nrt_cc_context_t;
typedef struct nrt_cc_comm nrt_cc_comm_t;
typedef struct nrt_tensor_list nrt_tensor_list_t;

typedef enum {
    NRT_OP_ADD = 0,
    NRT_OP_FMA = 1,
    NRT_OP_MAX = 2,
    NRT_OP_MIN = 3,
    NRT_OP_INVALID = 0xF
} nrt_op_type_t;

typedef enum {
    NRT_CC_ALLGATHER = 0,
    NRT_CC_ALLREDUCE = 1,
    NRT_CC_REDUCESCATTER = 2
} nrt_cc_op_type_t;

typedef struct nrta_error {
    nrta_seq_t seq_id;
    uint64_t error_code; /* an NRT_STATUS */
} nrta_error_t;

NRT_STATUS nrta_is_completed(nrta_seq_t seq, bool *is_completed);
NRT_STATUS nrta_cc_prepare(nrt_cc_comm_t *comm, nrt_tensor_list_t *input, nrt_tensor_list_t *output,
                           nrt_dtype_t dtype, nrt_op_type_t op, nrt_cc_op_type_t cc_op, nrt_cc_context_t **ctx);

#ifdef NRTA_ABI_V2
/* ======================= generation 2 (SDK 2.28) ======================== */

#define NRTA_ABI_VERSION 2

typedef enum {
    NRTA_XU_TENSOR_READ = 0,
    NRTA_XU_TENSOR_WRITE = 1,
    NRTA_XU_TENSOR_OP = 2,
    NRTA_XU_COMPUTE = 3,
    NRTA_XU_COLLECTIVES = 4,
    NRTA_XU_TYPE_NUM = 5
} nrta_xu_t;

typedef struct nrta_error_tracker nrta_error_tracker_t;

NRT_STATUS nrta_execute_schedule(nrt_model_t *model, const nrt_tensor_set_t *input, nrt_tensor_set_t *output,
                                 int queue, nrta_error_tracker_t *err, nrta_seq_t *req_sequence);
NRT_STATUS nrta_tensor_write(nrt_tensor_t *tensor, const void *buf, uint64_t offset, uint64_t size, int queue,
                             nrta_error_tracker_t *err, nrta_seq_t *req_sequence);
NRT_STATUS nrta_tensor_read(void *buf, nrt_tensor_t *tensor, uint64_t offset, uint64_t size, int queue,
                            nrta_error_tracker_t *err, nrta_seq_t *req_sequence);
NRT_STATUS nrta_tensor_copy(nrt_tensor_t *src, uint64_t src_offset, nrt_tensor_t *dst, uint64_t dst_offset,
                            uint64_t size, int queue, nrta_error_tracker_t *err, nrta_seq_t *req_sequence);
NRT_STATUS nrta_cc_schedule(nrt_cc_context_t **ctx, int queue, nrta_error_tracker_t *err,
                            nrta_seq_t *req_sequence);
NRT_STATUS nrta_get_sequence(uint32_t lnc, nrta_xu_t xu, int queue, nrta_seq_t *last_completed);

/* A pollable fd, readable once the request is done; the caller closes it. */
NRT_STATUS nrta_get_completion_handle(nrta_seq_t seq, int *fd);

NRT_STATUS nrta_error_tracker_create(uint32_t lnc_idx, nrta_error_tracker_t **error_tracker);
void nrta_error_tracker_destroy(nrta_error_tracker_t *error_tracker);
/* The errors recorded so far; *list stays valid until the next call on the tracker. */
NRT_STATUS nrta_error_tracker_get_list(nrta_error_tracker_t *error_tracker, const nrta_error_t **list,
                                       size_t *error_count);

#else
/* =================== generation 3 (SDK 2.29 and later) =================== */

#define NRTA_ABI_VERSION 3

typedef enum {
    NRTA_XU_TENSOR_OP = 0,
    NRTA_XU_COMPUTE = 1,
    NRTA_XU_COLLECTIVES = 2,
    NRTA_XU_TYPE_NUM = 3
} nrta_xu_t;

/* ret: the request's status is written there when it completes; keep it alive until then. */
NRT_STATUS nrta_execute_schedule(nrt_model_t *model, nrt_tensor_set_t *input, nrt_tensor_set_t *output,
                                 uint32_t queue, NRT_STATUS *ret, nrta_seq_t *req_sequence);
NRT_STATUS nrta_tensor_write(nrt_tensor_t *tensor, void *buf, uint64_t offset, uint64_t size, uint32_t lnc,
                             uint32_t queue, NRT_STATUS *ret, nrta_seq_t *req_sequence);
NRT_STATUS nrta_tensor_read(void *buf, nrt_tensor_t *tensor, uint64_t offset, uint64_t size, uint32_t lnc,
                            uint32_t queue, NRT_STATUS *ret, nrta_seq_t *req_sequence);
NRT_STATUS nrta_tensor_copy(nrt_tensor_t *src, uint64_t src_offset, nrt_tensor_t *dst, uint64_t dst_offset,
                            uint64_t size, uint32_t lnc, uint32_t queue, NRT_STATUS *ret,
                            nrta_seq_t *req_sequence);
NRT_STATUS nrta_cc_schedule(nrt_cc_context_t **ctx, uint32_t queue, void *reserved, nrta_seq_t *req_sequence);
NRT_STATUS nrta_get_sequence(uint32_t lnc, nrta_xu_t xu, int queue, nrta_seq_t *last_completed);

/* Signals the caller-owned eventfd efd (adds 1) when seq completes (SDK 2.30 and later);
 * at once if it has. efd -1 drops the registrations of seq (do so before closing efd). */
NRT_STATUS nrta_event_register_seq_id_completion(nrta_seq_t seq, int efd);
/* Signals efd whenever that unit queue completes a request (one read may cover several);
 * efd -1 deregisters (SDK 2.30 and later; the widths of lnc and queue are not public). */
NRT_STATUS nrta_event_register_xu_completion(uint32_t lnc, nrta_xu_t xu, int queue, int efd);

#endif /* NRTA_ABI_V2 */

#ifdef __cplusplus
}
#endif

#endif /* NRT_ASYNC_H */
