/*
 * record_replay.c - stands in for a program under `nrt-shim verify`, to check
 * verify itself on records a test has edited: it calls no runtime function; it
 * copies a recorded file (NRT_SHIM_RECORD format, src/observe/record.rs) to
 * $NRT_SHIM_RECORD, with every chunk's pid set to its own, so verify takes it
 * for this run's record. The reference runs (NRT_SHIM_MODE=passthrough) get
 * $REPLAY_REFERENCE, the others $REPLAY_RUN.
 *
 * usage: REPLAY_REFERENCE=a.rec REPLAY_RUN=b.rec record_replay
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "record_replay: %s\n", what);
    exit(3);
}

int main(void) {
    const char *mode = getenv("NRT_SHIM_MODE");
    int reference = mode && strcmp(mode, "passthrough") == 0;
    const char *src = getenv(reference ? "REPLAY_REFERENCE" : "REPLAY_RUN");
    const char *dst = getenv("NRT_SHIM_RECORD");
    if (!src || !dst) die("needs REPLAY_REFERENCE, REPLAY_RUN and NRT_SHIM_RECORD");
    FILE *in = fopen(src, "rb");
    if (!in) die("cannot open the recorded file");
    static uint8_t buf[1 << 22];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    if (n == sizeof buf) die("recorded file too large");
    uint32_t pid = (uint32_t)getpid();
    /* chunk: magic u32 | version u16 | kind u16 | pid u32 | thread u32 | seq u32 | len u32 | payload */
    for (size_t i = 0; i + 24 <= n;) {
        uint32_t len;
        memcpy(buf + i + 8, &pid, 4);
        memcpy(&len, buf + i + 20, 4);
        i += 24 + (size_t)len;
    }
    FILE *out = fopen(dst, "ab");
    if (!out || fwrite(buf, 1, n, out) != n || fclose(out) != 0) die("cannot write NRT_SHIM_RECORD");
    return 0;
}
