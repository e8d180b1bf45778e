/*
 * p2_half.c - tests/legacy/p2_double_buffer.c with its loop migrated to nrta_*
 * (explicit async, v3): the worked example of docs/migrating.md. Set-up, the
 * output checks (legacy nrt_tensor_read) and teardown stay legacy: a
 * half-migrated program.
 *
 * Iteration i writes set i%2's inputs with nrta_tensor_write (the tensor-op
 * unit), schedules request i with nrta_execute_schedule (the compute unit), then
 * checks request i-1's outputs. Nothing orders two units, so the program waits
 * itself (eventfd completion):
 *   correct:    for the input writes before scheduling the execution, and for
 *               request i-1 before reading its outputs;
 *   stale-read: forgets the second wait (request i-1's outputs are read while
 *               it may still run: the migration guide's "stale data");
 *   early-exec: forgets the first wait (the execution may read inputs still
 *               being written).
 * The racy modes count wrong outputs ("wrong_outputs: N") instead of failing.
 *
 * usage: p2_half [iterations=40] [latency_us=300] [host_us=0] [mode=correct]
 * Prints "elapsed_us: N" (the loop's wall time), as p2_double_buffer does.
 */
#define _GNU_SOURCE
#include "../legacy/common.h"

#include <errno.h>
#include <nrt/nrt_async.h>
#include <sys/eventfd.h>
#include <unistd.h>

#ifdef NRTA_ABI_V2
#error "p2_half.c is written for the v3 nrta_* API (SDK 2.31 and later)"
#endif

#define MUL 5
#define ADD 11
#define XN 4096
#define YN 64
#define ZN 4096
#define WN 100

typedef struct {
    nrt_tensor_t *x, *y, *z, *w;
    nrt_tensor_set_t *in, *out;
    uint8_t hx[XN], hy[YN], hz[ZN], hw[WN];
    long req;
    /* Written by the runtime when each request completes: alive until then. */
    NRT_STATUS st_x, st_y, st_exec;
    nrta_seq_t seq_exec;
    int pending;
} buf_t;

static buf_t g_buf[2];
static int g_efd = -1;
static long g_wrong;

/* Blocks until request seq has completed (the runtime signals the eventfd). */
static void wait_seq(nrta_seq_t seq) {
    OK(nrta_event_register_seq_id_completion(seq, g_efd));
    for (;;) {
        uint64_t n = 0;
        ssize_t r = read(g_efd, &n, sizeof n);
        if (r == (ssize_t)sizeof n) return;
        if (r < 0 && errno == EINTR) continue;
        DIE("reading the completion eventfd: %s", strerror(errno));
    }
}

static void wait_exec(buf_t *b) {
    if (!b->pending) return;
    wait_seq(b->seq_exec);
    b->pending = 0;
    if (b->st_exec != NRT_SUCCESS) DIE("request %ld completed with %d", b->req, (int)b->st_exec);
}

static void check_outputs(buf_t *b, int strict) {
    read_tensor(b->z, b->hz, 0, ZN);
    read_tensor(b->w, b->hw, 0, WN);
    inbuf_t in[2] = {{b->hx, XN}, {b->hy, YN}};
    if (strict) {
        char what[64];
        snprintf(what, sizeof what, "request %ld output z", b->req);
        CHECK_AFFINE(what, MUL, ADD, in, 2, b->hz, ZN);
        snprintf(what, sizeof what, "request %ld output w", b->req);
        CHECK_AFFINE(what, MUL, ADD, in, 2, b->hw, WN);
        return;
    }
    for (size_t j = 0; j < ZN; j++) {
        if (b->hz[j] != affine_byte(MUL, ADD, in, 2, j)) {
            g_wrong++;
            return;
        }
    }
}

int main(int argc, char **argv) {
    long iterations = arg_long(argc, argv, 1, 40);
    long lat = arg_long(argc, argv, 2, 300);
    long host_us = arg_long(argc, argv, 3, 0);
    const char *mode = arg_str(argc, argv, 4, "correct");
    int stale_read = strcmp(mode, "stale-read") == 0, early_exec = strcmp(mode, "early-exec") == 0;
    if (!stale_read && !early_exec && strcmp(mode, "correct") != 0)
        DIE("mode must be correct, stale-read or early-exec, not %s", mode);
    print_shim_line();
    init_runtime();
    g_efd = eventfd(0, EFD_CLOEXEC);
    if (g_efd < 0) DIE("eventfd: %s", strerror(errno));

    char text[512];
    nrt_model_t *model = NULL;
    load_model(model_text(text, sizeof text,
                          "nrt-sim-model 1\nname double_buffer\nlatency_us %ld\n"
                          "input x %d\ninput y %d\noutput z %d\noutput w %d\ncompute affine %d %d\n",
                          lat, XN, YN, ZN, WN, MUL, ADD),
               0, &model);

    for (int s = 0; s < 2; s++) {
        buf_t *b = &g_buf[s];
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, XN, "x", &b->x));
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, YN, "y", &b->y));
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, ZN, "z", &b->z));
        CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, WN, "w", &b->w));
        CK(nrt_allocate_tensor_set(&b->in));
        CK(nrt_allocate_tensor_set(&b->out));
        CK(nrt_add_tensor_to_tensor_set(b->in, "x", b->x));
        CK(nrt_add_tensor_to_tensor_set(b->in, "y", b->y));
        CK(nrt_add_tensor_to_tensor_set(b->out, "z", b->z));
        CK(nrt_add_tensor_to_tensor_set(b->out, "w", b->w));
    }

    uint64_t t0 = now_us();
    for (long i = 0; i < iterations; i++) {
        buf_t *b = &g_buf[i % 2];
        /* Set i%2 was last used by request i-2, waited for in iteration i-1. */
        wait_exec(b);
        fill_pattern(b->hx, XN, (uint32_t)(3 * i));
        fill_pattern(b->hy, YN, (uint32_t)(3 * i + 1));
        if (host_us > 0) sleep_us((uint64_t)host_us);
        b->req = i;
        nrta_seq_t sx = 0, sy = 0;
        OK(nrta_tensor_write(b->x, b->hx, 0, XN, 0, 0, &b->st_x, &sx));
        OK(nrta_tensor_write(b->y, b->hy, 0, YN, 0, 0, &b->st_y, &sy));
        /* One queue runs in order: y's write done means x's is too. */
        if (!early_exec) wait_seq(sy);
        OK(nrta_execute_schedule(model, b->in, b->out, 0, &b->st_exec, &b->seq_exec));
        b->pending = 1;
        if (early_exec) wait_seq(sy); /* the status words must outlive the writes */
        if (b->st_x != NRT_SUCCESS || b->st_y != NRT_SUCCESS) DIE("an input write of request %ld failed", i);
        if (i > 0) {
            buf_t *p = &g_buf[(i - 1) % 2];
            if (!stale_read) wait_exec(p);
            check_outputs(p, !stale_read && !early_exec);
        }
    }
    if (iterations > 0) {
        buf_t *last = &g_buf[(iterations - 1) % 2];
        wait_exec(last);
        check_outputs(last, !stale_read && !early_exec);
    }
    uint64_t elapsed = now_us() - t0;
    for (int s = 0; s < 2; s++) wait_exec(&g_buf[s]);

    for (int s = 0; s < 2; s++) {
        buf_t *b = &g_buf[s];
        nrt_destroy_tensor_set(&b->in);
        nrt_destroy_tensor_set(&b->out);
        nrt_tensor_free(&b->x);
        nrt_tensor_free(&b->y);
        nrt_tensor_free(&b->z);
        nrt_tensor_free(&b->w);
    }
    CK(nrt_unload(model));
    nrt_close();
    close(g_efd);
    printf("elapsed_us: %llu\n", (unsigned long long)elapsed);
    printf("wrong_outputs: %ld\n", g_wrong);
    print_digest("digest", gd());
    return 0;
}
