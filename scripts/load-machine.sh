#!/usr/bin/env bash
# Loads this machine the way a busy CI host is loaded, to run the test suite beside it:
# two CPU burners (one per core of a 2-core runner) and a loop of small writes each followed by
# fsync (a disk that other work keeps flushing). Bounded in time; stops its children on exit,
# Ctrl-C or SIGTERM.
#
#   scripts/load-machine.sh [duration]     duration as for sleep(1): 900 (s), 15m, 1h; default 15m
#   e.g. scripts/load-machine.sh 25m & npm test; kill %1
set -euo pipefail

duration="${1:-15m}"
if ! [[ "$duration" =~ ^[0-9]+[smh]?$ ]]; then
  echo "usage: $0 [duration]   (seconds, or with a unit: 90s, 15m, 1h)" >&2
  exit 64
fi

work_dir="$(mktemp -d "${TMPDIR:-/tmp}/load-machine.XXXXXX")"
children=()

stop() {
  trap - EXIT INT TERM
  if [ "${#children[@]}" -gt 0 ]; then kill "${children[@]}" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$work_dir"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Each burner is a busy shell loop: no extra tool needed, one core each.
for _ in 1 2; do
  ( while :; do :; done ) &
  children+=("$!")
done

# 4 KiB appended and flushed to disk (dd's conv=fsync), over and over; the file is recreated
# every 1000 writes so that it stays small.
(
  while :; do
    for _ in $(seq 1000); do
      dd if=/dev/zero of="$work_dir/fsync.dat" bs=4096 count=1 oflag=append conv=notrunc,fsync status=none
    done
    rm -f "$work_dir/fsync.dat"
  done
) &
children+=("$!")

echo "load-machine: 2 CPU burners and an fsync loop for $duration (pids ${children[*]}); Ctrl-C stops them" >&2
sleep "$duration" &
children+=("$!")
wait "$!" || true
