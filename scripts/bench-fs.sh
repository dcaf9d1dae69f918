#!/usr/bin/env bash
# Filesystem costs, native against rvisor, measured in the same run (host files
# reached through the gofer and the overlay root). Not a test: it prints figures.
# Usage: scripts/bench-fs.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
out=$PWD/target/bench
mkdir -p "$out"
cargo build --release -q
gcc -O2 -static -o "$out/fs_ops" benches/fs_ops.c
head -c 8192 /dev/urandom > "$out/small.bin"
[ -s "$out/big.bin" ] || head -c $((256 << 20)) /dev/zero > "$out/big.bin"
if [ ! -d "$out/dir10k" ]; then
  mkdir -p "$out/dir10k"
  (cd "$out/dir10k" && seq -w 1 10000 | xargs touch)
fi
cat "$out/big.bin" > /dev/null # warm the page cache for both runs
rv=./target/release/rvisor
declare -A nat sbx
while read -r k v; do nat[$k]=$v; done < <("$out/fs_ops" "$out/small.bin" "$out/big.bin" "$n")
while read -r k v; do sbx[$k]=$v; done < <($rv do -- "$out/fs_ops" "$out/small.bin" "$out/big.bin" "$n")
ms() { local s; s=$(date +%s%N); "$@" > /dev/null; echo $(( ($(date +%s%N) - s) / 1000000 )); }
nat_ls=$(ms ls -l "$out/dir10k")
sbx_ls=$(ms $rv do -- ls -l "$out/dir10k")
printf '%-28s %12s %12s %8s\n' "operation" "native" "rvisor" "ratio"
for k in open+close stat pread4k; do
  awk -v k="$k" -v a="${nat[$k]}" -v b="${sbx[$k]}" 'BEGIN { printf "%-28s %9s ns %9s ns %7.1fx\n", k, a, b, b / a }'
done
awk -v a="${nat[seqread_MBps]}" -v b="${sbx[seqread_MBps]}" 'BEGIN { printf "%-28s %7s MB/s %7s MB/s %7.2fx\n", "sequential read 256 MiB", a, b, a / b }'
awk -v a="$nat_ls" -v b="$sbx_ls" 'BEGIN { printf "%-28s %9s ms %9s ms %7.1fx\n", "ls -l, 10000 entries", a, b, b / a }'
