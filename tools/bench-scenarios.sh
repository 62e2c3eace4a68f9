# bench-scenarios.sh: the standard sbbench scenarios, sourced by bench.sh
# (timed runs) and bench-callgrind.sh (instruction counts), so that both
# measure the same things.
#
# BASE is the base scenario; each line of SCENARIOS is label|the options
# that set that scenario apart from base (later options win).
BASE="--transport tcp --spool-sync normal -m realtime=50,batch=30,interactive=20
	--routes 10 --channels 1"
SCENARIOS="base|
spool-off|--spool-sync off
realtime|-m realtime=100
ipc|--transport ipc
routes-1000|--routes 1000
routes-10000|--routes 10000
channels-10|--channels 10
channels-100|--channels 100"
