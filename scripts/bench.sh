#!/usr/bin/env bash
# Syscall cost benchmark: getppid natively, under rvisor, and the floor of the
# ptrace platform (a bare PTRACE_SYSEMU round trip between a tracer and a
# tracee pinned to one CPU), all measured in the same run. Not a test: it
# prints figures and ratios. Usage: scripts/bench.sh [ITERATIONS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}
rounds=${2:-5}
out=target/bench
mkdir -p "$out"
cargo build --release -q
gcc -O2 -static -o "$out/getppid_loop" benches/getppid_loop.c
gcc -O2 -o "$out/sysemu_floor" benches/sysemu_floor.c

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
native=(); floor=(); floor_regs=(); sandbox=()
for _ in $(seq "$rounds"); do
  native+=("$("$out/getppid_loop" "$n")")
  read -r f fr < <("$out/sysemu_floor" "$n")
  floor+=("$f"); floor_regs+=("$fr")
  sandbox+=("$(./target/release/rvisor do -- "$out/getppid_loop" "$n")")
done
nat=$(printf '%s\n' "${native[@]}" | median)
flo=$(printf '%s\n' "${floor[@]}" | median)
flr=$(printf '%s\n' "${floor_regs[@]}" | median)
rv=$(printf '%s\n' "${sandbox[@]}" | median)
echo "getppid cost, median of $rounds rounds of $n calls (ns per call)"
printf '%-48s %10s\n' "native getppid" "$nat"
printf '%-48s %10s\n' "PTRACE_SYSEMU round trip, pinned (the floor)" "$flo"
printf '%-48s %10s\n' "  same, plus GETREGS+SETREGS" "$flr"
printf '%-48s %10s\n' "rvisor do (ptrace platform)" "$rv"
awk -v r="$rv" -v f="$flo" -v n="$nat" 'BEGIN {
  printf "rvisor / floor  = %.2fx\n", r / f;
  printf "rvisor / native = %.1fx\n", r / n }'
if command -v runsc >/dev/null; then
  rs=$(runsc --platform=ptrace --network=none do "$out/getppid_loop" "$n" 2>/dev/null || echo "failed")
  printf '%-48s %10s\n' "runsc --platform=ptrace do" "$rs"
fi
