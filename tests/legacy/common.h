/*
 * common.h - helpers shared by the C test programs (tests/c/ and tests/legacy/).
 *
 * Every program prints, on stdout:
 *   shim: yes|no            whether nrt-async-shim answers (nrt_async_shim_version)
 *   digest: <16 hex> ...    FNV-1a of every byte read through the API and every
 *                           status returned, in program order
 * plus program-specific "key: value" lines. The Rust harness compares these lines
 * between runs; the programs check every output against the model formula
 * themselves and exit 1 with a "FAIL file:line: ..." message on any mismatch.
 *
 * Each program defines _GNU_SOURCE before including anything (RTLD_DEFAULT,
 * clock_gettime, nanosleep).
 */
#ifndef NRT_TEST_COMMON_H
#define NRT_TEST_COMMON_H

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nrt/nrt.h>
#include <nrt/nrt_experimental.h>

#include "../include/nrt_test.h"

/* ---- failing ----------------------------------------------------------- */

#define DIE(...) NRT_TEST_FAIL(__VA_ARGS__)

/* The programs name statuses themselves: the 2.31.24 runtime binary declares
 * nrt_get_status_as_str in its header but does not export it (neuron-abi.md,
 * second reading), so a test that called it would not load on a device. */
static inline const char *status_name(NRT_STATUS st) {
    switch (st) {
#define NRT_TEST_STATUS(name) \
    case name:                \
        return #name;
        NRT_TEST_STATUS(NRT_SUCCESS)
        NRT_TEST_STATUS(NRT_FAILURE)
        NRT_TEST_STATUS(NRT_INVALID)
        NRT_TEST_STATUS(NRT_INVALID_HANDLE)
        NRT_TEST_STATUS(NRT_RESOURCE)
        NRT_TEST_STATUS(NRT_TIMEOUT)
        NRT_TEST_STATUS(NRT_HW_ERROR)
        NRT_TEST_STATUS(NRT_QUEUE_FULL)
        NRT_TEST_STATUS(NRT_LOAD_NOT_ENOUGH_NC)
        NRT_TEST_STATUS(NRT_UNSUPPORTED_NEFF_VERSION)
        NRT_TEST_STATUS(NRT_FAIL_HOST_MEM_ALLOC)
        NRT_TEST_STATUS(NRT_UNINITIALIZED)
        NRT_TEST_STATUS(NRT_CLOSED)
        NRT_TEST_STATUS(NRT_QUEUE_EMPTY)
        NRT_TEST_STATUS(NRT_EXEC_UNIT_UNRECOVERABLE)
        NRT_TEST_STATUS(NRT_EXEC_BAD_INPUT)
        NRT_TEST_STATUS(NRT_EXEC_COMPLETED_WITH_NUM_ERR)
        NRT_TEST_STATUS(NRT_EXEC_COMPLETED_WITH_ERR)
        NRT_TEST_STATUS(NRT_EXEC_NC_BUSY)
        NRT_TEST_STATUS(NRT_EXEC_OOB)
        NRT_TEST_STATUS(NRT_COLL_PENDING)
        NRT_TEST_STATUS(NRT_EXEC_HW_ERR_COLLECTIVES)
        NRT_TEST_STATUS(NRT_EXEC_HW_ERR_HBM_UE)
        NRT_TEST_STATUS(NRT_EXEC_HW_ERR_NC_UE)
        NRT_TEST_STATUS(NRT_EXEC_HW_ERR_DMA_ABORT)
        NRT_TEST_STATUS(NRT_EXEC_SW_NQ_OVERFLOW)
        NRT_TEST_STATUS(NRT_EXEC_HW_ERR_REPAIRABLE_HBM_UE)
        NRT_TEST_STATUS(NRT_NETWORK_PROXY_FAILURE)
#undef NRT_TEST_STATUS
    }
    return "(unknown status)";
}

/* ---- the digest -------------------------------------------------------- */

typedef struct {
    uint64_t h;
    uint64_t nbytes;
    uint64_t nstatus;
} digest_t;

#define DIGEST_INIT {14695981039346656037ull, 0, 0}

static inline void digest_bytes(digest_t *d, const void *p, size_t n) {
    const uint8_t *b = (const uint8_t *)p;
    for (size_t i = 0; i < n; i++) {
        d->h ^= b[i];
        d->h *= 1099511628211ull;
    }
    d->nbytes += n;
}

static inline void digest_u64(digest_t *d, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    uint64_t keep = d->nbytes;
    digest_bytes(d, b, sizeof b);
    d->nbytes = keep;
}

static inline void digest_status(digest_t *d, NRT_STATUS st) {
    digest_u64(d, 0x5354000000000000ull ^ (uint64_t)(uint32_t)st);
    d->nstatus++;
}

/* The process-wide digest of single-threaded programs. */
static inline digest_t *gd(void) {
    static digest_t d = DIGEST_INIT;
    return &d;
}

static inline void print_digest(const char *key, const digest_t *d) {
    printf("%s: %016llx bytes=%llu statuses=%llu\n", key, (unsigned long long)d->h, (unsigned long long)d->nbytes,
           (unsigned long long)d->nstatus);
}

/* Checks that expr returned NRT_SUCCESS, folding the status into digest d. */
#define CHK(d, expr)                                                                                               \
    do {                                                                                                           \
        NRT_STATUS st_ = (expr);                                                                                   \
        digest_status((d), st_);                                                                                   \
        if (st_ != NRT_SUCCESS) DIE("%s returned %d (%s)", #expr, (int)st_, status_name(st_));                    \
    } while (0)
#define CK(expr) CHK(gd(), expr)

/* Checks that expr returned NRT_SUCCESS without touching any digest: for calls whose
 * number depends on timing (polling). */
#define OK(expr)                                                                                                   \
    do {                                                                                                           \
        NRT_STATUS st_ = (expr);                                                                                   \
        if (st_ != NRT_SUCCESS) DIE("%s returned %d (%s)", #expr, (int)st_, status_name(st_));                    \
    } while (0)

/* Checks that expr returned exactly `want` (not folded into any digest). */
#define EXPECT_STATUS(expr, want)                                                                                  \
    do {                                                                                                           \
        NRT_STATUS st_ = (expr);                                                                                   \
        if (st_ != (want))                                                                                         \
            DIE("%s returned %d (%s), expected %d (%s)", #expr, (int)st_, status_name(st_), (int)(want),          \
                status_name(want));                                                                                \
    } while (0)

/* ---- environment ------------------------------------------------------- */

/* The shim exports nrt_async_shim_version; the runtime (or simulator) does not. */
static inline int shim_active(void) {
    return dlsym(RTLD_DEFAULT, "nrt_async_shim_version") != NULL;
}

/* "yes" when the shim is loaded and answers nrt_execute (the first definition in the
 * global lookup order, the one the program's calls bind to); "bypassed" when it is
 * loaded but another object answers (the link-order pitfall); "no" without it. */
static inline void print_shim_line(void) {
    const char *state = "no";
    if (shim_active()) {
        Dl_info info;
        void *f = dlsym(RTLD_DEFAULT, "nrt_execute");
        int ours = f && dladdr(f, &info) && info.dli_fname && strstr(info.dli_fname, "nrt_async_shim");
        state = ours ? "yes" : "bypassed";
    }
    printf("shim: %s\n", state);
}

static inline long arg_long(int argc, char **argv, int i, long def) {
    if (i >= argc) return def;
    char *end = NULL;
    long v = strtol(argv[i], &end, 10);
    if (end == argv[i] || *end != '\0') DIE("argument %d (%s) is not an integer", i, argv[i]);
    return v;
}

static inline const char *arg_str(int argc, char **argv, int i, const char *def) {
    return i < argc ? argv[i] : def;
}

static inline uint64_t now_us(void) {
    return nrt_test_now_us();
}

static inline void sleep_us(uint64_t us) {
    nrt_test_sleep_us(us);
}

/* ---- models ------------------------------------------------------------ */

static inline void init_runtime(void) {
    CK(nrt_init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
}

/* Loads nrt-sim model text (the simulator's format) onto core vnc. */
static inline void load_model_d(digest_t *d, const char *text, int vnc, nrt_model_t **model) {
    CHK(d, nrt_load(text, strlen(text), vnc, -1, model));
    if (*model == NULL) DIE("nrt_load gave a NULL model");
}
#define load_model(text, vnc, model) load_model_d(gd(), (text), (vnc), (model))

/* Formats model text into buf (models with parameters, such as a latency). */
static inline const char *model_text(char *buf, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) DIE("model text too long");
    return buf;
}

/* ---- data and the model formula ----------------------------------------- */

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

typedef struct {
    const uint8_t *data;
    size_t size;
} inbuf_t;

/* compute affine mul add: out[j] = (mul * S(j) + add) mod 256, S(j) = sum of in[k][j mod size_k] mod 256. */
static inline uint8_t affine_byte(unsigned mul, unsigned add, const inbuf_t *in, int nin, size_t j) {
    unsigned s = 0;
    for (int k = 0; k < nin; k++) s = (s + in[k].data[j % in[k].size]) & 0xffu;
    return (uint8_t)(((mul & 0xffu) * s + add) & 0xffu);
}

static inline void affine_fill(unsigned mul, unsigned add, const inbuf_t *in, int nin, uint8_t *out, size_t n) {
    for (size_t j = 0; j < n; j++) out[j] = affine_byte(mul, add, in, nin, j);
}

/* Exits with a message unless out (n bytes) is what the affine model computes from in. */
#define CHECK_AFFINE(what, mul, add, in, nin, out, n)                                                              \
    do {                                                                                                           \
        const uint8_t *o_ = (const uint8_t *)(out);                                                                \
        for (size_t j_ = 0; j_ < (size_t)(n); j_++) {                                                              \
            uint8_t e_ = affine_byte((mul), (add), (in), (nin), j_);                                               \
            if (o_[j_] != e_) DIE("%s: output byte %zu is %u, the model formula gives %u", (what), j_,             \
                                  (unsigned)o_[j_], (unsigned)e_);                                                 \
        }                                                                                                          \
    } while (0)

#define CHECK_BYTES(what, got, want, n)                                                                            \
    do {                                                                                                           \
        const uint8_t *g_ = (const uint8_t *)(got), *w_ = (const uint8_t *)(want);                                 \
        for (size_t j_ = 0; j_ < (size_t)(n); j_++)                                                                \
            if (g_[j_] != w_[j_]) DIE("%s: byte %zu is %u, expected %u", (what), j_, (unsigned)g_[j_],             \
                                      (unsigned)w_[j_]);                                                           \
    } while (0)

/* Reads n bytes of t at offset off into buf, checking the status and folding both into d. */
static inline void read_d(digest_t *d, const nrt_tensor_t *t, void *buf, size_t off, size_t n) {
    CHK(d, nrt_tensor_read(t, buf, off, n));
    digest_bytes(d, buf, n);
}
#define read_tensor(t, buf, off, n) read_d(gd(), (t), (buf), (off), (n))

static inline void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) DIE("out of memory");
    return p;
}

#endif /* NRT_TEST_COMMON_H */
