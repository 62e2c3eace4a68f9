#!/bin/sh
# bench.sh: `make bench`. Runs sbbench on the standard scenarios, each
# BENCH_RUNS times (default 3), keeps every run's JSON line and rewrites
# the table of docs/PERFORMANCE.md between its bench markers with the
# medians (tools/bench_table.py).
#
# The rounds are interleaved (every scenario once, then again): a burst of
# noise from other work on the machine then lands on different scenarios
# instead of on all the runs of one.
#
#   SB_BUILD     where switchboardd and sbbench are (default build)
#   BENCH_RUNS   runs a scenario (default 3)
#   BENCH_OUT    where results go (default $SB_BUILD/bench)
#   BENCH_DOC    the page to rewrite (default docs/PERFORMANCE.md; "-":
#                print the table instead)
#   BENCH_COMMON the sbbench options of every run (default below; shorter
#                runs for a quick look)
set -eu

BUILD=${SB_BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
RUNS=${BENCH_RUNS:-3}
OUT=${BENCH_OUT:-$BUILD/bench}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
SBBENCH=$BUILD/sbbench
HERE=$(dirname "$0")

# What every run does: 3 s at full speed, then 3 s at half the rate it
# reached (for latency), then the raw baseline: 2 s of echo at full speed
# and 1 s of REQ/REP round trips.
DEFAULT_COMMON="-d 3 --paced 0.5 --paced-seconds 3 --raw-seconds 2 -w 500
	-s 256"
COMMON=${BENCH_COMMON:-$DEFAULT_COMMON}
# shellcheck source=tools/bench-scenarios.sh
. "$HERE/bench-scenarios.sh"

[ -x "$SBBENCH" ] || { echo "bench: $SBBENCH not built (make)" >&2; exit 2; }
mkdir -p "$OUT/bin"
# Absolute: the daemon runs in a directory of its own.
OUT=$(cd "$OUT" && pwd)
# A copy of the binaries: a rebuild during the bench cannot mix versions.
cp "$BUILD/switchboardd" "$BUILD/sbbench" "$OUT/bin/"
SBBENCH=$OUT/bin/sbbench
export SB_BUILD="$OUT/bin"
RESULTS=$OUT/results.jsonl
MACHINE=$OUT/machine.txt
: > "$RESULTS"

{
	echo "nproc=$(nproc)"
	echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo |
	    head -n 1)"
	echo "kernel=$(uname -sr)"
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "load_start=$(cut -d ' ' -f 1-3 /proc/loadavg)"
	dirty=$(git diff --quiet HEAD 2>/dev/null ||
	    echo ' with uncommitted changes')
	echo "tree=$(git rev-parse --short HEAD 2>/dev/null ||
	    echo unknown)$dirty"
	echo "runs=$RUNS"
	# shellcheck disable=SC2086,SC2116 # words joined on one line
	echo "common=$(echo $COMMON)"
	# shellcheck disable=SC2086,SC2116 # words joined on one line
	echo "base=$(echo $BASE)"
} > "$MACHINE"

round=1
while [ "$round" -le "$RUNS" ]; do
	echo "$SCENARIOS" | while IFS='|' read -r label extra; do
		echo "bench: round $round/$RUNS: $label" >&2
		rc=0
		# shellcheck disable=SC2086 # options are words on purpose
		"$SBBENCH" $COMMON $BASE $extra --label "$label" --json \
		    >> "$RESULTS" || rc=$?
		case $rc in
		0)	;;
		1)	echo "bench: $label: some notices failed or were" \
			    "lost; the run is kept and marked" >&2 ;;
		*)	exit "$rc" ;;
		esac
	done
	round=$((round + 1))
done
echo "load_end=$(cut -d ' ' -f 1-3 /proc/loadavg)" >> "$MACHINE"

"$PYTHON" "$HERE/bench_table.py" table "$RESULTS" "$MACHINE" "$DOC"
