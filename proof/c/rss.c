/*
 * rss.c - resident memory over a long run: argv[1] executions of a small model
 * (one input, one output) on core 0, a write of the input before each and a read
 * of the output after every 64th; prints the resident set size (kB, from
 * /proc/self/statm) after 10% of the executions and at the end.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nrt/nrt.h>

#define CHECK(expr)                                                                                                \
    do {                                                                                                           \
        NRT_STATUS st_ = (expr);                                                                                   \
        if (st_ != NRT_SUCCESS) {                                                                                  \
            fprintf(stderr, "rss: %s returned %d\n", #expr, (int)st_);                                             \
            exit(1);                                                                                               \
        }                                                                                                          \
    } while (0)

static long rss_kb(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
    const char *text = "nrt-sim-model 1\nname r\nlatency_us 1\ninput x 64\noutput y 64\ncompute affine 3 1\n";
    CHECK(nrt_init(NRT_FRAMEWORK_TYPE_NO_FW, "", ""));
    nrt_model_t *m = NULL;
    CHECK(nrt_load(text, strlen(text), 0, -1, &m));
    nrt_tensor_t *x = NULL, *y = NULL;
    CHECK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, 64, "x", &x));
    CHECK(nrt_tensor_allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, 64, "y", &y));
    nrt_tensor_set_t *in = NULL, *out = NULL;
    CHECK(nrt_allocate_tensor_set(&in));
    CHECK(nrt_allocate_tensor_set(&out));
    CHECK(nrt_add_tensor_to_tensor_set(in, "x", x));
    CHECK(nrt_add_tensor_to_tensor_set(out, "y", y));
    unsigned char b[64];
    for (long i = 0; i < n; i++) {
        memset(b, (int)(i & 0xff), sizeof b);
        CHECK(nrt_tensor_write(x, b, 0, sizeof b));
        CHECK(nrt_execute(m, in, out));
        if (i % 64 == 63) {
            CHECK(nrt_tensor_read(y, b, 0, sizeof b));
            if (b[0] != (unsigned char)(3 * (i & 0xff) + 1)) {
                fprintf(stderr, "rss: wrong output at %ld\n", i);
                return 1;
            }
        }
        if (i + 1 == n / 10) printf("rss_kb_at_10pct: %ld\n", rss_kb());
    }
    CHECK(nrt_tensor_read(y, b, 0, sizeof b));
    printf("rss_kb_at_end: %ld\n", rss_kb());
    nrt_destroy_tensor_set(&in);
    nrt_destroy_tensor_set(&out);
    nrt_tensor_free(&x);
    nrt_tensor_free(&y);
    CHECK(nrt_unload(m));
    nrt_close();
    return 0;
}
