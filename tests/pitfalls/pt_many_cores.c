/*
 * pt_many_cores.c - a runtime with more cores than a fixed table would hold
 * (NRT_SIM_CORES=255): every call on core VNC (default 200) and on the cores around
 * the end of the range, with each status printed, so the driver can compare the run
 * through the shim line by line with the reference (the simulator alone).
 *
 * On core VNC: load, allocate, write, memset, copy, a few executions in flight, reads
 * of their outputs (bytes checked against the formula, folded into the digest),
 * drain; then the same calls on the last core, and the statuses of calls on the core
 * past the end (allocation, load, drain).
 *
 * usage: pt_many_cores [vnc=200]
 */
#define _GNU_SOURCE
#include "pt.h"

#include <nrt/nrt_experimental.h>

#define SLOTS 4

static uint64_t digest = 14695981039346656037ull;

static void fold(const uint8_t *b, size_t n) {
    for (size_t j = 0; j < n; j++) {
        digest ^= b[j];
        digest *= 1099511628211ull;
    }
}

/* Everything on core `vnc`, which exists. */
static void on_core(int vnc) {
    char model[256];
    int n = snprintf(model, sizeof model,
                     "nrt-sim-model 1\nname many\nlatency_us 500\ninput x %d\noutput y %d\ncompute affine 7 3\n",
                     PT_SIZE, PT_SIZE);
    nrt_model_t *m = NULL;
    printf("core %d load: %d\n", vnc, (int)nrt_load(model, (size_t)n, vnc, 1, &m));
    if (!m) PT_FAIL("no model on core %d", vnc);
    nrt_tensor_t *in[SLOTS], *out[SLOTS];
    nrt_tensor_set_t *ins[SLOTS], *outs[SLOTS];
    uint8_t buf[PT_SIZE];
    for (int s = 0; s < SLOTS; s++) {
        PT_OK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, vnc, PT_SIZE, "x", &in[s]));
        PT_OK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, vnc, PT_SIZE, "y", &out[s]));
        PT_OK(nrt_allocate_tensor_set(&ins[s]));
        PT_OK(nrt_allocate_tensor_set(&outs[s]));
        PT_OK(nrt_add_tensor_to_tensor_set(ins[s], "x", in[s]));
        PT_OK(nrt_add_tensor_to_tensor_set(outs[s], "y", out[s]));
        printf("core %d size: %zu\n", vnc, nrt_tensor_get_size(in[s]));
    }
    for (int round = 0; round < 3; round++) {
        for (int s = 0; s < SLOTS; s++) {
            for (uint32_t j = 0; j < PT_SIZE; j++) buf[j] = pt_pattern((uint32_t)(round * SLOTS + s + 1), j);
            printf("core %d write: %d\n", vnc, (int)nrt_tensor_write(in[s], buf, 0, PT_SIZE));
            if (s == 1) printf("core %d memset: %d\n", vnc, (int)nrt_tensor_memset(in[s], 64, 0x5a, 128));
            if (s == 2) printf("core %d copy: %d\n", vnc, (int)nrt_tensor_copy(in[0], 0, in[s], 256, 512));
            printf("core %d execute: %d\n", vnc, (int)nrt_execute(m, ins[s], outs[s]));
        }
        /* A write over an output of a request in flight, then a read of it. */
        for (int s = 0; s < SLOTS; s++) {
            memset(buf, 0, sizeof buf);
            printf("core %d read: %d\n", vnc, (int)nrt_tensor_read(out[s], buf, 0, PT_SIZE));
            fold(buf, PT_SIZE);
        }
        printf("core %d drain: %d\n", vnc, (int)nrt_async_drain_queued_execs(vnc));
    }
    for (int s = 0; s < SLOTS; s++) {
        nrt_tensor_free(&in[s]);
        nrt_tensor_free(&out[s]);
        nrt_destroy_tensor_set(&ins[s]);
        nrt_destroy_tensor_set(&outs[s]);
    }
    printf("core %d unload: %d\n", vnc, (int)nrt_unload(m));
}

int main(int argc, char **argv) {
    int vnc = argc > 1 ? atoi(argv[1]) : 200;
    PT_OK(nrt_init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    uint32_t cores = 0;
    NRT_STATUS st = nrt_get_total_vnc_count(&cores);
    printf("vnc_count: %d %u\n", (int)st, cores);
    on_core(vnc);
    on_core((int)cores - 1);
    /* The core past the end: the runtime's statuses. */
    int past = (int)cores;
    nrt_tensor_t *t = NULL;
    printf("past allocate: %d\n", (int)nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, past, 64, "t", &t));
    if (t) nrt_tensor_free(&t);
    printf("past drain: %d\n", (int)nrt_async_drain_queued_execs(past));
    printf("negative drain: %d\n", (int)nrt_async_drain_queued_execs(-1));
    nrt_close();
    printf("digest: %016llx\n", (unsigned long long)digest);
    pt_print_shim_lines(NULL);
    printf("ok\n");
    return 0;
}
