/*
 * simcost.c - the simulator's own host cost, for nrt-bench sim.
 *
 * Run with NRT_SIM_LATENCY_SCALE=0 (an instant device: every device op takes no
 * simulated time, so what a call costs is the simulator's work on the host) and
 * without the shim.
 *
 * usage: simcost OP SIZE CALLS
 *   write     CALLS x nrt_tensor_write of SIZE bytes into a device tensor
 *   read      CALLS x nrt_tensor_read of SIZE bytes of a device tensor
 *   copy      CALLS x nrt_tensor_copy of SIZE bytes between two device tensors
 *   exec      CALLS x nrt_execute of `compute affine` with two inputs and one
 *             output of SIZE bytes each
 *   schedule  CALLS x (nrta_execute_schedule of that model, then polling
 *             nrta_is_completed until it is done; its status checked)
 * Every op is preceded by one of the same kind (warm: pages touched, threads
 * started). After the loop the output (read, exec, schedule) or the destination
 * (write, copy) is checked against what it must hold.
 * Prints "calls: CALLS" and "ns_per_call: X" (loop time / CALLS).
 */
#define _GNU_SOURCE
#define NRT_BENCH_EXPERT
#include "bench.h"

#define MUL 3
#define ADD 5

static uint8_t *xalloc(size_t n) {
    uint8_t *p = malloc(n ? n : 1);
    if (!p) DIE("out of memory (%zu bytes)", n);
    return p;
}

int main(int argc, char **argv) {
    if (argc != 4) DIE("usage: simcost write|read|copy|exec|schedule SIZE CALLS");
    const char *op = argv[1];
    size_t n = (size_t)arg_long(argc, argv, 2, 64);
    long calls = arg_long(argc, argv, 3, 1000);
    if (n == 0) DIE("SIZE must be > 0");
    bench_init();
    uint8_t *hx = xalloc(n), *hy = xalloc(n), *hz = xalloc(n);
    fill_pattern(hx, n, 1);
    fill_pattern(hy, n, 2);
    nrt_tensor_t *tx = dev_tensor(0, n, "x"), *ty = dev_tensor(0, n, "y"), *tz = dev_tensor(0, n, "z");
    const char *in_names[] = {"x", "y"}, *out_names[] = {"z"};
    const size_t sizes[] = {n, n};
    nrt_tensor_t *ins[] = {tx, ty};
    nrt_tensor_set_t *in = tensor_set(2, in_names, ins), *out = tensor_set(1, out_names, &tz);
    nrt_model_t *model = load_affine("cost", 0, 0, MUL, ADD, 2, in_names, sizes, 1, out_names, sizes);
    OK(nrt_tensor_write(tx, hx, 0, n));
    OK(nrt_tensor_write(ty, hy, 0, n));

    static const char *const ops[] = {"write", "read", "copy", "exec", "schedule"};
    int kind = -1;
    for (int k = 0; k < 5; k++)
        if (!strcmp(op, ops[k])) kind = k;
    if (kind < 0) DIE("unknown OP %s", op);
    uint64_t t0 = 0;
    for (long i = -1; i < calls; i++) {
        if (i == 0) t0 = now_ns();
        switch (kind) {
        case 0: OK(nrt_tensor_write(tz, hx, 0, n)); break;
        case 1: OK(nrt_tensor_read(tx, hz, 0, n)); break;
        case 2: OK(nrt_tensor_copy(tx, 0, tz, 0, n)); break;
        case 3: OK(nrt_execute(model, in, out)); break;
        case 4: {
            volatile NRT_STATUS st = PENDING_STATUS;
            nrta_seq_t seq = 0;
            OK(nrta_execute_schedule(model, in, out, 0, (NRT_STATUS *)&st, &seq));
            for (;;) {
                bool done = false;
                OK(nrta_is_completed(seq, &done));
                if (done) break;
            }
            if (st != NRT_SUCCESS) DIE("execution status %d", (int)st);
            break;
        }
        }
    }
    uint64_t ns = now_ns() - t0;

    /* What the last op left. */
    if (kind == 1) {
        if (memcmp(hz, hx, n) != 0) DIE("read: the bytes differ from those written");
    } else {
        OK(nrt_tensor_read(tz, hz, 0, n));
        if (kind == 0 || kind == 2) {
            if (memcmp(hz, hx, n) != 0) DIE("%s: the destination differs from the source", op);
        } else {
            const uint8_t *src[] = {hx, hy};
            check_affine("output z", calls, MUL, ADD, src, sizes, 2, hz, n);
        }
    }
    nrt_destroy_tensor_set(&in);
    nrt_destroy_tensor_set(&out);
    nrt_tensor_free(&tx);
    nrt_tensor_free(&ty);
    nrt_tensor_free(&tz);
    OK(nrt_unload(model));
    nrt_close();
    free(hx);
    free(hy);
    free(hz);
    printf("calls: %ld\nns_per_call: %.1f\n", calls, (double)ns / (double)(calls ? calls : 1));
    return 0;
}
