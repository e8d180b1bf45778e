#!/usr/bin/env bash
# Same-run A/B of two builds of the shim on the legacy workloads: every round
# runs the implicit mode, shim A and shim B, one after the other, so that the
# machine's drift (20-30% between runs on a shared VM) hits all three alike.
# Prints per workload the medians and B/A per round with B's wins.
#
#   bench/ab.sh SHIM_A.so SHIM_B.so [rounds=12] [workload ...]
#
# Workloads: bench/workloads/*.c without "_expert" (default: all five). Needs
# the release simulator (cargo build --release -p nrt-sim) and cc. To measure
# under load, start CPU-bound processes first, e.g. two of
# `timeout 600 sh -c 'while :; do :; done' &`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 2 ] || { sed -n 2,12p "$0"; exit 2; }
a="$(realpath "$1")" b="$(realpath "$2")"
rounds="${3:-12}"
shift $(($# < 3 ? $# : 3))
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(w1_training w2_double_buffer w3_pipeline w4_eager w5_server)
sim="$root/target/release/libnrt_sim.so"
[ -f "$sim" ] || { echo "ab.sh: $sim missing: cargo build --release -p nrt-sim" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$sim" "$work/libnrt.so.1"
ln -s libnrt.so.1 "$work/libnrt.so"
export LD_LIBRARY_PATH="$work" NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS=3
elapsed() { awk '/^elapsed_us:/ {print $2}'; }
for w in "${workloads[@]}"; do
  "${CC:-cc}" -std=c11 -O2 -Wall -Wextra -Werror -pthread -I"$root/include" -I"$root/bench/workloads" \
    "$root/bench/workloads/$w.c" -o "$work/$w" -L"$work" -lnrt -ldl
  for _ in $(seq "$rounds"); do
    i=$(NRT_SIM_RUNTIME=2.30 "$work/$w" | elapsed)
    x=$(NRT_SIM_RUNTIME=2.32 LD_PRELOAD="$a" "$work/$w" | elapsed)
    y=$(NRT_SIM_RUNTIME=2.32 LD_PRELOAD="$b" "$work/$w" | elapsed)
    echo "$i $x $y"
  done | python3 -c '
import statistics, sys
rows = [list(map(int, line.split())) for line in sys.stdin]
m = [statistics.median(c) for c in zip(*rows)]
r = [y / x for _, x, y in rows]
print(f"{sys.argv[1]}: median us implicit {m[0]:.0f}, A {m[1]:.0f} ({m[1] / m[0]:.2f}x), "
      f"B {m[2]:.0f} ({m[2] / m[0]:.2f}x); B/A per round median {statistics.median(r):.3f}, "
      f"B faster in {sum(v < 1 for v in r)} of {len(r)}")' "$w"
done
