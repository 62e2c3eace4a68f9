#!/bin/sh
# bench-callgrind.sh: `make bench-callgrind`. Instructions the daemon
# executes per accepted notice, counted by callgrind (exact and free of the
# machine's noise, unlike a time).
#
# For each spool.sync (off, normal) the daemon runs under callgrind twice:
# once to publish N notices, once to publish none (start, the warm-up that
# waits for the subscriber, stop). The difference of the two totals over
# the difference of notices published is the cost of one notice, without
# start and stop. callgrind_annotate then gives the profile of the N run.
#
#   SB_BUILD             where switchboardd and sbbench are (default build)
#   BENCH_CALLGRIND_N    notices (default 20000)
#   BENCH_OUT            where results go (default $SB_BUILD/bench)
#   BENCH_DOC            the page to rewrite (default docs/PERFORMANCE.md;
#                        "-": print the figures instead)
set -eu

BUILD=${SB_BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
N=${BENCH_CALLGRIND_N:-20000}
OUT=${BENCH_OUT:-$BUILD/bench}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
SBBENCH=$BUILD/sbbench
HERE=$(dirname "$0")
SCENARIO="--transport tcp -m realtime=50,batch=30,interactive=20 --routes 10
	--channels 1 -s 256 -w 500 --warmup 0 --no-baseline --timeout 300"

command -v valgrind >/dev/null || { echo "bench: valgrind not found" >&2;
    exit 2; }
[ -x "$SBBENCH" ] || { echo "bench: $SBBENCH not built (make)" >&2; exit 2; }
mkdir -p "$OUT/bin"
# A copy of the binaries: a rebuild during the runs cannot mix versions.
cp "$BUILD/switchboardd" "$BUILD/sbbench" "$OUT/bin/"
SBBENCH=$OUT/bin/sbbench
export SB_BUILD="$OUT/bin"

for sync in off normal; do
	for n in 0 "$N"; do
		echo "bench-callgrind: spool.sync=$sync, $n notices" >&2
		rm -f "$OUT/callgrind-$sync-$n.out"
		# shellcheck disable=SC2086 # options are words on purpose
		"$SBBENCH" $SCENARIO --spool-sync "$sync" -n "$n" --json \
		    --label "callgrind-$sync-$n" --wrapper "valgrind -q \
		    --tool=callgrind --callgrind-out-file=$OUT/callgrind-$sync-$n.out" \
		    > "$OUT/callgrind-$sync-$n.json"
	done
	callgrind_annotate "$OUT/callgrind-$sync-$N.out" \
	    > "$OUT/callgrind-$sync.txt"
	callgrind_annotate --inclusive=yes "$OUT/callgrind-$sync-$N.out" \
	    > "$OUT/callgrind-$sync-inclusive.txt"
done

"$PYTHON" "$HERE/bench_table.py" callgrind "$OUT" "$N" "$DOC"
