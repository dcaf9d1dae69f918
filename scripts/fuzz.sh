#!/usr/bin/env bash
# A long syscall fuzz under rVisor, RUNS times: P processes of random hostile
# system calls for S seconds each run (tests/guest/syscall_fuzz.c, timed mode).
# Not a test and not run by CI: it hunts for a stuck Sentry (issue 7).
#
# Usage: scripts/fuzz.sh [SECONDS] [PROCS] [RUNS]
#
# Each run has its own --hostname and seed (FUZZ_SEED + run number; FUZZ_SEED
# is random unless given) and an outer timeout of SECONDS + MARGIN
# (FUZZ_MARGIN, 30 s). A run that is still going MARGIN/2 after its end is
# hung: the Sentry's threads (stat, wchan, syscall, gdb backtraces) and its
# stubs are written to target/fuzz/run-N.hang before the timeout kills it.
# After every run no `rvisor boot` (matched by the run's hostname) and no
# `rvisor gofer` of that run may be left. The script exits 1 if any run hung
# or left a process behind.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
procs=${2:-4}
runs=${3:-5}
margin=${FUZZ_MARGIN:-30}
seed0=${FUZZ_SEED:-$RANDOM}
out=$PWD/target/fuzz
mkdir -p "$out"
gcc -static -O1 -g -fno-stack-protector -w -o "$out/syscall_fuzz" tests/guest/syscall_fuzz.c || exit 1
# FUZZ_RVISOR: another rvisor binary to fuzz (an older build, say).
if [ -n "${FUZZ_RVISOR:-}" ]; then
  rv=$(realpath "$FUZZ_RVISOR")
else
  cargo build --release -q || exit 1
  rv=$PWD/target/release/rvisor
fi

# The state of a hung sandbox: every process of it, the threads of the
# Sentry, its stub factory and its stubs in full, and a backtrace of each
# Sentry thread.
threads() {
  local what=$1 pid=$2 t
  for t in /proc/"$pid"/task/*; do
    printf '%s %s/%s: %s\n    wchan %s; syscall %s\n' "$what" "$pid" "${t##*/}" "$(cut -d' ' -f3-8 "$t/stat" 2>/dev/null)" \
      "$(cat "$t/wchan" 2>/dev/null)" "$(cat "$t/syscall" 2>/dev/null)"
  done
}
diagnose() {
  local launcher=$1 sup sentry factory stub
  echo "== $(date): still going"
  ps -o pid,ppid,pgid,stat,wchan:32,time,cmd --forest -g "$(ps -o sid= -p "$launcher" | tr -d ' ')" 2>/dev/null
  for sup in $(pgrep -P "$launcher" -f 'rvisor[^ ]* boot'); do
    for sentry in $(pgrep -P "$sup"); do
      echo "== the Sentry, pid $sentry (state, wchan, syscall of each thread)"
      threads sentry "$sentry"
      for factory in $(pgrep -P "$sentry"); do
        threads factory "$factory"
        for stub in $(pgrep -P "$factory"); do threads stub "$stub"; done
      done
      echo "== backtraces of the Sentry's threads"
      # The Sentry lives in an empty root: gdb takes its binary from here.
      timeout 120 gdb -batch -ex 'set sysroot /' -ex "file $rv" -ex "attach $sentry" -ex 'set pagination off' \
        -ex 'thread apply all bt 30' 2>&1 | grep -v '^\[New LWP'
    done
  done
}

hung=0
left=0
declare -a counts
for run in $(seq 1 "$runs"); do
  host=fuzz-$$-$run
  seed=$((seed0 + run))
  log=$out/run-$run.out
  rm -f "$out/run-$run.hang"
  start=$(date +%s)
  timeout -k 5 $((secs + margin)) "$rv" do --hostname "$host" -- "$out/syscall_fuzz" \
    --seconds "$secs" --procs "$procs" --seed "$seed" >"$log" 2>&1 &
  tpid=$!
  sleep 1
  launcher=$(pgrep -P "$tpid" | head -1)
  gofers=$(pgrep -P "${launcher:-0}" -f 'rvisor[^ ]* gofer' | tr '\n' ' ')
  diagnosed=0
  while kill -0 "$tpid" 2>/dev/null; do
    if [ $diagnosed = 0 ] && [ $(($(date +%s) - start)) -ge $((secs + margin / 2)) ]; then
      diagnose "${launcher:-$tpid}" >"$out/run-$run.hang" 2>&1
      diagnosed=1
    fi
    sleep 1
  done
  wait "$tpid"
  rc=$?
  n=$(sed -n 's/^syscall_fuzz: \([0-9]*\) syscalls.*/\1/p' "$log" | tail -1)
  counts+=("${n:-0}")
  if [ $rc = 124 ] || [ $rc = 137 ]; then
    state=HUNG
    hung=$((hung + 1))
  elif [ $rc = 0 ] && [ -n "$n" ]; then
    state=completed
  else
    state="failed (exit $rc)"
  fi
  sleep 1
  rest=$(
    pgrep -af "rvisor[^ ]* (boot|gofer) --hostname $host "
    # A gofer whose launcher the timeout killed is a zombie until the
    # machine's init reaps it: that one is gone.
    for g in $gofers; do
      st=$(sed 's/.*) \(.\).*/\1/' /proc/"$g"/stat 2>/dev/null)
      [ -n "$st" ] && [ "$st" != Z ] && echo "$g $(tr '\0' ' ' </proc/"$g"/cmdline)"
    done
  )
  summary=$(grep '^syscall_fuzz: [0-9]' "$log" | tail -1)
  printf 'run %d (seed %d): %s after %ds, %s syscalls  %s\n' "$run" "$seed" "$state" $(($(date +%s) - start)) \
    "${n:-?}" "${summary#syscall_fuzz: }"
  grep -v '^syscall_fuzz: [0-9]' "$log" | head -5 | sed 's/^/    /'
  [ -e "$out/run-$run.hang" ] && echo "    hang diagnosis: $out/run-$run.hang"
  if [ -n "$rest" ]; then
    left=$((left + 1))
    echo "    LEFT BEHIND:"
    echo "$rest" | sed 's/^/      /'
    for p in $(echo "$rest" | awk '{print $1}'); do kill -9 "$p" 2>/dev/null; done
  fi
done
total=0
for n in "${counts[@]}"; do total=$((total + n)); done
echo "runs: $runs of ${secs}s with $procs processes; hung: $hung; left processes behind: $left; syscalls: $total (${counts[*]})"
[ $hung = 0 ] && [ $left = 0 ]
