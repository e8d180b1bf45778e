/*
 * w3_pipeline.c - workload 3, legacy: a two-stage pipeline across cores through the host.
 *
 * Fixed configuration (argv[1] overrides ITERATIONS only):
 *   ITERATIONS  400 items
 *   MODEL_US    1000 us per execution, model A on core 0, model B on core 1
 *   HOST_US     200 us of host work per item (preparing A's input)
 *   model A     a (8 KiB) -> ya (8 KiB)
 *   model B     xb (8 KiB, A's output copied through the host), c (64 B, written once) -> yb (8 KiB)
 * Two sets per model (software pipelining in one thread). Step i: prepare item i,
 * write it into A's set i%2, execute A(i); read A(i-1)'s output, check it, write it
 * into B's set (i-1)%2, execute B(i-1); read B(i-2)'s output and check it (against
 * B's formula applied to A's).
 */
#define _GNU_SOURCE
#include "bench.h"

#define ITERATIONS 400
#define MODEL_US 1000
#define HOST_US 200
#define MA 3
#define AA 1
#define MB 7
#define AB 5
#define N 8192
#define CN 64

static nrt_tensor_t *ta[2][2], *tb[2][2]; /* [set][in, out] */
static nrt_tensor_t *tc;                   /* B's constant input, shared by both sets */
static nrt_tensor_set_t *sa_in[2], *sa_out[2], *sb_in[2], *sb_out[2];
static uint8_t ha[2][N], hya[2][N], hyb[N], hc[CN];

int main(int argc, char **argv) {
    long iterations = arg_long(argc, argv, 1, ITERATIONS);
    bench_init();
    const char *a_in[] = {"a"}, *a_out[] = {"ya"}, *b_in[] = {"xb", "c"}, *b_out[] = {"yb"};
    const size_t n1[] = {N}, b_sizes[] = {N, CN};
    nrt_model_t *ma = load_affine("stage_a", MODEL_US, 0, MA, AA, 1, a_in, n1, 1, a_out, n1);
    nrt_model_t *mb = load_affine("stage_b", MODEL_US, 1, MB, AB, 2, b_in, b_sizes, 1, b_out, n1);
    tc = dev_tensor(1, CN, "c");
    fill_pattern(hc, CN, 77);
    OK(nrt_tensor_write(tc, hc, 0, CN));
    for (int s = 0; s < 2; s++) {
        ta[s][0] = dev_tensor(0, N, "a");
        ta[s][1] = dev_tensor(0, N, "ya");
        tb[s][0] = dev_tensor(1, N, "xb");
        tb[s][1] = dev_tensor(1, N, "yb");
        sa_in[s] = tensor_set(1, a_in, &ta[s][0]);
        sa_out[s] = tensor_set(1, a_out, &ta[s][1]);
        nrt_tensor_t *bi[] = {tb[s][0], tc};
        sb_in[s] = tensor_set(2, b_in, bi);
        sb_out[s] = tensor_set(1, b_out, &tb[s][1]);
    }

    uint64_t t0 = now_us();
    for (long i = 0; i < iterations + 2; i++) {
        if (i < iterations) { /* stage A of item i */
            int s = (int)(i % 2);
            fill_pattern(ha[s], N, (uint32_t)(5 * i));
            host_work_us(HOST_US);
            OK(nrt_tensor_write(ta[s][0], ha[s], 0, N));
            OK(nrt_execute(ma, sa_in[s], sa_out[s]));
        }
        if (i >= 1 && i <= iterations) { /* A's output of item i-1 -> stage B */
            int s = (int)((i - 1) % 2);
            OK(nrt_tensor_read(ta[s][1], hya[s], 0, N));
            const uint8_t *src[] = {ha[s]};
            check_affine("stage A output", i - 1, MA, AA, src, n1, 1, hya[s], N);
            OK(nrt_tensor_write(tb[s][0], hya[s], 0, N));
            OK(nrt_execute(mb, sb_in[s], sb_out[s]));
        }
        if (i >= 2) { /* B's output of item i-2 */
            int s = (int)((i - 2) % 2);
            OK(nrt_tensor_read(tb[s][1], hyb, 0, N));
            const uint8_t *src[] = {hya[s], hc};
            check_affine("stage B output", i - 2, MB, AB, src, b_sizes, 2, hyb, N);
        }
    }
    uint64_t elapsed = now_us() - t0;

    for (int s = 0; s < 2; s++) {
        nrt_destroy_tensor_set(&sa_in[s]);
        nrt_destroy_tensor_set(&sa_out[s]);
        nrt_destroy_tensor_set(&sb_in[s]);
        nrt_destroy_tensor_set(&sb_out[s]);
        for (int k = 0; k < 2; k++) {
            nrt_tensor_free(&ta[s][k]);
            nrt_tensor_free(&tb[s][k]);
        }
    }
    nrt_tensor_free(&tc);
    OK(nrt_unload(ma));
    OK(nrt_unload(mb));
    nrt_close();
    print_result(iterations, elapsed);
    return 0;
}
