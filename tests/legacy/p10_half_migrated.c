/*
 * p10_half_migrated.c - legacy program 10: half-migrated to the explicit async API.
 *
 * Teams migrate one loop at a time, so this program mixes the legacy calls with its
 * own nrta_* requests on the same tensors. Per iteration, one model (x -> y, affine):
 *   (a) legacy nrt_tensor_write + nrt_execute produce Y; the program reads Y with its
 *       own nrta_tensor_read and waits for it;
 *   (b) the program writes X with its own nrta_tensor_write, then a legacy nrt_execute
 *       consumes X; it schedules its own nrta_execute_schedule (X -> Y), then a legacy
 *       nrt_tensor_read consumes Y;
 *   (c) legacy nrt_execute X -> Y, the program's own nrta_execute_schedule Y -> Z, then
 *       legacy nrt_execute Z -> Y (reads what the program's request wrote, overwrites
 *       what it read), then a legacy read of Y.
 * Every output is checked against the formula.
 *
 * mode "wait": the program waits for each of its requests before the next legacy
 * call that touches the same bytes. That is what a program correct under the
 * synchronous runtime must do: the runtime orders nothing across its units, so a
 * legacy call does not wait for an nrta_* request either. With the shim the results
 * are the same (the reference comparison).
 * mode "nowait": it waits for its requests only at the end of the iteration, before
 * reusing its buffers. Racy under the synchronous runtime (the simulator's oracle
 * counts the hazards); with the shim, each legacy call waits for the program's
 * requests on its bytes, so the results are as if each request had been waited for.
 *
 * The program's sequence numbers, status pointers (v3) and error tracker (v2) are
 * its own: at the end, every status it was given must be success and the tracker
 * must hold no error (the shim consumed nothing of it).
 *
 * usage: p10_half_migrated [iterations=4] [wait|nowait]
 */
#define _GNU_SOURCE
#include "common.h"

#include <nrt/nrt_async.h>

#define N 4096
#define MUL 7
#define ADD 3

static const char *MODEL = "nrt-sim-model 1\n"
                           "name half\n"
                           "latency_us 400\n"
                           "input x 4096\n"
                           "output y 4096\n"
                           "compute affine 7 3\n";

#define UNSET 0x7fffffffu

#ifdef NRTA_ABI_V2
static nrta_error_tracker_t *g_tracker;
#define ERR_ARG(statusp) ((void)(statusp), g_tracker)
#define LNC_ARG
#else
#define ERR_ARG(statusp) (statusp)
#define LNC_ARG 0,
#endif

/* The program's own requests of this iteration (waited for, and their statuses checked). */
typedef struct {
    nrta_seq_t seq;
    NRT_STATUS status;
} req_t;
static req_t g_reqs[16];
static int g_nreqs;

static req_t *new_req(void) {
    if (g_nreqs == (int)(sizeof g_reqs / sizeof g_reqs[0])) DIE("too many requests");
    req_t *r = &g_reqs[g_nreqs++];
    r->seq = 0;
    r->status = UNSET;
    return r;
}

/* Polls nrta_is_completed until the request is done, as the migration guide shows. */
static void wait_req(const req_t *r) {
    uint64_t t0 = now_us();
    for (;;) {
        bool done = false;
        OK(nrta_is_completed(r->seq, &done));
        if (done) break;
        if (now_us() - t0 > 20000000) DIE("request %llx not complete after 20 s", (unsigned long long)r->seq);
        sleep_us(20);
    }
#ifndef NRTA_ABI_V2
    if (r->status != NRT_SUCCESS) DIE("request %llx completed with status %u", (unsigned long long)r->seq, r->status);
#endif
}

static void wait_all_reqs(void) {
    for (int i = 0; i < g_nreqs; i++) wait_req(&g_reqs[i]);
    g_nreqs = 0;
}

/* A racy run (nowait without the shim) counts mismatches instead of failing, so that
 * it runs to the end and the simulator's report shows its hazards. */
static int g_lenient;
static long g_mismatches;

static void expect(const char *what, const uint8_t *got, const uint8_t *want) {
    if (memcmp(got, want, N) == 0) return;
    if (g_lenient) {
        g_mismatches++;
        return;
    }
    CHECK_BYTES(what, got, want, N);
}

/* want = f(in) */
static void model_of(const uint8_t *in, uint8_t *want) {
    inbuf_t b = {in, N};
    affine_fill(MUL, ADD, &b, 1, want, N);
}

static void set_of(nrt_tensor_set_t **set, const char *name, nrt_tensor_t *t) {
    CK(nrt_allocate_tensor_set(set));
    CK(nrt_add_tensor_to_tensor_set(*set, name, t));
}

int main(int argc, char **argv) {
    long iterations = arg_long(argc, argv, 1, 4);
    const char *mode = arg_str(argc, argv, 2, "wait");
    int wait = strcmp(mode, "wait") == 0;
    if (!wait && strcmp(mode, "nowait") != 0) DIE("mode %s: wait or nowait", mode);
    g_lenient = !wait && !shim_active();
    print_shim_line();
    init_runtime();
#ifdef NRTA_ABI_V2
    OK(nrta_error_tracker_create(0, &g_tracker));
#endif

    nrt_model_t *model = NULL;
    load_model(MODEL, 0, &model);
    nrt_tensor_t *X = NULL, *Y = NULL, *Z = NULL;
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, N, "X", &X));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, N, "Y", &Y));
    CK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, N, "Z", &Z));
    nrt_tensor_set_t *inX, *outY, *inY, *outZ, *inZ;
    set_of(&inX, "x", X);
    set_of(&outY, "y", Y);
    set_of(&inY, "x", Y);
    set_of(&outZ, "y", Z);
    set_of(&inZ, "x", Z);

    uint8_t *hx = xmalloc(N), *hy = xmalloc(N), *hx2 = xmalloc(N), *want = xmalloc(N), *tmp = xmalloc(N);
    uint8_t *f1 = xmalloc(N), *f2 = xmalloc(N);
    for (long it = 0; it < iterations; it++) {
        /* (a) legacy producer, the program's own asynchronous read. */
        fill_pattern(hx, N, (uint32_t)(10 * it + 1));
        CK(nrt_tensor_write(X, hx, 0, N));
        CK(nrt_execute(model, inX, outY));
        memset(hy, 0, N);
        req_t *r = new_req();
        CK(nrta_tensor_read(hy, Y, 0, N, LNC_ARG 0, ERR_ARG(&r->status), &r->seq));
        wait_req(r);
        g_nreqs = 0;
        model_of(hx, want);
        expect("(a) Y read by nrta_tensor_read", hy, want);
        digest_bytes(gd(), hy, N);

        /* (b) the program's own write and execution, legacy consumers. */
        fill_pattern(hx2, N, (uint32_t)(10 * it + 2));
        r = new_req();
        CK(nrta_tensor_write(X, hx2, 0, N, LNC_ARG 0, ERR_ARG(&r->status), &r->seq));
        if (wait) wait_req(r);
        CK(nrt_execute(model, inX, outY)); /* reads X as the program's write left it */
        read_tensor(Y, hy, 0, N);
        model_of(hx2, f1);
        expect("(b) Y of a legacy execution after nrta_tensor_write", hy, f1);
        r = new_req();
        CK(nrta_execute_schedule(model, inY, outZ, 0, ERR_ARG(&r->status), &r->seq)); /* Z = f(Y) */
        if (wait) wait_req(r);
        read_tensor(Z, tmp, 0, N); /* legacy read of the program's output */
        model_of(hy, want);
        expect("(b) Z of nrta_execute_schedule, read by nrt_tensor_read", tmp, want);

        /* (c) legacy X -> Y, the program's Y -> Z, legacy Z -> Y. */
        CK(nrt_execute(model, inX, outY)); /* Y = f(hx2) */
        r = new_req();
        CK(nrta_execute_schedule(model, inY, outZ, 0, ERR_ARG(&r->status), &r->seq)); /* Z = f(f(hx2)) */
        if (wait) wait_req(r);
        CK(nrt_execute(model, inZ, outY)); /* Y = f(f(f(hx2))) */
        read_tensor(Y, hy, 0, N);
        model_of(f1, f2);
        model_of(f2, want);
        expect("(c) Y after legacy, own, legacy executions", hy, want);
        wait_all_reqs();
    }

#ifdef NRTA_ABI_V2
    const nrta_error_t *list = NULL;
    size_t count = 0;
    OK(nrta_error_tracker_get_list(g_tracker, &list, &count));
    if (count) DIE("the program's error tracker holds %zu errors", count);
    nrta_error_tracker_destroy(g_tracker);
#endif
    free(hx);
    free(hy);
    free(hx2);
    free(want);
    free(tmp);
    free(f1);
    free(f2);
    nrt_tensor_free(&X);
    nrt_tensor_free(&Y);
    nrt_tensor_free(&Z);
    nrt_destroy_tensor_set(&inX);
    nrt_destroy_tensor_set(&outY);
    nrt_destroy_tensor_set(&inY);
    nrt_destroy_tensor_set(&outZ);
    nrt_destroy_tensor_set(&inZ);
    CK(nrt_unload(model));
    nrt_close();
    printf("mode: %s\n", mode);
    if (g_lenient) printf("mismatches: %ld\n", g_mismatches);
    print_digest("digest", gd());
    return 0;
}
