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
# Under callgrind the daemon is some 50 times slower, so at full speed it
# always finds a full batch (256 requests) waiting: the cost of a pass
# (commit, fsync, wake-ups) is spread over 256 notices. A third run with
# spool.sync=normal publishes N/10 notices at PACED_RATE a second, slow
# enough that most passes carry one notice, as at a modest real load.
#
#   SB_BUILD             where switchboardd and sbbench are (default build)
#   BENCH_CALLGRIND_N    notices (default 20000)
#   BENCH_CALLGRIND_RATE notices a second of the paced run (default 100)
#   BENCH_CALLGRIND_SCENARIO_N  notices of each standard scenario's run
#                        (default 1000; 0: skip the scenarios)
#   BENCH_OUT            where results go (default $SB_BUILD/bench)
#   BENCH_DOC            the page to rewrite (default docs/PERFORMANCE.md;
#                        "-": print the figures instead)
set -eu

BUILD=${SB_BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
N=${BENCH_CALLGRIND_N:-20000}
PACED_RATE=${BENCH_CALLGRIND_RATE:-100}
SCENARIO_N=${BENCH_CALLGRIND_SCENARIO_N:-1000}
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
# Absolute: the daemon runs in a directory of its own.
OUT=$(cd "$OUT" && pwd)
# A copy of the binaries: a rebuild during the runs cannot mix versions.
cp "$BUILD/switchboardd" "$BUILD/sbbench" "$OUT/bin/"
SBBENCH=$OUT/bin/sbbench
export SB_BUILD="$OUT/bin"

# run NAME SYNC ARGS...: one callgrind run, its JSON in $OUT/NAME.json.
run() {
	name=$1 sync=$2
	shift 2
	echo "bench-callgrind: $name" >&2
	rm -f "$OUT/$name.out"
	# shellcheck disable=SC2086 # options are words on purpose
	"$SBBENCH" $SCENARIO --spool-sync "$sync" "$@" --json --label "$name" \
	    --wrapper "valgrind -q --tool=callgrind \
	    --callgrind-out-file=$OUT/$name.out" > "$OUT/$name.json"
}

for sync in off normal; do
	run "callgrind-$sync-0" "$sync" -n 0
	run "callgrind-$sync-$N" "$sync" -n "$N"
	callgrind_annotate "$OUT/callgrind-$sync-$N.out" \
	    > "$OUT/callgrind-$sync.txt"
	callgrind_annotate --inclusive=yes "$OUT/callgrind-$sync-$N.out" \
	    > "$OUT/callgrind-$sync-inclusive.txt"
done
run callgrind-normal-paced normal -n $((N / 10)) -r "$PACED_RATE"

# Each standard scenario of `make bench` (tools/bench-scenarios.sh), with
# fewer notices (100 channels cost ~2 million instructions a notice) and
# a start-stop run of its own (10,000 routes take a while to load).
# shellcheck source=tools/bench-scenarios.sh
. "$HERE/bench-scenarios.sh"
if [ "$SCENARIO_N" -gt 0 ]; then
	echo "$SCENARIOS" | while IFS='|' read -r label extra; do
		for n in 0 "$SCENARIO_N"; do
			# shellcheck disable=SC2086 # options are words on purpose
			run "scenario-$label-$n" normal $BASE $extra -n "$n"
		done
	done
fi

"$PYTHON" "$HERE/bench_table.py" callgrind "$OUT" "$N" "$DOC" "$SCENARIO_N"
