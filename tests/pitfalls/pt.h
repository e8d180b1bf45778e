/*
 * pt.h - helpers of the interposition-pitfall programs (tests/pitfalls/, driven by
 * tests/pitfalls.rs).
 *
 * Unlike tests/legacy/common.h this header references no runtime symbol by itself:
 * every runtime call goes through a table of function pointers (pt_api_t), filled
 * either from the symbols the program was linked with (pt_api_linked, a macro, so
 * only programs that use it reference them) or with dlsym (pt_api_dlsym). That lets
 * the same workload run in programs that are not linked with -lnrt at all (the
 * runtime opened RTLD_LOCAL by a plugin, the shim opened with dlopen).
 *
 * Output conventions (stdout, "key: value" lines, parsed by the driver):
 *   shim: yes|no                 nrt_async_shim_version answers through RTLD_DEFAULT
 *   shim_executions: N           the shim's "executions" counter (-1: no shim)
 *   digest: <16 hex>             FNV-1a of every output byte read
 *   ok                           the program reached its end
 * Failures print "FAIL file:line: ..." on stderr and exit 1.
 *
 * Each program defines _GNU_SOURCE before including this header.
 */
#ifndef NRT_PITFALLS_PT_H
#define NRT_PITFALLS_PT_H

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nrt/nrt.h>

#include "../include/nrt_test.h"

#define PT_FAIL(...) NRT_TEST_FAIL(__VA_ARGS__)

/* Copies src into out (cap bytes), truncating: snprintf("%s") without the warnings. */
static inline void pt_copy(char *out, size_t cap, const char *src) {
    if (cap == 0) return;
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(out, src, n);
    out[n] = '\0';
}

/* ---- the runtime, as a table of functions -------------------------------- */

typedef struct {
    __typeof__(&nrt_init) init;
    __typeof__(&nrt_close) close;
    __typeof__(&nrt_load) load;
    __typeof__(&nrt_unload) unload;
    __typeof__(&nrt_tensor_allocate) tensor_allocate;
    __typeof__(&nrt_tensor_free) tensor_free;
    __typeof__(&nrt_allocate_tensor_set) allocate_tensor_set;
    __typeof__(&nrt_destroy_tensor_set) destroy_tensor_set;
    __typeof__(&nrt_add_tensor_to_tensor_set) add_tensor_to_tensor_set;
    __typeof__(&nrt_tensor_write) tensor_write;
    __typeof__(&nrt_tensor_read) tensor_read;
    __typeof__(&nrt_execute) execute;
} pt_api_t;

/* The functions the program (or library) was linked with: ordinary symbol binding. */
#define pt_api_linked(a)                                                                                           \
    do {                                                                                                           \
        (a)->init = nrt_init;                                                                                      \
        (a)->close = nrt_close;                                                                                    \
        (a)->load = nrt_load;                                                                                      \
        (a)->unload = nrt_unload;                                                                                  \
        (a)->tensor_allocate = nrt_tensor_allocate;                                                                \
        (a)->tensor_free = nrt_tensor_free;                                                                        \
        (a)->allocate_tensor_set = nrt_allocate_tensor_set;                                                        \
        (a)->destroy_tensor_set = nrt_destroy_tensor_set;                                                          \
        (a)->add_tensor_to_tensor_set = nrt_add_tensor_to_tensor_set;                                              \
        (a)->tensor_write = nrt_tensor_write;                                                                      \
        (a)->tensor_read = nrt_tensor_read;                                                                        \
        (a)->execute = nrt_execute;                                                                                \
    } while (0)

/* dlsym(handle, name), or dlsym(RTLD_DEFAULT, name) when the handle has none (the shim
 * exports only the calls it changes; the rest come from the runtime). */
static inline void *pt_sym(void *handle, const char *name) {
    void *p = handle ? dlsym(handle, name) : NULL;
    if (!p) p = dlsym(RTLD_DEFAULT, name);
    if (!p) PT_FAIL("no symbol %s (handle %p): %s", name, handle, dlerror());
    return p;
}

static inline void pt_api_dlsym(pt_api_t *a, void *handle) {
#define PT_SYM_(field, name)                                                                                       \
    do {                                                                                                           \
        void *p_ = pt_sym(handle, name);                                                                           \
        memcpy(&a->field, &p_, sizeof p_);                                                                         \
    } while (0)
    PT_SYM_(init, "nrt_init");
    PT_SYM_(close, "nrt_close");
    PT_SYM_(load, "nrt_load");
    PT_SYM_(unload, "nrt_unload");
    PT_SYM_(tensor_allocate, "nrt_tensor_allocate");
    PT_SYM_(tensor_free, "nrt_tensor_free");
    PT_SYM_(allocate_tensor_set, "nrt_allocate_tensor_set");
    PT_SYM_(destroy_tensor_set, "nrt_destroy_tensor_set");
    PT_SYM_(add_tensor_to_tensor_set, "nrt_add_tensor_to_tensor_set");
    PT_SYM_(tensor_write, "nrt_tensor_write");
    PT_SYM_(tensor_read, "nrt_tensor_read");
    PT_SYM_(execute, "nrt_execute");
#undef PT_SYM_
}

#define PT_OK(expr) NRT_TEST_OK((expr), #expr)

/* ---- a job: one affine model, several independent (input, output) slots --- */

#define PT_SIZE 4096
#define PT_MAX_SLOTS 16

typedef struct {
    const pt_api_t *api;
    nrt_model_t *model;
    int slots;
    unsigned mul, add;
    nrt_tensor_t *in[PT_MAX_SLOTS], *out[PT_MAX_SLOTS];
    nrt_tensor_set_t *ins[PT_MAX_SLOTS], *outs[PT_MAX_SLOTS];
    uint32_t seed[PT_MAX_SLOTS];
    uint64_t digest;
} pt_job_t;

static inline uint8_t pt_pattern(uint32_t seed, uint32_t j) {
    uint32_t x = seed * 2654435761u ^ (j * 40503u + 0x9e3779b9u);
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    x ^= x >> 15;
    return (uint8_t)x;
}

/* Loads "x -> y, y[j] = mul * x[j] + add" with the given latency and allocates the slots. */
static inline void pt_setup(pt_job_t *job, const pt_api_t *api, int slots, unsigned latency_us) {
    if (slots < 1 || slots > PT_MAX_SLOTS) PT_FAIL("bad slot count %d", slots);
    memset(job, 0, sizeof *job);
    job->api = api;
    job->slots = slots;
    job->mul = 7;
    job->add = 3;
    job->digest = 14695981039346656037ull;
    char model[256];
    int n = snprintf(model, sizeof model,
                     "nrt-sim-model 1\nname pitfall\nlatency_us %u\ninput x %d\noutput y %d\ncompute affine %u %u\n",
                     latency_us, PT_SIZE, PT_SIZE, job->mul, job->add);
    if (n < 0 || (size_t)n >= sizeof model) PT_FAIL("model text too long");
    PT_OK(api->load(model, (size_t)n, 0, -1, &job->model));
    if (!job->model) PT_FAIL("nrt_load gave a NULL model");
    for (int s = 0; s < slots; s++) {
        PT_OK(api->tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, PT_SIZE, "x", &job->in[s]));
        PT_OK(api->tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, PT_SIZE, "y", &job->out[s]));
        PT_OK(api->allocate_tensor_set(&job->ins[s]));
        PT_OK(api->allocate_tensor_set(&job->outs[s]));
        PT_OK(api->add_tensor_to_tensor_set(job->ins[s], "x", job->in[s]));
        PT_OK(api->add_tensor_to_tensor_set(job->outs[s], "y", job->out[s]));
    }
}

/* Writes slot s's input (pattern `seed`) and submits an execution; returns its status. */
static inline NRT_STATUS pt_submit_status(pt_job_t *job, int s, uint32_t seed) {
    uint8_t buf[PT_SIZE];
    for (uint32_t j = 0; j < PT_SIZE; j++) buf[j] = pt_pattern(seed, j);
    job->seed[s] = seed;
    PT_OK(job->api->tensor_write(job->in[s], buf, 0, PT_SIZE));
    return job->api->execute(job->model, job->ins[s], job->outs[s]);
}

static inline void pt_submit(pt_job_t *job, int s, uint32_t seed) {
    PT_OK(pt_submit_status(job, s, seed));
}

/* Reads slot s's output; on success checks every byte against the formula (exit 1 on
 * a mismatch) and folds it into the digest. Returns the read's status. */
static inline NRT_STATUS pt_check_status(pt_job_t *job, int s) {
    uint8_t buf[PT_SIZE];
    NRT_STATUS st = job->api->tensor_read(job->out[s], buf, 0, PT_SIZE);
    if (st != NRT_SUCCESS) return st;
    for (uint32_t j = 0; j < PT_SIZE; j++) {
        uint8_t want = (uint8_t)((job->mul * pt_pattern(job->seed[s], j) + job->add) & 0xffu);
        if (buf[j] != want)
            PT_FAIL("slot %d (seed %u): output byte %u is %u, the model formula gives %u", s, job->seed[s], j,
                    (unsigned)buf[j], (unsigned)want);
        job->digest ^= buf[j];
        job->digest *= 1099511628211ull;
    }
    return st;
}

static inline void pt_check(pt_job_t *job, int s) {
    PT_OK(pt_check_status(job, s));
}

static inline void pt_teardown(pt_job_t *job) {
    for (int s = 0; s < job->slots; s++) {
        job->api->tensor_free(&job->in[s]);
        job->api->tensor_free(&job->out[s]);
        job->api->destroy_tensor_set(&job->ins[s]);
        job->api->destroy_tensor_set(&job->outs[s]);
    }
    PT_OK(job->api->unload(job->model));
    job->model = NULL;
}

/* The load/write/execute/read sequence: `rounds` rounds, each submitting every slot,
 * then reading and checking every output. Prints the digest line. */
static inline void pt_workload(const pt_api_t *api, int slots, int rounds, unsigned latency_us) {
    pt_job_t job;
    pt_setup(&job, api, slots, latency_us);
    for (int r = 0; r < rounds; r++) {
        for (int s = 0; s < slots; s++) pt_submit(&job, s, (uint32_t)(1000 * r + s + 1));
        for (int s = 0; s < slots; s++) pt_check(&job, s);
    }
    pt_teardown(&job);
    printf("digest: %016llx\n", (unsigned long long)job.digest);
}

/* ---- the shim, seen from the program ------------------------------------- */

static inline int pt_shim_active(void) {
    return dlsym(RTLD_DEFAULT, "nrt_async_shim_version") != NULL;
}

/* The shim's counter `key` (from nrt_async_shim_stats_json, found through handle or
 * RTLD_DEFAULT), or -1 without a shim. */
static inline long long pt_shim_stat(void *handle, const char *key) {
    typedef NRT_STATUS (*stats_fn)(char *, size_t, size_t *);
    void *p = handle ? dlsym(handle, "nrt_async_shim_stats_json") : NULL;
    if (!p) p = dlsym(RTLD_DEFAULT, "nrt_async_shim_stats_json");
    if (!p) return -1;
    stats_fn f;
    memcpy(&f, &p, sizeof p);
    char json[2048];
    size_t needed = 0;
    NRT_STATUS st = f(json, sizeof json, &needed);
    if (st != NRT_SUCCESS) PT_FAIL("nrt_async_shim_stats_json returned %d (needs %zu bytes)", (int)st, needed);
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *at = strstr(json, pat);
    if (!at) PT_FAIL("no %s in the shim's stats: %s", key, json);
    return strtoll(at + strlen(pat), NULL, 10);
}

static inline void pt_print_shim_lines(void *handle) {
    printf("shim: %s\n", pt_shim_active() ? "yes" : "no");
    printf("shim_executions: %lld\n", pt_shim_stat(handle, "executions"));
}

/* The canonical path of the object that holds addr ("(none)" if none). */
static inline const char *pt_object_of(const void *addr, char *buf, size_t cap) {
    Dl_info info;
    memset(&info, 0, sizeof info);
    if (!addr || dladdr(addr, &info) == 0 || !info.dli_fname) {
        pt_copy(buf, cap, "(none)");
        return buf;
    }
    char real[PATH_MAX];
    pt_copy(buf, cap, realpath(info.dli_fname, real) ? real : info.dli_fname);
    return buf;
}

/* ---- threads, from /proc ------------------------------------------------- */

static inline int pt_thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) PT_FAIL("opendir /proc/self/task: %s", strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* The tid of the first thread whose comm is `name`, or 0. */
static inline long pt_find_thread(const char *name) {
    DIR *d = opendir("/proc/self/task");
    if (!d) PT_FAIL("opendir /proc/self/task: %s", strerror(errno));
    long found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[128], comm[64] = {0};
        if (strlen(e->d_name) > 32) continue; /* not a tid */
        pt_copy(path, sizeof path, "/proc/self/task/");
        strcat(path, e->d_name);
        strcat(path, "/comm");
        FILE *f = fopen(path, "r");
        if (!f) continue; /* the thread just ended */
        if (fgets(comm, sizeof comm, f)) {
            comm[strcspn(comm, "\n")] = '\0';
            if (strcmp(comm, name) == 0) found = strtol(e->d_name, NULL, 10);
        }
        fclose(f);
    }
    closedir(d);
    return found;
}

static inline void pt_sleep_us(uint64_t us);

/* pt_find_thread, retried for up to timeout_ms: a new thread names itself only once
 * it runs. */
static inline long pt_wait_thread(const char *name, int timeout_ms) {
    for (int i = 0;; i++) {
        long tid = pt_find_thread(name);
        if (tid || i >= timeout_ms) return tid;
        pt_sleep_us(1000);
    }
}

/* A field of /proc/self/task/<tid>/status as text (without the newline). */
static inline int pt_task_status_field(long tid, const char *field, char *out, size_t cap) {
    char path[128], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%ld/status", tid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t fl = strlen(field);
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            const char *v = line + fl + 1;
            while (*v == ' ' || *v == '\t') v++;
            pt_copy(out, cap, v);
            out[strcspn(out, "\n")] = '\0';
            found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

static inline uint64_t pt_task_sigblk(long tid) {
    char v[64];
    if (!pt_task_status_field(tid, "SigBlk", v, sizeof v)) PT_FAIL("no SigBlk for task %ld", tid);
    return strtoull(v, NULL, 16);
}

static inline uint64_t pt_now_us(void) {
    return nrt_test_now_us();
}

static inline void pt_sleep_us(uint64_t us) {
    nrt_test_sleep_us(us);
}

#endif /* NRT_PITFALLS_PT_H */
