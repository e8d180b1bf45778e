/*
 * p6_two_cores.c - legacy program 6: two threads, two cores, a model on each.
 *
 * Thread A (core 0) writes x, runs model A, reads its output y into a host buffer
 * and hands the buffer to thread B. Thread B (core 1) writes the buffer into u (a
 * tensor of core 1), writes a small v, runs model B and reads r. Both check every
 * output against the formula (B against A's formula composed with its own). Up to
 * two buffers are in the hand-off queue, so the cores run at the same time.
 *
 * usage: p6_two_cores [items=12]
 */
#define _GNU_SOURCE
#include "common.h"

#include <pthread.h>

#define YN 512
#define VN 32
#define RN 512
#define QCAP 2

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint8_t buf[QCAP][YN];
    long head, tail; /* items [head, tail) are queued */
} queue_t;

static queue_t g_q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{0}}, 0, 0};
static long g_items;
static nrt_model_t *g_model[2];
static digest_t g_digest[2] = {DIGEST_INIT, DIGEST_INIT};

static void push(const uint8_t *data) {
    pthread_mutex_lock(&g_q.lock);
    while (g_q.tail - g_q.head == QCAP) pthread_cond_wait(&g_q.cond, &g_q.lock);
    memcpy(g_q.buf[g_q.tail % QCAP], data, YN);
    g_q.tail++;
    pthread_cond_broadcast(&g_q.cond);
    pthread_mutex_unlock(&g_q.lock);
}

static void pop(uint8_t *data) {
    pthread_mutex_lock(&g_q.lock);
    while (g_q.tail == g_q.head) pthread_cond_wait(&g_q.cond, &g_q.lock);
    memcpy(data, g_q.buf[g_q.head % QCAP], YN);
    g_q.head++;
    pthread_cond_broadcast(&g_q.cond);
    pthread_mutex_unlock(&g_q.lock);
}

static void make_io(digest_t *d, int vnc, const char **names, const size_t *sizes, int nin, int nout,
                    nrt_tensor_t **t, nrt_tensor_set_t **in, nrt_tensor_set_t **out) {
    CHK(d, nrt_allocate_tensor_set(in));
    CHK(d, nrt_allocate_tensor_set(out));
    for (int i = 0; i < nin + nout; i++) {
        CHK(d, nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, vnc, sizes[i], names[i], &t[i]));
        CHK(d, nrt_add_tensor_to_tensor_set(i < nin ? *in : *out, names[i], t[i]));
    }
}

static void *producer(void *arg) {
    (void)arg;
    digest_t *d = &g_digest[0];
    const char *names[] = {"x", "y"};
    const size_t sizes[] = {300, YN};
    nrt_tensor_t *t[2];
    nrt_tensor_set_t *in, *out;
    make_io(d, 0, names, sizes, 1, 1, t, &in, &out);
    static uint8_t hx[300], hy[YN];
    for (long i = 0; i < g_items; i++) {
        fill_pattern(hx, sizeof hx, (uint32_t)(10 + i));
        CHK(d, nrt_tensor_write(t[0], hx, 0, sizeof hx));
        CHK(d, nrt_execute(g_model[0], in, out));
        read_d(d, t[1], hy, 0, YN);
        inbuf_t ins = {hx, sizeof hx};
        CHECK_AFFINE("core 0 output", 3, 5, &ins, 1, hy, YN);
        push(hy);
    }
    nrt_destroy_tensor_set(&in);
    nrt_destroy_tensor_set(&out);
    nrt_tensor_free(&t[0]);
    nrt_tensor_free(&t[1]);
    return NULL;
}

static void *consumer(void *arg) {
    (void)arg;
    digest_t *d = &g_digest[1];
    const char *names[] = {"u", "v", "r"};
    const size_t sizes[] = {YN, VN, RN};
    nrt_tensor_t *t[3];
    nrt_tensor_set_t *in, *out;
    make_io(d, 1, names, sizes, 2, 1, t, &in, &out);
    static uint8_t hu[YN], hv[VN], hr[RN], hx[300], hy[YN];
    for (long i = 0; i < g_items; i++) {
        pop(hu);
        /* What core 0 should have produced for item i. */
        fill_pattern(hx, sizeof hx, (uint32_t)(10 + i));
        inbuf_t xin = {hx, sizeof hx};
        affine_fill(3, 5, &xin, 1, hy, YN);
        CHECK_BYTES("the item handed over", hu, hy, YN);

        fill_pattern(hv, VN, (uint32_t)(40 + i));
        CHK(d, nrt_tensor_write(t[0], hu, 0, YN));
        CHK(d, nrt_tensor_write(t[1], hv, 0, VN));
        CHK(d, nrt_execute(g_model[1], in, out));
        read_d(d, t[2], hr, 0, RN);
        inbuf_t ins[2] = {{hu, YN}, {hv, VN}};
        CHECK_AFFINE("core 1 output", 11, 2, ins, 2, hr, RN);
    }
    nrt_destroy_tensor_set(&in);
    nrt_destroy_tensor_set(&out);
    for (int i = 0; i < 3; i++) nrt_tensor_free(&t[i]);
    return NULL;
}

int main(int argc, char **argv) {
    g_items = arg_long(argc, argv, 1, 12);
    print_shim_line();
    init_runtime();
    load_model("nrt-sim-model 1\nname producer\nlatency_us 400\ninput x 300\noutput y 512\ncompute affine 3 5\n", 0,
               &g_model[0]);
    load_model("nrt-sim-model 1\nname consumer\nlatency_us 300\ninput u 512\ninput v 32\noutput r 512\n"
               "compute affine 11 2\n",
               1, &g_model[1]);

    pthread_t ta, tb;
    if (pthread_create(&ta, NULL, producer, NULL) || pthread_create(&tb, NULL, consumer, NULL))
        DIE("pthread_create failed");
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);

    CK(nrt_unload(g_model[0]));
    CK(nrt_unload(g_model[1]));
    nrt_close();
    print_digest("digest_core0", &g_digest[0]);
    print_digest("digest_core1", &g_digest[1]);
    print_digest("digest", gd());
    return 0;
}
