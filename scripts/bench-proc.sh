#!/usr/bin/env bash
# Process, thread and signal costs, native against rvisor, measured in the same
# run. Not a test: it prints figures. Usage: scripts/bench-proc.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
out=$PWD/target/bench
mkdir -p "$out"
cargo build --release -q
gcc -O2 -static -pthread -o "$out/proc_ops" benches/proc_ops.c
rv=./target/release/rvisor
declare -A nat sbx
while read -r k v; do nat[$k]=$v; done < <("$out/proc_ops" "$n")
while read -r k v; do sbx[$k]=$v; done < <($rv do -- "$out/proc_ops" "$n")
printf '%-28s %12s %12s %8s\n' "operation" "native" "rvisor" "ratio"
for k in fork+exit+wait fork+exec+wait thread_create+join futex_pingpong pipe_pingpong signal_roundtrip clock_gettime clock_gettime_syscall; do
  awk -v k="$k" -v a="${nat[$k]}" -v b="${sbx[$k]}" 'BEGIN { printf "%-28s %9s us %9s us %7.1fx\n", k, a, b, b / a }'
done
