/*
 * w4_eager.c - workload 4, legacy: an eager stream of tiny executions.
 *
 * Fixed configuration (argv[1] overrides ITERATIONS only):
 *   ITERATIONS  5000 executions
 *   MODEL_US    50 us per execution (core 0), no host work between them
 *   model       x (64 B) -> y (64 B), y = 3x + 1 bytewise
 *   READ_EVERY  100: the output of every 100th execution is read and checked
 * Eager-mode style chain: two 64-byte tensors p and q; execution i reads one and
 * writes the other (sets {x:p}->{y:q} and {x:q}->{y:p} alternate), so each
 * execution consumes its predecessor's output on the device. The host replays the
 * chain to check every read.
 */
#define _GNU_SOURCE
#include "bench.h"

#define ITERATIONS 5000
#define MODEL_US 50
#define READ_EVERY 100
#define MUL 3
#define ADD 1
#define NB 64

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
    uint8_t hv[NB], got[NB];
    fill_pattern(hv, NB, 9);
    OK(nrt_tensor_write(t[0], hv, 0, NB));

    long checked = 0;
    uint64_t t0 = now_us();
    for (long i = 0; i < iterations; i++) {
        int s = (int)(i % 2);
        OK(nrt_execute(model, in[s], out[s]));
        for (int j = 0; j < NB; j++) hv[j] = (uint8_t)(MUL * hv[j] + ADD);
        if ((i + 1) % READ_EVERY == 0) {
            OK(nrt_tensor_read(t[1 - s], got, 0, NB));
            for (int j = 0; j < NB; j++)
                if (got[j] != hv[j]) DIE("execution %ld: byte %d is %u, the formula gives %u", i, j, got[j], hv[j]);
            checked++;
        }
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
