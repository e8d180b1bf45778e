/*
 * contract.c - regressions of issue 12 (items 2, 5, 6, 7): programs correct under
 * the synchronous runtime that the shim once answered differently.
 *
 *   contract free-alloc N        free a tensor still in use (at times that sweep its
 *                                completion), allocate at once, device memory tight
 *                                (NRT_SIM_DEVICE_MEMORY=24K): N rounds
 *   contract freed-handles       calls on a handle freed while an execution uses it
 *   contract host-order          host-tensor executions among device ones, runtime
 *                                queue full (NRT_SIM_QUEUE_DEPTH=1), fail_every 3
 *   contract derived             a failed request, consumers of its output, drains
 *   contract callback            a callback, failures, derived failures, host tensors
 *   contract poisoned-count      output completion count of a consumer of failed bytes
 *
 * Prints "key: value" lines; tests/contract.rs compares them with the reference
 * run (the simulator alone) and with the contract (README.md, "Errors").
 */
#define _GNU_SOURCE
#include "../legacy/common.h"

#define N 64

static char g_text[512];

static nrt_model_t *model(const char *name, int latency_us, size_t out, int fail_every) {
    char fail[64] = "";
    if (fail_every > 0) snprintf(fail, sizeof fail, "fail_every %d 1004\n", fail_every);
    model_text(g_text, sizeof g_text,
               "nrt-sim-model 1\nname %s\nlatency_us %d\ninput x %d\noutput y %zu\ncompute affine 3 1\n%s", name,
               latency_us, N, out, fail);
    nrt_model_t *m = NULL;
    OK(nrt_load(g_text, strlen(g_text), 0, -1, &m));
    return m;
}

static nrt_tensor_t *tensor(nrt_tensor_placement_t where, size_t size) {
    nrt_tensor_t *t = NULL;
    OK(nrt_tensor_allocate(where, where == NRT_TENSOR_PLACEMENT_DEVICE ? 0 : -1, size, "t", &t));
    return t;
}

static nrt_tensor_set_t *set_of(const char *name, nrt_tensor_t *t) {
    nrt_tensor_set_t *s = NULL;
    OK(nrt_allocate_tensor_set(&s));
    OK(nrt_add_tensor_to_tensor_set(s, name, t));
    return s;
}

static nrt_tensor_t *input(nrt_tensor_placement_t where) {
    nrt_tensor_t *t = tensor(where, N);
    uint8_t buf[N];
    fill_pattern(buf, N, 1);
    OK(nrt_tensor_write(t, buf, 0, N));
    return t;
}

static NRT_STATUS read_st(nrt_tensor_t *t) {
    uint8_t buf[N];
    return nrt_tensor_read(t, buf, 0, N);
}

/* Item 2: the shim's "complete the deferred frees and retry once" must see a
 * free in progress in the completion thread. */
static void free_alloc(int rounds) {
    const size_t big = 14 * 1024;
    const int latency = 2000;
    nrt_model_t *m = model("big", latency, big, 0);
    nrt_tensor_set_t *in = set_of("x", input(NRT_TENSOR_PLACEMENT_DEVICE));
    int failures = 0;
    for (int i = 0; i < rounds; i++) {
        nrt_tensor_t *a = tensor(NRT_TENSOR_PLACEMENT_DEVICE, big);
        nrt_tensor_set_t *out = set_of("y", a);
        OK(nrt_execute(m, in, out));
        nrt_destroy_tensor_set(&out);
        /* free at a point that sweeps the request's completion: the race is there */
        sleep_us((uint64_t)(latency - 500 + (i * 37) % 1000));
        nrt_tensor_free(&a); /* still in use under the shim */
        nrt_tensor_t *b = NULL;
        NRT_STATUS st = nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, big, "b", &b);
        if (st != NRT_SUCCESS) {
            failures++;
            printf("round %d: nrt_tensor_allocate returned %d (%s)\n", i, (int)st, status_name(st));
        } else {
            nrt_tensor_free(&b);
        }
    }
    printf("alloc_failures: %d\n", failures);
}

/* Item 5: a freed handle is bad input even while the shim defers its free. */
static void freed_handles(void) {
    nrt_model_t *m = model("slow", 200000, N, 0);
    nrt_tensor_set_t *in = set_of("x", input(NRT_TENSOR_PLACEMENT_DEVICE));
    nrt_tensor_t *t = tensor(NRT_TENSOR_PLACEMENT_DEVICE, N);
    nrt_tensor_set_t *out = set_of("y", t);
    OK(nrt_execute(m, in, out));
    nrt_tensor_t *stale = t, *again = t;
    nrt_tensor_free(&t);
    nrt_tensor_set_t *other = NULL;
    OK(nrt_allocate_tensor_set(&other));
    printf("add_to_set: %d\n", (int)nrt_add_tensor_to_tensor_set(other, "y", stale));
    nrt_tensor_t *slice = NULL;
    printf("allocate_slice: %d\n", (int)nrt_tensor_allocate_slice(stale, 0, 8, "s", &slice));
    printf("get_size: %zu\n", nrt_tensor_get_size(stale));
    nrt_tensor_device_allocation_info_t info;
    printf("allocation_info: %d\n", (int)nrt_tensor_get_device_allocation_info(stale, &info));
    nrt_tensor_free(&again); /* a double free: the runtime must not free it under the request */
    printf("free_again: done\n");
    OK(nrt_async_drain_queued_execs(0));
}

/* Item 6: requests of one core reach the runtime in acceptance order, host
 * executions included; fail_every 3 shows the order. */
static void host_order(void) {
    static const char pattern[] = "ddhdhddhdhdd"; /* d: device input, h: host input */
    enum { K = sizeof pattern - 1 };
    nrt_model_t *m = model("m", 5000, N, 3);
    nrt_tensor_set_t *dev_in = set_of("x", input(NRT_TENSOR_PLACEMENT_DEVICE));
    nrt_tensor_set_t *host_in = set_of("x", input(NRT_TENSOR_PLACEMENT_HOST));
    nrt_tensor_t *y[K];
    nrt_tensor_set_t *out[K];
    NRT_STATUS ex[K];
    for (int k = 0; k < K; k++) {
        y[k] = tensor(NRT_TENSOR_PLACEMENT_DEVICE, N);
        out[k] = set_of("y", y[k]);
    }
    for (int k = 0; k < K; k++) ex[k] = nrt_execute(m, pattern[k] == 'h' ? host_in : dev_in, out[k]);
    printf("failed:");
    for (int k = 0; k < K; k++) {
        NRT_STATUS rd = read_st(y[k]);
        if (ex[k] != NRT_SUCCESS || rd != NRT_SUCCESS) printf(" %d", k);
    }
    printf("\n");
    nrt_async_drain_queued_execs(0);
}

/* Item 7: one report per device failure; derived failures share it. */
static void derived(void) {
    nrt_model_t *p = model("producer", 5000, N, 1); /* every execution fails */
    nrt_model_t *c = model("consumer", 5000, N, 0);
    nrt_tensor_t *x = input(NRT_TENSOR_PLACEMENT_DEVICE);
    nrt_tensor_t *y1 = tensor(NRT_TENSOR_PLACEMENT_DEVICE, N), *y2 = tensor(NRT_TENSOR_PLACEMENT_DEVICE, N);
    nrt_tensor_t *y3 = tensor(NRT_TENSOR_PLACEMENT_DEVICE, N);
    /* a read of the producer's output, then a drain */
    printf("exec_p: %d\n", (int)nrt_execute(p, set_of("x", x), set_of("y", y1)));
    printf("exec_c: %d\n", (int)nrt_execute(c, set_of("x", y1), set_of("y", y2)));
    printf("read_y1: %d\n", (int)read_st(y1));
    printf("read_y2: %d\n", (int)read_st(y2));
    printf("drain: %d\n", (int)nrt_async_drain_queued_execs(0));
    /* a chain nobody reads: the drain reports it once */
    printf("exec_p2: %d\n", (int)nrt_execute(p, set_of("x", x), set_of("y", y1)));
    printf("exec_c2: %d\n", (int)nrt_execute(c, set_of("x", y1), set_of("y", y2)));
    printf("exec_c3: %d\n", (int)nrt_execute(c, set_of("x", y2), set_of("y", y3)));
    printf("drain2: %d\n", (int)nrt_async_drain_queued_execs(0));
    printf("drain3: %d\n", (int)nrt_async_drain_queued_execs(0));
    printf("read_y3: %d\n", (int)read_st(y3));
}

#define MAXCB 64
static struct {
    uint64_t job;
    NRT_STATUS st;
} g_cb[MAXCB];
static volatile int g_ncb;

static void on_status(void *params, uint32_t model_id, uint32_t vnc, uint64_t job_id, NRT_STATUS status) {
    (void)params;
    (void)model_id;
    (void)vnc;
    int i = g_ncb;
    if (i < MAXCB) {
        g_cb[i].job = job_id;
        g_cb[i].st = status;
    }
    g_ncb = i + 1;
}

/* Item 7: a callback for every request on every path, in order, once. */
static void callback(void) {
    nrt_model_t *p = model("producer", 5000, N, 1);
    nrt_model_t *c = model("consumer", 5000, N, 0);
    OK(nrt_register_async_exec_callback(on_status, NULL));
    nrt_tensor_t *x = input(NRT_TENSOR_PLACEMENT_DEVICE), *xh = input(NRT_TENSOR_PLACEMENT_HOST);
    nrt_tensor_t *y[6];
    for (int k = 0; k < 6; k++) y[k] = tensor(NRT_TENSOR_PLACEMENT_DEVICE, N);
    NRT_STATUS ex[6];
    ex[0] = nrt_execute(p, set_of("x", x), set_of("y", y[0]));     /* fails */
    ex[1] = nrt_execute(c, set_of("x", y[0]), set_of("y", y[1]));  /* derived */
    ex[2] = nrt_execute(c, set_of("x", xh), set_of("y", y[2]));    /* host path */
    ex[3] = nrt_execute(c, set_of("x", x), set_of("y", y[3]));
    ex[4] = nrt_execute(p, set_of("x", xh), set_of("y", y[4]));    /* host path, fails */
    ex[5] = nrt_execute(c, set_of("x", x), set_of("y", y[5]));
    printf("exec:");
    for (int k = 0; k < 6; k++) printf(" %d", (int)ex[k]);
    printf("\ndrain: %d\n", (int)nrt_async_drain_queued_execs(0));
    int n = g_ncb;
    printf("callbacks: %d\ncallback_jobs:", n);
    for (int i = 0; i < n && i < MAXCB; i++) printf(" %llu", (unsigned long long)g_cb[i].job);
    printf("\ncallback_statuses:");
    for (int i = 0; i < n && i < MAXCB; i++) printf(" %d", (int)g_cb[i].st);
    printf("\nreads:");
    for (int k = 0; k < 6; k++) printf(" %d", (int)read_st(y[k]));
    printf("\n");
}

/* Item 7: a consumer of bytes known to be bad still reaches the runtime, so
 * the output completion count a program waits for is reached. */
static void poisoned_count(void) {
    nrt_model_t *p = model("producer", 5000, N, 1);
    nrt_model_t *c = model("consumer", 5000, N, 0);
    nrt_tensor_t *x = input(NRT_TENSOR_PLACEMENT_DEVICE);
    nrt_tensor_t *y1 = tensor(NRT_TENSOR_PLACEMENT_DEVICE, N), *y2 = tensor(NRT_TENSOR_PLACEMENT_DEVICE, N);
    printf("exec_p: %d\n", (int)nrt_execute(p, set_of("x", x), set_of("y", y1)));
    printf("read_y1: %d\n", (int)read_st(y1)); /* the failure is known from here on */
    printf("exec_c: %d\n", (int)nrt_execute(c, set_of("x", y1), set_of("y", y2)));
    printf("check: %d\n", (int)nrt_tensor_check_output_completion(y2, 5000000, 1));
    printf("read_y2: %d\n", (int)read_st(y2));
    printf("drain: %d\n", (int)nrt_async_drain_queued_execs(0));
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    print_shim_line();
    const char *what = arg_str(argc, argv, 1, "");
    init_runtime();
    if (strcmp(what, "free-alloc") == 0) {
        free_alloc((int)arg_long(argc, argv, 2, 10));
    } else if (strcmp(what, "freed-handles") == 0) {
        freed_handles();
    } else if (strcmp(what, "host-order") == 0) {
        host_order();
    } else if (strcmp(what, "derived") == 0) {
        derived();
    } else if (strcmp(what, "callback") == 0) {
        callback();
    } else if (strcmp(what, "poisoned-count") == 0) {
        poisoned_count();
    } else {
        DIE("usage: contract free-alloc N | freed-handles | host-order | derived | callback | poisoned-count");
    }
    nrt_close();
    return 0;
}
