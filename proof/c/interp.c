/*
 * interp.c - the op-list interpreter of nrt-proof.
 *
 * Reads a batch of legacy programs (the text format of proof/src/program.rs) from
 * the file named by argv[1] and runs each one against whatever answers the legacy
 * calls (the simulator alone, or the shim preloaded): nrt_init, a prologue on the
 * main thread, 1..8 application threads, an epilogue on the main thread,
 * nrt_close. It prints one line per op, in op order whatever thread ran it:
 *
 *   R <prog> <op> <status> <hash> <nbytes>
 *
 * (<hash>: FNV-1a of the bytes the op read, 0 when it read none), and after each
 * nrt_close one line with the simulator's report (NRT_SIM_REPORT) and the callback
 * counters:
 *
 *   H <prog> hazards=<n> executions=<n> failed=<n> cb=<calls> cbfail=<failures>
 *
 * Threads: ops marked "ordered" run in their global order (a turnstile), the
 * others (touching only the thread's private objects) run freely, so a program
 * has one outcome under the synchronous runtime whatever the interleaving.
 *
 * Options after the file: "cb" registers a callback after every nrt_init;
 * "fork" runs every program in a forked child (a fresh runtime and shim state).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nrt/nrt.h>
#include <nrt/nrt_experimental.h>

#define MAXT 256
#define MAXS 64
#define MAXM 16
#define MAXARGS 40
#define MAXTHR 8

#define DIE(...)                                                                                                   \
    do {                                                                                                           \
        fflush(stdout);                                                                                            \
        fprintf(stderr, "interp: ");                                                                               \
        fprintf(stderr, __VA_ARGS__);                                                                              \
        fputc('\n', stderr);                                                                                       \
        exit(2);                                                                                                   \
    } while (0)

enum {
    OP_LOAD, OP_UNLOAD, OP_ALLOC, OP_SLICE, OP_EMPTY, OP_ATTACH, OP_FREE, OP_WRITE, OP_READ, OP_READB, OP_WRITEB,
    OP_COPY, OP_MEMSET, OP_VA, OP_VAWRITE, OP_GETSIZE, OP_SALLOC, OP_SDESTROY, OP_SADD, OP_EXEC, OP_REPEAT,
    OP_DRAIN, OP_CHECKC, OP_RESETC, OP_PROBE, OP_AREAD, OP_AWRITE, OP_AEXEC,
    OP_VAGET, OP_VAREAD, OP_VASTORE, OP_MCPY, OP_BARRIER, OP_AINFO, OP_HBM, OP_HBMWRITE, OP_HBMREAD, OP_COUNT
};

static const char *const OP_NAMES[OP_COUNT] = {
    "load", "unload", "alloc", "slice", "empty", "attach", "free", "write", "read", "readb", "writeb", "copy",
    "memset", "va", "vawrite", "getsize", "salloc", "sdestroy", "sadd", "exec", "repeat", "drain", "checkc",
    "resetc", "probe", "aread", "awrite", "aexec",
    "vaget", "varead", "vastore", "mcpy", "barrier", "ainfo", "hbm", "hbmwrite", "hbmread"};

typedef struct {
    int thr; /* -1 prologue, -2 epilogue, else thread index */
    int ordered;
    long ordseq; /* position among ordered ops */
    int code;
    int nargs;
    long a[MAXARGS];
    char name[16]; /* sadd: the tensor name in the set */
} op_t;

typedef struct {
    uint32_t status;
    uint64_t hash;
    uint64_t nbytes;
} res_t;

typedef struct {
    char text[1024];
    int core;
} model_t;

/* ---- the program being run ---------------------------------------------- */

static op_t *g_ops;
static res_t *g_res;
static long g_nops, g_capops;
static model_t g_models[MAXM];
static int g_nthreads;

static nrt_tensor_t *g_t[MAXT];
static void *g_buf[MAXT];
/* Buffers replaced by a second attach: slices made before it still point into
 * them (caller-owned storage must outlive every tensor that uses it), so they are
 * freed only after nrt_close. */
static void **g_old;
static long g_nold, g_capold;
static pthread_mutex_t g_old_lock = PTHREAD_MUTEX_INITIALIZER;
static nrt_tensor_set_t *g_s[MAXS];
static nrt_model_t *g_m[MAXM];

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static long g_turn;

static pthread_mutex_t g_cb_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_cb_calls, g_cb_fail;
/* Per core: the FNV-1a hash of the callbacks' statuses in call order, the last
 * job id, and the calls whose job id was not the last one + 1 (out of order,
 * repeated or skipped). */
#define CB_CORES 64
static uint64_t g_cb_hash[CB_CORES], g_cb_job[CB_CORES], g_cb_bad;

static uint64_t fnv(uint64_t h, const void *p, size_t n);

static void on_status(void *params, uint32_t model_id, uint32_t vnc, uint64_t job_id, NRT_STATUS status) {
    (void)params;
    (void)model_id;
    pthread_mutex_lock(&g_cb_lock);
    g_cb_calls++;
    if (status != NRT_SUCCESS) g_cb_fail++;
    if (vnc < CB_CORES) {
        uint32_t st = (uint32_t)status;
        g_cb_hash[vnc] = fnv(g_cb_hash[vnc], &st, sizeof st);
        if (job_id != g_cb_job[vnc] + 1) g_cb_bad++;
        g_cb_job[vnc] = job_id;
    } else {
        g_cb_bad++;
    }
    pthread_mutex_unlock(&g_cb_lock);
}

/* The callbacks' statuses, per core in call order, as one hash (see diff.rs, cb_seq_hash). */
static uint64_t cb_seq(void) {
    uint64_t h = 14695981039346656037ull;
    for (uint32_t c = 0; c < CB_CORES; c++) {
        if (g_cb_job[c] == 0) continue;
        h = fnv(h, &c, sizeof c);
        h = fnv(h, &g_cb_hash[c], sizeof g_cb_hash[c]);
    }
    return h;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = (const uint8_t *)p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint8_t pattern_byte(uint32_t seed, uint32_t j) {
    uint32_t x = seed * 2654435761u ^ (j * 40503u + 0x9e3779b9u);
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    x ^= x >> 15;
    return (uint8_t)x;
}

static void *pattern(size_t n, uint32_t seed) {
    uint8_t *b = malloc(n ? n : 1);
    if (!b) DIE("out of memory");
    for (size_t j = 0; j < n; j++) b[j] = pattern_byte(seed, (uint32_t)j);
    return b;
}

static long slot(long v, long max) {
    if (v < 0 || v >= max) DIE("slot %ld out of range", v);
    return v;
}

#define T(i) g_t[slot((i), MAXT)]
#define S(i) g_s[slot((i), MAXS)]
#define M(i) g_m[slot((i), MAXM)]

#include "interp_nrta.h"
#include "interp_escape.h"

static void run_op(long k) {
    op_t *o = &g_ops[k];
    res_t *r = &g_res[k];
    long *a = o->a;
    NRT_STATUS st = NRT_SUCCESS;
    uint64_t h = 0, nb = 0;
    if (esc_op(o->code, a, &st, &h, &nb)) {
        r->status = (uint32_t)st;
        r->hash = h;
        r->nbytes = nb;
        return;
    }
    switch (o->code) {
    case OP_LOAD: {
        model_t *m = &g_models[slot(a[0], MAXM)];
        st = nrt_load(m->text, strlen(m->text), m->core, -1, &M(a[0]));
        break;
    }
    case OP_UNLOAD:
        st = nrt_unload(M(a[0]));
        if (st == NRT_SUCCESS) M(a[0]) = NULL;
        break;
    case OP_ALLOC:
        st = nrt_tensor_allocate((nrt_tensor_placement_t)a[1], (int)a[2], (size_t)a[3], "t", &T(a[0]));
        break;
    case OP_SLICE:
        st = nrt_tensor_allocate_slice(T(a[1]), (size_t)a[2], (size_t)a[3], "s", &T(a[0]));
        break;
    case OP_EMPTY:
        st = nrt_tensor_allocate_empty("e", &T(a[0]));
        break;
    case OP_ATTACH: {
        void *b = pattern((size_t)a[1], (uint32_t)a[2]);
        st = nrt_tensor_attach_buffer(T(a[0]), b, (size_t)a[1]);
        if (st == NRT_SUCCESS) {
            if (g_buf[a[0]]) {
                pthread_mutex_lock(&g_old_lock);
                if (g_nold == g_capold) {
                    g_capold = g_capold ? 2 * g_capold : 16;
                    g_old = realloc(g_old, (size_t)g_capold * sizeof *g_old);
                    if (!g_old) DIE("out of memory");
                }
                g_old[g_nold++] = g_buf[a[0]];
                pthread_mutex_unlock(&g_old_lock);
            }
            g_buf[a[0]] = b;
        } else {
            free(b);
        }
        break;
    }
    case OP_FREE:
        nrt_tensor_free(&T(a[0]));
        break;
    case OP_AREAD:
        st = in_aread(T(a[0]), a[1], a[2], a[3], &h, &nb);
        break;
    case OP_AWRITE:
        st = in_awrite(T(a[0]), a[1], a[2], a[3], a[4]);
        break;
    case OP_AEXEC:
        st = in_aexec(M(a[0]), S(a[1]), S(a[2]));
        break;
    case OP_WRITE: {
        void *b = pattern((size_t)a[2], (uint32_t)a[3]);
        st = nrt_tensor_write(T(a[0]), b, (size_t)a[1], (size_t)a[2]);
        free(b);
        break;
    }
    case OP_READ: {
        uint8_t *b = malloc(a[2] ? (size_t)a[2] : 1);
        if (!b) DIE("out of memory");
        memset(b, 0xa5, (size_t)a[2]);
        st = nrt_tensor_read(T(a[0]), b, (size_t)a[1], (size_t)a[2]);
        if (st == NRT_SUCCESS) {
            h = fnv(14695981039346656037ull, b, (size_t)a[2]);
            nb = (uint64_t)a[2];
        }
        free(b);
        break;
    }
    case OP_READB:
    case OP_WRITEB: {
        int write = o->code == OP_WRITEB;
        int per = write ? 3 : 2;
        long n = a[1];
        if (n < 0 || 2 + n * per > o->nargs) DIE("bad batch");
        nrt_tensor_batch_op_t ops[16];
        if (n > 16) DIE("batch too long");
        for (long i = 0; i < n; i++) {
            ops[i].offset = (uint64_t)a[2 + i * per];
            ops[i].size = (uint64_t)a[3 + i * per];
            ops[i].buffer = write ? pattern((size_t)ops[i].size, (uint32_t)a[4 + i * per]) : malloc(ops[i].size + 1);
            if (!ops[i].buffer) DIE("out of memory");
            if (!write) memset(ops[i].buffer, 0xa5, ops[i].size);
        }
        nrt_tensor_batch_t batch = {T(a[0]), ops, (uint32_t)n};
        st = write ? nrt_tensor_write_batch(&batch, 1, false) : nrt_tensor_read_batch(&batch, 1, false);
        h = 14695981039346656037ull;
        for (long i = 0; i < n; i++) {
            if (!write && st == NRT_SUCCESS) {
                h = fnv(h, ops[i].buffer, ops[i].size);
                nb += ops[i].size;
            }
            free(ops[i].buffer);
        }
        if (nb == 0) h = 0;
        break;
    }
    case OP_COPY:
        st = nrt_tensor_copy(T(a[0]), (size_t)a[1], T(a[2]), (size_t)a[3], (size_t)a[4]);
        break;
    case OP_MEMSET:
        st = nrt_tensor_memset(T(a[0]), (uint64_t)a[1], (int)a[2], (size_t)a[3]);
        break;
    case OP_VA:
    case OP_VAWRITE: {
        void *va = nrt_tensor_get_va(T(a[0]));
        st = va ? 0 : 1000; /* 1000: "NULL" (not a status the runtime returns) */
        if (va && o->code == OP_VA) {
            size_t n = nrt_tensor_get_size(T(a[0]));
            h = fnv(14695981039346656037ull, va, n);
            nb = n;
        } else if (va && (size_t)a[1] + (size_t)a[2] > nrt_tensor_get_size(T(a[0]))) {
            st = 1001; /* out of range: not written (the interpreter never writes past a buffer) */
        } else if (va) {
            void *b = pattern((size_t)a[2], (uint32_t)a[3]);
            memcpy((uint8_t *)va + a[1], b, (size_t)a[2]);
            free(b);
        }
        break;
    }
    case OP_GETSIZE:
        h = nrt_tensor_get_size(T(a[0]));
        break;
    case OP_SALLOC:
        st = nrt_allocate_tensor_set(&S(a[0]));
        break;
    case OP_SDESTROY:
        nrt_destroy_tensor_set(&S(a[0]));
        break;
    case OP_SADD:
        st = nrt_add_tensor_to_tensor_set(S(a[0]), o->name, T(a[1]));
        break;
    case OP_EXEC:
        st = nrt_execute(M(a[0]), S(a[1]), S(a[2]));
        break;
    case OP_REPEAT:
        st = nrt_execute_repeat(M(a[0]), S(a[1]), S(a[2]), (int)a[3]);
        break;
    case OP_DRAIN:
        st = nrt_async_drain_queued_execs((int32_t)a[0]);
        break;
    case OP_CHECKC:
        st = nrt_tensor_check_output_completion(T(a[0]), (int64_t)a[2], (uint64_t)a[1]);
        break;
    case OP_RESETC:
        st = nrt_tensor_reset_output_completion(T(a[0]));
        break;
    case OP_PROBE: {
        nrt_tensor_t *p = NULL;
        st = nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, (int)a[1], (size_t)a[0], "probe", &p);
        if (p) nrt_tensor_free(&p);
        break;
    }
    default:
        DIE("op code %d", o->code);
    }
    r->status = (uint32_t)st;
    r->hash = h;
    r->nbytes = nb;
}

static void wait_turn(long seq) {
    pthread_mutex_lock(&g_lock);
    while (g_turn != seq) pthread_cond_wait(&g_cond, &g_lock);
    pthread_mutex_unlock(&g_lock);
}

static void next_turn(void) {
    pthread_mutex_lock(&g_lock);
    g_turn++;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_lock);
}

static void run_phase(int thr) {
    for (long k = 0; k < g_nops; k++) {
        if (g_ops[k].thr != thr) continue;
        if (g_ops[k].ordered) wait_turn(g_ops[k].ordseq);
        run_op(k);
        if (g_ops[k].ordered) next_turn();
    }
}

static void *thread_main(void *arg) {
    run_phase((int)(intptr_t)arg);
    return NULL;
}

static long report_field(const char *text, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    if (!p) return -1;
    return strtol(p + strlen(pat), NULL, 10);
}

static void run_program(long id, int use_cb) {
    memset(g_t, 0, sizeof g_t);
    memset(g_s, 0, sizeof g_s);
    memset(g_m, 0, sizeof g_m);
    esc_reset();
    g_turn = 0;
    pthread_mutex_lock(&g_cb_lock);
    g_cb_calls = g_cb_fail = g_cb_bad = 0;
    for (int c = 0; c < CB_CORES; c++) {
        g_cb_hash[c] = 14695981039346656037ull;
        g_cb_job[c] = 0;
    }
    pthread_mutex_unlock(&g_cb_lock);
    NRT_STATUS st = nrt_init(NRT_FRAMEWORK_TYPE_NO_FW, "", "");
    if (st != NRT_SUCCESS) DIE("program %ld: nrt_init returned %d", id, (int)st);
    if (use_cb && nrt_register_async_exec_callback(on_status, NULL) != NRT_SUCCESS) DIE("registering the callback");
    run_phase(-1);
    pthread_t th[MAXTHR];
    for (int t = 0; t < g_nthreads; t++)
        if (pthread_create(&th[t], NULL, thread_main, (void *)(intptr_t)t) != 0) DIE("pthread_create");
    for (int t = 0; t < g_nthreads; t++) pthread_join(th[t], NULL);
    run_phase(-2);
    nrt_close();
    for (long k = 0; k < g_nops; k++)
        printf("R %ld %ld %u %016llx %llu\n", id, k, g_res[k].status, (unsigned long long)g_res[k].hash,
               (unsigned long long)g_res[k].nbytes);
    for (int i = 0; i < MAXT; i++) {
        free(g_buf[i]);
        g_buf[i] = NULL;
    }
    for (long i = 0; i < g_nold; i++) free(g_old[i]);
    g_nold = 0;
    long hz = -1, ex = -1, fl = -1;
    const char *path = getenv("NRT_SIM_REPORT");
    if (path) {
        FILE *f = fopen(path, "r");
        if (f) {
            static char text[65536];
            size_t n = fread(text, 1, sizeof text - 1, f);
            text[n] = 0;
            fclose(f);
            hz = report_field(text, "hazards");
            ex = report_field(text, "executions");
            fl = report_field(text, "failed_executions");
        }
    }
    pthread_mutex_lock(&g_cb_lock);
    printf("H %ld hazards=%ld executions=%ld failed=%ld cb=%llu cbfail=%llu cbbad=%llu cbseq=%016llx\n", id, hz,
           ex, fl, (unsigned long long)g_cb_calls, (unsigned long long)g_cb_fail, (unsigned long long)g_cb_bad,
           (unsigned long long)cb_seq());
    pthread_mutex_unlock(&g_cb_lock);
    fflush(stdout);
}

static char *next_tok(char **p) {
    return strtok_r(NULL, " \t\r\n", p);
}

int main(int argc, char **argv) {
    if (argc < 2) DIE("usage: interp FILE [cb]");
    int use_cb = 0, use_fork = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "cb") == 0) use_cb = 1;
        else if (strcmp(argv[i], "fork") == 0) use_fork = 1;
        else DIE("unknown option %s", argv[i]);
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) DIE("cannot open %s", argv[1]);
    static char line[8192];
    long id = -1, ordseq = 0;
    while (fgets(line, sizeof line, f)) {
        char *save = NULL;
        char *tok = strtok_r(line, " \t\r\n", &save);
        if (!tok || tok[0] == '#') continue;
        if (strcmp(tok, "P") == 0) {
            id = strtol(next_tok(&save), NULL, 10);
            g_nthreads = (int)strtol(next_tok(&save), NULL, 10);
            if (g_nthreads < 0 || g_nthreads > MAXTHR) DIE("threads %d", g_nthreads);
            g_nops = 0;
            ordseq = 0;
            memset(g_models, 0, sizeof g_models);
        } else if (strcmp(tok, "M") == 0) {
            /* M slot core text ('|' for newlines, '~' for spaces) */
            long m = slot(strtol(next_tok(&save), NULL, 10), MAXM);
            g_models[m].core = (int)strtol(next_tok(&save), NULL, 10);
            char *text = next_tok(&save);
            if (!text || strlen(text) >= sizeof g_models[m].text) DIE("model text");
            strcpy(g_models[m].text, text);
            for (char *c = g_models[m].text; *c; c++) {
                if (*c == '|') *c = '\n';
                if (*c == '~') *c = ' ';
            }
        } else if (strcmp(tok, "O") == 0) {
            if (g_nops == g_capops) {
                g_capops = g_capops ? g_capops * 2 : 256;
                g_ops = realloc(g_ops, (size_t)g_capops * sizeof *g_ops);
                g_res = realloc(g_res, (size_t)g_capops * sizeof *g_res);
                if (!g_ops || !g_res) DIE("out of memory");
            }
            op_t *o = &g_ops[g_nops];
            memset(o, 0, sizeof *o);
            memset(&g_res[g_nops], 0, sizeof g_res[g_nops]);
            o->thr = (int)strtol(next_tok(&save), NULL, 10);
            o->ordered = (int)strtol(next_tok(&save), NULL, 10);
            if (o->ordered) o->ordseq = ordseq++;
            char *name = next_tok(&save);
            o->code = -1;
            for (int c = 0; c < OP_COUNT; c++)
                if (name && strcmp(name, OP_NAMES[c]) == 0) o->code = c;
            if (o->code < 0) DIE("unknown op %s", name ? name : "(none)");
            char *arg;
            while ((arg = next_tok(&save)) != NULL) {
                if (o->code == OP_SADD && o->nargs == 1 && o->name[0] == 0) {
                    snprintf(o->name, sizeof o->name, "%s", arg);
                    continue;
                }
                if (o->nargs == MAXARGS) DIE("too many arguments");
                o->a[o->nargs++] = strtol(arg, NULL, 10);
            }
            g_nops++;
        } else if (strcmp(tok, "E") == 0) {
            if (use_fork) {
                fflush(stdout);
                pid_t pid = fork();
                if (pid < 0) DIE("fork");
                if (pid == 0) {
                    run_program(id, use_cb);
                    fflush(stdout);
                    _exit(0);
                }
                int wst = 0;
                while (waitpid(pid, &wst, 0) < 0) {
                }
                if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0) DIE("program %ld: the child died (status %d)", id, wst);
            } else {
                run_program(id, use_cb);
            }
        } else {
            DIE("bad line starting %s", tok);
        }
    }
    fclose(f);
    return 0;
}
