/*
 * nrt_test.h - the helpers every C program of the project shares: the test
 * programs (tests/legacy/common.h, tests/c/), the pitfall programs
 * (tests/pitfalls/pt.h) and the benchmarks (bench/workloads/bench.h) include it
 * through their own header, which names these in its own style (DIE, PT_FAIL, OK,
 * PT_OK, ...).
 *
 * Failures print "FAIL file:line: message" on stderr (after flushing stdout) and
 * exit 1; __FILE__ and __LINE__ are the caller's. References no runtime symbol but
 * NRT_STATUS and NRT_SUCCESS from <nrt/nrt.h>.
 */
#ifndef NRT_TEST_H
#define NRT_TEST_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <nrt/nrt.h>

/* Prints "FAIL file:line: <printf-style message>" and exits 1. */
#define NRT_TEST_FAIL(...)                                                                                         \
    do {                                                                                                           \
        fflush(stdout);                                                                                            \
        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                       \
        fprintf(stderr, __VA_ARGS__);                                                                              \
        fputc('\n', stderr);                                                                                       \
        exit(1);                                                                                                   \
    } while (0)

/* Fails with "<text> returned <status>" unless expr returned NRT_SUCCESS. A
 * header's own macro passes #expr as text (stringified there, before any macro in
 * expr is expanded): #define OK(expr) NRT_TEST_OK((expr), #expr) */
#define NRT_TEST_OK(expr, text)                                                                                    \
    do {                                                                                                           \
        NRT_STATUS st_ = (expr);                                                                                   \
        if (st_ != NRT_SUCCESS) NRT_TEST_FAIL("%s returned %d", (text), (int)st_);                                \
    } while (0)

/* CLOCK_MONOTONIC in microseconds. */
static inline uint64_t nrt_test_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000ull;
}

/* Sleeps us microseconds (resumed after a signal). */
static inline void nrt_test_sleep_us(uint64_t us) {
    struct timespec ts = {(time_t)(us / 1000000ull), (long)((us % 1000000ull) * 1000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

#endif /* NRT_TEST_H */
