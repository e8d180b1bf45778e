/*
 * bench.h - helpers shared by the nrt-bench workloads (bench/workloads/) and
 * microbenchmarks (bench/micro/).
 *
 * Every workload prints, on stdout, "iterations: N" and "elapsed_us: N" (the wall
 * time of its main loop) and checks every output it reads against the model
 * formula (the simulator's `compute affine M A`), exiting 1 with "FAIL ..." on a
 * mismatch or an unexpected status. The first argument, when given, overrides the
 * iteration count (nrt-bench passes tiny counts in --quick mode); everything else
 * is the fixed configuration documented at the top of each source.
 */
#ifndef NRT_BENCH_H
#define NRT_BENCH_H

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include <nrt/nrt.h>

#include "../../tests/include/nrt_test.h"

#define DIE(...) NRT_TEST_FAIL(__VA_ARGS__)

#define OK(expr) NRT_TEST_OK((expr), #expr)

static inline long arg_long(int argc, char **argv, int i, long def) {
    if (i >= argc) return def;
    char *end = NULL;
    long v = strtol(argv[i], &end, 10);
    if (end == argv[i] || *end != '\0' || v < 0) DIE("argument %d (%s) is not a non-negative integer", i, argv[i]);
    return v;
}

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t now_us(void) {
    return now_ns() / 1000ull;
}

/* Simulated host work (preprocessing): sleeps, so it leaves the CPU to the runtime's
 * threads as real work on another core would. Timer slack is lowered by bench_init. */
static inline void host_work_us(uint64_t us) {
    nrt_test_sleep_us(us);
}

static inline void bench_init(void) {
    prctl(PR_SET_TIMERSLACK, 1000ul, 0, 0, 0); /* 1 us, as the simulator's workers do */
    OK(nrt_init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
}

static inline void print_result(long iterations, uint64_t elapsed_us) {
    printf("iterations: %ld\nelapsed_us: %llu\n", iterations, (unsigned long long)elapsed_us);
}

/* Loads an affine model: inputs in[0..nin) and outputs out[0..nout) (names and sizes). */
static inline nrt_model_t *load_affine(const char *name, long latency_us, int vnc, unsigned mul, unsigned add,
                                       int nin, const char *const *in_names, const size_t *in_sizes, int nout,
                                       const char *const *out_names, const size_t *out_sizes) {
    char text[2048];
    int n = snprintf(text, sizeof text, "nrt-sim-model 1\nname %s\nlatency_us %ld\n", name, latency_us);
    for (int i = 0; i < nin; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "input %s %zu\n", in_names[i], in_sizes[i]);
    for (int i = 0; i < nout; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "output %s %zu\n", out_names[i], out_sizes[i]);
    n += snprintf(text + n, sizeof text - (size_t)n, "compute affine %u %u\n", mul, add);
    if (n <= 0 || (size_t)n >= sizeof text) DIE("model text too long");
    nrt_model_t *model = NULL;
    OK(nrt_load(text, strlen(text), vnc, -1, &model));
    if (!model) DIE("nrt_load gave NULL");
    return model;
}

static inline nrt_tensor_t *dev_tensor(int vnc, size_t size, const char *name) {
    nrt_tensor_t *t = NULL;
    OK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, vnc, size, name, &t));
    return t;
}

static inline nrt_tensor_set_t *tensor_set(int n, const char *const *names, nrt_tensor_t *const *tensors) {
    nrt_tensor_set_t *s = NULL;
    OK(nrt_allocate_tensor_set(&s));
    for (int i = 0; i < n; i++) OK(nrt_add_tensor_to_tensor_set(s, names[i], tensors[i]));
    return s;
}

/* A deterministic byte pattern: byte j of buffer `seed`. */
static inline uint8_t pattern_byte(uint32_t seed, uint32_t j) {
    uint32_t x = seed * 2654435761u ^ (j * 40503u + 0x9e3779b9u);
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    x ^= x >> 15;
    return (uint8_t)x;
}

static inline void fill_pattern(uint8_t *buf, size_t n, uint32_t seed) {
    for (size_t j = 0; j < n; j++) buf[j] = pattern_byte(seed, (uint32_t)j);
}

/* compute affine mul add: out[j] = (mul * S(j) + add) mod 256, S(j) = sum of in[k][j mod size_k] mod 256. */
static inline uint8_t affine_byte(unsigned mul, unsigned add, const uint8_t *const *in, const size_t *in_sizes,
                                  int nin, size_t j) {
    unsigned s = 0;
    for (int k = 0; k < nin; k++) s = (s + in[k][j % in_sizes[k]]) & 0xffu;
    return (uint8_t)(((mul & 0xffu) * s + add) & 0xffu);
}

/* Exits unless out (n bytes) is what the affine model computes from the inputs. */
static inline void check_affine(const char *what, long req, unsigned mul, unsigned add, const uint8_t *const *in,
                                const size_t *in_sizes, int nin, const uint8_t *out, size_t n) {
    for (size_t j = 0; j < n; j++) {
        uint8_t e = affine_byte(mul, add, in, in_sizes, nin, j);
        if (out[j] != e)
            DIE("%s of request %ld: byte %zu is %u, the model formula gives %u", what, req, j, (unsigned)out[j],
                (unsigned)e);
    }
}

#ifdef NRT_BENCH_EXPERT
#include <nrt/nrt_async.h>

/* NRT_STATUS values no request ever completes with: "not completed yet". */
#define PENDING_STATUS ((NRT_STATUS)0x7fff0001)

/* Completion polling (the best practices' nrta_is_completed / nrta_get_sequence loop):
 * polls with sched_yield for up to SPIN_NS (most waits here are ~20 us transfers), then
 * with 5 us sleeps, so a long wait leaves the CPU to the other threads of a small
 * machine. */
#ifndef SPIN_NS
#define SPIN_NS 200000ull
#endif
static inline void wait_seq(nrta_seq_t seq) {
    uint64_t start = 0;
    for (;;) {
        bool done = false;
        OK(nrta_is_completed(seq, &done));
        if (done) return;
        uint64_t t = now_ns();
        if (!start) start = t;
        if (t - start < SPIN_NS)
            sched_yield();
        else
            host_work_us(5);
    }
}

static inline bool is_done(nrta_seq_t seq) {
    bool done = false;
    OK(nrta_is_completed(seq, &done));
    return done;
}

/* Waits for seq, then checks the request's own status. */
static inline void wait_ok(nrta_seq_t seq, const volatile NRT_STATUS *st, const char *what) {
    wait_seq(seq);
    if (*st != NRT_SUCCESS) DIE("%s completed with status %d", what, (int)*st);
}
#endif

#endif /* NRT_BENCH_H */
