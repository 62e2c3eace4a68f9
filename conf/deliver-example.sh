#!/bin/sh
# deliver-example.sh: an example "exec" channel command. switchboardd runs
# it once per delivery with the delivery as one JSON object on stdin (and
# SB_* variables in the environment); it appends that object as one line to
# var/exec-deliveries.jsonl, relative to the daemon's working directory, or
# to $DELIVER_EXAMPLE_OUT when set (a channel can set it with its env
# option; SB_* names are reserved for the daemon).
#
# Exit status is the outcome: 0 delivered, 75 (EX_TEMPFAIL) try again
# later, anything else failed for good.
set -u

out=${DELIVER_EXAMPLE_OUT:-var/exec-deliveries.jsonl}

# The JSON has no raw newlines (they are escaped inside strings); strip a
# trailing one so that each delivery is exactly one line.
payload=$(cat) || exit 75
[ -n "$payload" ] || { echo "deliver-example: empty input" >&2; exit 65; }

mkdir -p "$(dirname "$out")" || exit 75
# Deliveries run concurrently: hold a lock on the file while appending, so
# that two long lines never interleave (flock(1) is part of util-linux).
{
	flock 9 || exit 75
	printf '%s\n' "$payload" >&9 || exit 75
} 9>>"$out" || exit 75
exit 0
