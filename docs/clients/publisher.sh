#!/bin/sh
# publisher.sh: publish one notice to switchboardd from a shell script, with
# sbctl. On silence (sbctl's exit 2: no answer within --timeout) it tries
# again with the same --id, made once before the first try, so a resend
# after a lost reply is answered "duplicate" and never delivered twice.
#
#     SB_ENDPOINT=tcp://127.0.0.1:7450 ./publisher.sh monitoring dept:ops \
#         "Database failover in progress" "Failover to db2 started." high
#
# Exit 0 when the daemon accepted the notice, 1 when it refused it (sbctl
# says why on stderr), 2 on a usage error or when nobody answered.
set -u

if [ $# -lt 3 ] || [ $# -gt 5 ]; then
	echo "usage: publisher.sh source audience[,audience...] subject" \
	    "[body [priority]]" >&2
	exit 2
fi
source=$1 audience=$2 subject=$3 body=${4:-} priority=${5:-normal}
SBCTL=${SBCTL:-sbctl}
tries=${TRIES:-3}
# Made once: every try sends the same id.
id="$source-$(date +%s%N)-$$"

# One --audience flag per entry of "dept:ops,role:oncall", as the
# positional parameters (sh has no arrays); no globbing of "staff:*".
set -f
set --
old_ifs=$IFS
IFS=,
for a in $audience; do
	set -- "$@" --audience "$a"
done
IFS=$old_ifs

try=1
while :; do
	# sbctl takes the endpoint from $SB_ENDPOINT (default
	# tcp://127.0.0.1:7450); -e ENDPOINT would override it.
	"$SBCTL" publish --timeout "${TIMEOUT:-5s}" --id "$id" \
	    --source "$source" "$@" --subject "$subject" \
	    ${body:+--body "$body"} --priority "$priority"
	rc=$?
	# 0: accepted; 1: refused, and sending it again would not help. 2 is
	# also a usage error, which a retry only repeats.
	[ "$rc" -ne 2 ] && exit "$rc"
	[ "$try" -ge "$tries" ] && break
	try=$((try + 1))
	echo "publisher.sh: no answer; try $try of $tries" >&2
done
exit 2
