/*
 * interp_nrta.h - the interpreter's ops for the program's own nrta_* requests
 * (half-migrated programs; proof/src/gen/nrta.rs), included by interp.c.
 *
 * Each op schedules one request and waits for it (nrta_is_completed) before it
 * returns, the migration guide's idiom, so the program has one outcome under the
 * synchronous runtime. A schedule refused for a full queue (the shim's own requests
 * may fill it) is retried after a pause, as a program must. The op's status is the
 * schedule call's; an aread's hash covers the bytes once the request completed.
 * Completion statuses are not compared: v2 delivers them through an error tracker
 * (these ops pass none), v3 through the status pointer, and the reference is one
 * generation. One binary calls either generation: each call goes through a pointer
 * typed as the runtime's (only v2 exports nrta_error_tracker_create).
 */
#ifndef INTERP_NRTA_H
#define INTERP_NRTA_H

#include <dlfcn.h>
#include <stdbool.h>
#include <time.h>

typedef uint64_t in_seq_t;
typedef NRT_STATUS (*in_read3)(void *, nrt_tensor_t *, uint64_t, uint64_t, uint32_t, uint32_t, NRT_STATUS *,
                               in_seq_t *);
typedef NRT_STATUS (*in_read2)(void *, nrt_tensor_t *, uint64_t, uint64_t, int, void *, in_seq_t *);
typedef NRT_STATUS (*in_write3)(nrt_tensor_t *, void *, uint64_t, uint64_t, uint32_t, uint32_t, NRT_STATUS *,
                                in_seq_t *);
typedef NRT_STATUS (*in_write2)(nrt_tensor_t *, const void *, uint64_t, uint64_t, int, void *, in_seq_t *);
typedef NRT_STATUS (*in_sched3)(nrt_model_t *, nrt_tensor_set_t *, nrt_tensor_set_t *, uint32_t, NRT_STATUS *,
                                in_seq_t *);
typedef NRT_STATUS (*in_sched2)(nrt_model_t *, const nrt_tensor_set_t *, nrt_tensor_set_t *, int, void *,
                                in_seq_t *);
typedef NRT_STATUS (*in_done)(in_seq_t, bool *);

static void *in_sym(const char *name) {
    void *p = dlsym(RTLD_DEFAULT, name);
    if (!p) DIE("no %s in the process", name);
    return p;
}

static int in_v2(void) {
    static int v = -1;
    if (v < 0) v = dlsym(RTLD_DEFAULT, "nrta_error_tracker_create") != NULL;
    return v;
}

static void in_pause(void) {
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
}

/* Waits for the request, polling as the migration guide shows (20 s watchdog). */
static void in_wait(in_seq_t seq) {
    in_done done_fn = (in_done)in_sym("nrta_is_completed");
    for (long i = 0;; i++) {
        bool done = false;
        NRT_STATUS st = done_fn(seq, &done);
        if (st != NRT_SUCCESS) DIE("nrta_is_completed(%llx) returned %d", (unsigned long long)seq, (int)st);
        if (done) return;
        if (i > 400000) DIE("request %llx not complete after 20 s", (unsigned long long)seq);
        in_pause();
    }
}

/* Schedules with `call` (retried while the queue is full), then waits. */
#define IN_SCHEDULE(st, seq, call)                                                                                 \
    do {                                                                                                           \
        long tries_ = 0;                                                                                           \
        while (((st) = (call)) == NRT_QUEUE_FULL) {                                                                \
            if (++tries_ > 400000) DIE("NRT_QUEUE_FULL for 20 s");                                                 \
            in_pause();                                                                                            \
        }                                                                                                          \
        if ((st) == NRT_SUCCESS) in_wait(seq);                                                                     \
    } while (0)

/* aread t off len core */
static NRT_STATUS in_aread(nrt_tensor_t *t, long off, long len, long core, uint64_t *h, uint64_t *nb) {
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    if (!b) DIE("out of memory");
    memset(b, 0xa5, len > 0 ? (size_t)len : 1);
    NRT_STATUS st, ret = 0;
    in_seq_t seq = 0;
    void *f = in_sym("nrta_tensor_read");
    if (in_v2())
        IN_SCHEDULE(st, seq, ((in_read2)f)(b, t, (uint64_t)off, (uint64_t)len, 0, NULL, &seq));
    else
        IN_SCHEDULE(st, seq, ((in_read3)f)(b, t, (uint64_t)off, (uint64_t)len, (uint32_t)core, 0, &ret, &seq));
    if (st == NRT_SUCCESS) {
        *h = fnv(14695981039346656037ull, b, (size_t)len);
        *nb = (uint64_t)len;
    }
    free(b);
    return st;
}

/* awrite t off len seed core */
static NRT_STATUS in_awrite(nrt_tensor_t *t, long off, long len, long seed, long core) {
    void *b = pattern((size_t)len, (uint32_t)seed);
    NRT_STATUS st, ret = 0;
    in_seq_t seq = 0;
    void *f = in_sym("nrta_tensor_write");
    if (in_v2())
        IN_SCHEDULE(st, seq, ((in_write2)f)(t, b, (uint64_t)off, (uint64_t)len, 0, NULL, &seq));
    else
        IN_SCHEDULE(st, seq, ((in_write3)f)(t, b, (uint64_t)off, (uint64_t)len, (uint32_t)core, 0, &ret, &seq));
    free(b); /* after the request completed: the buffer is the runtime's until then */
    return st;
}

/* aexec m sin sout */
static NRT_STATUS in_aexec(nrt_model_t *m, nrt_tensor_set_t *in, nrt_tensor_set_t *out) {
    NRT_STATUS st, ret = 0;
    in_seq_t seq = 0;
    void *f = in_sym("nrta_execute_schedule");
    if (in_v2())
        IN_SCHEDULE(st, seq, ((in_sched2)f)(m, in, out, 0, NULL, &seq));
    else
        IN_SCHEDULE(st, seq, ((in_sched3)f)(m, in, out, 0, &ret, &seq));
    return st;
}

#endif /* INTERP_NRTA_H */
