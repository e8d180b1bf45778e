/*
 * w4_eager_expert.c - workload 4 rewritten by hand on the v3 nrta_* API.
 *
 * Same configuration and data flow as w4_eager.c: ITERATIONS 5000 executions of a
 * 50 us model chained through two 64-byte tensors, every 100th output read.
 * Executions are scheduled back to back on core 0's compute queue with up to
 * DEPTH = 3 in flight (the in-order queue carries the chain's dependencies, so no
 * host wait is needed between them); when 3 are queued the oldest is polled and its
 * status checked. On a read point the execution is polled, its output read on the
 * tensor-op unit while the next execution (which only reads that tensor) is already
 * queued; the read is waited for before the execution that overwrites the tensor.
 */
#define _GNU_SOURCE
#define NRT_BENCH_EXPERT
#include "bench.h"

#define ITERATIONS 5000
#define MODEL_US 50
#define READ_EVERY 100
#define MUL 3
#define ADD 1
#define NB 64
#define DEPTH 3

static nrta_seq_t eseq[DEPTH];
static volatile NRT_STATUS est[DEPTH];
static long oldest, next; /* executions [oldest, next) are in flight */

static void retire_until(long upto) { /* waits for executions below upto */
    while (oldest < upto) {
        wait_ok(eseq[oldest % DEPTH], &est[oldest % DEPTH], "execution");
        oldest++;
    }
}

int main(int argc, char **argv) {
    long iterations = arg_long(argc, argv, 1, ITERATIONS);
    bench_init();
    const char *in_names[] = {"x"}, *out_names[] = {"y"};
    const size_t sizes[] = {NB};
    nrt_model_t *model = load_affine("tiny", MODEL_US, 0, MUL, ADD, 1, in_names, sizes, 1, out_names, sizes);
    nrt_tensor_t *t[2] = {dev_tensor(0, NB, "p"), dev_tensor(0, NB, "q")};
    nrt_tensor_set_t *in[2], *out[2];
    for (int s = 0; s < 2; s++) {
        in[s] = tensor_set(1, in_names, &t[s]);
        out[s] = tensor_set(1, out_names, &t[1 - s]);
    }
    uint8_t hv[NB], want[NB], got[NB];
    fill_pattern(hv, NB, 9);
    OK(nrt_tensor_write(t[0], hv, 0, NB));

    long checked = 0, read_of = -1; /* the execution whose output a pending read holds */
    volatile NRT_STATUS rst = PENDING_STATUS;
    nrta_seq_t rseq = 0;
    uint64_t t0 = now_us();
    for (long i = 0; i < iterations; i++) {
        int s = (int)(i % 2);
        if (read_of >= 0 && i == read_of + 2) { /* execution i overwrites what is being read */
            wait_ok(rseq, &rst, "read");
            for (int j = 0; j < NB; j++)
                if (got[j] != want[j]) DIE("execution %ld: byte %d is %u, the formula gives %u", read_of, j, got[j],
                                           want[j]);
            checked++;
            read_of = -1;
        }
        retire_until(i - DEPTH + 1);
        est[i % DEPTH] = PENDING_STATUS;
        OK(nrta_execute_schedule(model, in[s], out[s], 0, (NRT_STATUS *)&est[i % DEPTH], &eseq[i % DEPTH]));
        next = i + 1;
        for (int j = 0; j < NB; j++) hv[j] = (uint8_t)(MUL * hv[j] + ADD);
        if (read_of >= 0 && i == read_of + 1) continue;
        if ((i + 1) % READ_EVERY == 0) {
            retire_until(i + 1);
            memcpy(want, hv, NB);
            rst = PENDING_STATUS;
            OK(nrta_tensor_read(got, t[1 - s], 0, NB, 0, 0, (NRT_STATUS *)&rst, &rseq));
            read_of = i;
        }
    }
    retire_until(next);
    if (read_of >= 0) {
        wait_ok(rseq, &rst, "read");
        for (int j = 0; j < NB; j++)
            if (got[j] != want[j]) DIE("execution %ld: byte %d is %u, the formula gives %u", read_of, j, got[j],
                                       want[j]);
        checked++;
    }
    uint64_t elapsed = now_us() - t0;
    if (checked != iterations / READ_EVERY) DIE("checked %ld", checked);

    for (int s = 0; s < 2; s++) {
        nrt_destroy_tensor_set(&in[s]);
        nrt_destroy_tensor_set(&out[s]);
        nrt_tensor_free(&t[s]);
    }
    OK(nrt_unload(model));
    nrt_close();
    print_result(iterations, elapsed);
    return 0;
}
