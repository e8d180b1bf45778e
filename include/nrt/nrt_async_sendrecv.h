/*
 * nrt_async_sendrecv.h - point-to-point tensor transfers between logical cores
 * (RDMA on hardware): connect/accept a communicator, then send or receive a byte
 * range of a tensor asynchronously and poll the request for completion.
 *
 * Written for nrt-async-shim from the runtime's public API reference; not a copy
 * of the vendor header.
 */
#ifndef NRT_ASYNC_SENDRECV_H
#define NRT_ASYNC_SENDRECV_H

#include <stdbool.h>
#include <stddef.h>

#include "nrt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque: a connected pair's one end, and one pending transfer. */
typedef struct nrt_async_sendrecv_comm nrt_async_sendrecv_comm_t;
typedef struct nrt_async_sendrecv_request nrt_async_sendrecv_request_t;

NRT_STATUS nrt_async_sendrecv_init(int local_lnc);
NRT_STATUS nrt_async_sendrecv_close(int local_lnc);
NRT_STATUS nrt_async_sendrecv_get_max_num_pending_request(int *num);
/* The sending end towards (peer_ip, peer_lnc); poll nrt_async_sendrecv_test_comm. */
NRT_STATUS nrt_async_sendrecv_connect(const char *peer_ip, int peer_lnc, int local_lnc,
                                      nrt_async_sendrecv_comm_t **send_comm);
/* The receiving end from (peer_ip, peer_lnc). */
NRT_STATUS nrt_async_sendrecv_accept(const char *peer_ip, int peer_lnc, int local_lnc,
                                     nrt_async_sendrecv_comm_t **recv_comm);
NRT_STATUS nrt_async_sendrecv_test_comm(nrt_async_sendrecv_comm_t *comm, bool *done);

/* Non-blocking: sends (receives) length bytes at offset of tensor. NRT_RESOURCE
 * when too many requests are pending. */
NRT_STATUS nrt_async_sendrecv_send_tensor(nrt_tensor_t *tensor, size_t offset, size_t length,
                                          nrt_async_sendrecv_comm_t *send_comm,
                                          nrt_async_sendrecv_request_t **request);
NRT_STATUS nrt_async_sendrecv_recv_tensor(nrt_tensor_t *tensor, size_t offset, size_t length,
                                          nrt_async_sendrecv_comm_t *recv_comm,
                                          nrt_async_sendrecv_request_t **request);
/* *done once the transfer finished, with *size the bytes moved. */
NRT_STATUS nrt_async_sendrecv_test_request(nrt_async_sendrecv_request_t *request, bool *done, size_t *size);
NRT_STATUS nrt_async_sendrecv_flush(int lnc);

#ifdef __cplusplus
}
#endif

#endif /* NRT_ASYNC_SENDRECV_H */
