#!/usr/bin/env bash
# bench/compare.sh: raftkv and etcd 3.4 side by side on this machine, with the
# same load generator (kvcli bench; --protocol etcd-v2 for etcd), the same
# clients and the same 256-byte values.
#
# For each round, client count and mode (write, read = linearizable read) it
# starts a fresh 3-node cluster of one system on loopback (fresh data
# directories, fsync on: each system's default), measures it, stops it, then
# does the same with the other system. Only one cluster exists at a time, so
# neither system's background work (compaction, snapshots) lands in the
# other's measurement. Which system goes first alternates from round to
# round.
#
# Writes docs/bench/compare.csv (one row per run) and docs/bench/compare.svg
# (medians over rounds), and prints the summary with the ratio raftkv/etcd.
#
# Environment:
#   ROUNDS=3            rounds (each measures every client count and mode on both)
#   DURATION=10s        length of each measured run
#   CLIENTS="1 16 64 256"
#   MODES="write read"
#   FLOOR=1             also measure the HTTP floor (bench/httpfloor: a server
#                       that answers at once, storing nothing), the ceiling of
#                       any store driven through HTTP on this machine; 0: not
#   KEEP=1              keep the temp directory (data, logs, each run's JSON)
#   OUT=docs/bench      where compare.csv and compare.svg go
#
# Needs go, curl and etcd (Debian's etcd-server, installed here if missing
# when run as root). Ctrl-C stops everything it started.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CLIENTS=${CLIENTS:-"1 16 64 256"}
MODES=${MODES:-"write read"}
FLOOR=${FLOOR:-1}
KEEP=${KEEP:-0}
VALUE_SIZE=256

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$repo/docs/bench}

say() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	say "compare.sh: $*"
	exit 1
}

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS=$ROUNDS: want a positive number"
[[ $FLOOR == 0 || $FLOOR == 1 ]] || die "FLOOR=$FLOOR: want 0 or 1"
for c in $CLIENTS; do
	[[ $c =~ ^[1-9][0-9]*$ ]] || die "CLIENTS: $c is not a positive number"
done
for m in $MODES; do
	[[ $m == write || $m == read ]] || die "MODES: $m is not write or read"
done

# --- processes: everything started is tracked, and stopped on any exit ------

pids=()         # every process started and not yet reaped
cluster_pids=() # the running cluster's
work=""
finished=0

alive() { # a live process (a zombie is not)
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# stop_pids SIGNAL PID...: send SIGNAL, wait up to 5 s, then KILL; reap
# them all. Its stderr is closed off so that bash's "Killed" notices for
# the processes it reaps stay out of the output.
stop_pids() {
	local sig=$1 pid i stuck=""
	shift
	{
		for pid in "$@"; do kill "-$sig" "$pid" || true; done
		for pid in "$@"; do
			for ((i = 0; i < 50; i++)); do
				alive "$pid" || break
				sleep 0.1
			done
			if alive "$pid"; then
				stuck+=" $pid"
				kill -KILL "$pid" || true
			fi
			wait "$pid" || true
			forget "$pid"
		done
	} 2>/dev/null
	[[ -z $stuck ]] || say "still running 5 s after SIG$sig, killed:$stuck"
}

# stop_cluster kills the cluster's nodes outright: their data is thrown
# away (or kept as it is for KEEP=1), and a clean stop costs time for
# nothing: on SIGTERM etcd's leader waits its request timeout for a
# leadership transfer to followers that are stopping too.
stop_cluster() {
	((${#cluster_pids[@]} == 0)) || stop_pids KILL "${cluster_pids[@]}"
	cluster_pids=()
}

forget() { # drop a reaped process from pids
	local keep=() p
	for p in "${pids[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	pids=("${keep[@]}")
}

cleanup() {
	local code=$?
	trap '' INT TERM HUP # a second Ctrl-C must not cut the clean-up short
	trap - EXIT
	if ((${#pids[@]} > 0)); then
		say "stopping ${#pids[@]} process(es)"
		stop_cluster
		((${#pids[@]} == 0)) || stop_pids TERM "${pids[@]}"
	fi
	if [[ -n $work && -d $work ]]; then
		if [[ $KEEP == 1 ]]; then
			say "kept $work"
		else
			rm -rf "$work"
		fi
	fi
	if ((!finished)); then
		local where=""
		[[ -z ${csv:-} || ! -s $csv ]] || where="; the rows measured so far are in $csv"
		say "compare.sh did not finish (exit $code)$where"
	fi
	exit "$code"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM
trap 'say "hung up"; exit 129' HUP

# --- tools --------------------------------------------------------------------

command -v go >/dev/null || die "go is not on PATH"
if ! command -v etcd >/dev/null || ! command -v curl >/dev/null; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		say "installing etcd-server and curl from Debian"
		apt-get -o DPkg::Lock::Timeout=300 update -qq
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq etcd-server curl >/dev/null
	fi
	command -v etcd >/dev/null || die "etcd is missing: apt-get install etcd-server (etcd 3.4)"
	command -v curl >/dev/null || die "curl is missing: apt-get install curl"
fi
etcd_version=$(etcd --version | sed -n 's/^etcd Version: //p')
[[ $etcd_version == 3.4.* ]] || say "warning: etcd $etcd_version, not 3.4: the v2 API may be missing (3.6 removed it)"
# Our flags, not the environment's: etcd reads ETCD_* variables as flags.
unset "${!ETCD_@}"

work=$(mktemp -d "${TMPDIR:-/tmp}/raftkv-compare.XXXXXX")
bin=$work/bin
say "building kvserver, kvcli and the chart program into $bin"
(cd "$repo" && go build -o "$bin/kvserver" ./cmd/kvserver && go build -o "$bin/kvcli" ./cmd/kvcli && go build -o "$bin/chart" ./bench/chart && go build -o "$bin/httpfloor" ./bench/httpfloor)
commit=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)

# --- ports: 12 free loopback ports, away from the defaults and the ephemeral range

ports=()
port_free() { ! (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
while ((${#ports[@]} < 13)); do
	p=$((20000 + RANDOM % 12000))
	[[ " ${ports[*]} " == *" $p "* ]] && continue
	port_free "$p" && ports+=("$p")
done
kv_raft=("${ports[@]:0:3}")
kv_http=("${ports[@]:3:3}")
etcd_client=("${ports[@]:6:3}")
etcd_peer=("${ports[@]:9:3}")
floor_port=${ports[12]}
kv_endpoints=$(printf '127.0.0.1:%s,' "${kv_http[@]}")
kv_endpoints=${kv_endpoints%,}
etcd_endpoints=$(printf '127.0.0.1:%s,' "${etcd_client[@]}")
etcd_endpoints=${etcd_endpoints%,}

# --- clusters -----------------------------------------------------------------

# wait_for DESCRIPTION SECONDS COMMAND...: until COMMAND succeeds.
wait_for() {
	local what=$1 secs=$2 deadline=$((SECONDS + $2)) pid
	shift 2
	while ((SECONDS < deadline)); do
		"$@" >/dev/null 2>&1 && return 0
		for pid in "${cluster_pids[@]}"; do
			alive "$pid" || die "$what: a node exited; see the logs in $run"
		done
		sleep 0.1
	done
	die "$what: not ready after $secs s; see the logs in $run"
}

kv_ready() {
	local h
	for h in "${kv_http[@]}"; do
		curl -fsS --max-time 1 "http://127.0.0.1:$h/readyz" || return 1
	done
}

start_raftkv() {
	local i cfg=$run/config.json
	{
		echo '{'
		echo '  "nodes": ['
		for i in 0 1 2; do
			printf '    {"id": %d, "raft_addr": "tcp://127.0.0.1:%s", "http_addr": "127.0.0.1:%s"}%s\n' \
				"$i" "${kv_raft[$i]}" "${kv_http[$i]}" "$([[ $i == 2 ]] || echo ,)"
		done
		echo '  ],'
		echo '  "data_dir": "data"'
		echo '}'
	} >"$cfg"
	for i in 0 1 2; do
		(cd "$run" && exec "$bin/kvserver" --config "$cfg" --node-id "$i" >"$run/kvserver-$i.log" 2>&1) &
		pids+=($!)
		cluster_pids+=($!)
	done
	wait_for "raftkv cluster" 30 kv_ready
}

start_floor() {
	"$bin/httpfloor" "127.0.0.1:$floor_port" >"$run/httpfloor.log" 2>&1 &
	pids+=($!)
	cluster_pids+=($!)
	wait_for "http floor" 10 curl -fsS --max-time 1 "http://127.0.0.1:$floor_port/v1/status"
}

etcd_ready() {
	local c
	for c in "${etcd_client[@]}"; do
		curl -fsS --max-time 1 "http://127.0.0.1:$c/health" | grep -q '"health":"true"' || return 1
	done
	for c in "${etcd_client[@]}"; do
		curl -fsS --max-time 1 "http://127.0.0.1:$c/v2/stats/self" | grep -q '"state":"StateLeader"' && return 0
	done
	return 1
}

start_etcd() {
	local i initial="" token="compare-$$-$RANDOM" # one token for the three: it makes the cluster id
	for i in 0 1 2; do initial+="e$i=http://127.0.0.1:${etcd_peer[$i]},"; done
	for i in 0 1 2; do
		etcd --name "e$i" --data-dir "$run/etcd-$i" \
			--listen-client-urls "http://127.0.0.1:${etcd_client[$i]}" \
			--advertise-client-urls "http://127.0.0.1:${etcd_client[$i]}" \
			--listen-peer-urls "http://127.0.0.1:${etcd_peer[$i]}" \
			--initial-advertise-peer-urls "http://127.0.0.1:${etcd_peer[$i]}" \
			--initial-cluster "${initial%,}" --initial-cluster-state new \
			--initial-cluster-token "$token" \
			--enable-v2=true >"$run/etcd-$i.log" 2>&1 &
		pids+=($!)
		cluster_pids+=($!)
	done
	wait_for "etcd cluster" 30 etcd_ready
}

# --- runs ---------------------------------------------------------------------

mkdir -p "$OUT"
csv=$OUT/compare.csv
echo "system,mode,clients,round,ops_per_s,p50_ms,p99_ms,errors,server_cpu_us,client_cpu_us" >"$csv"
mkdir -p "$work/results"

# --- CPU time: what a run cost, not only how fast it went ---------------------

clk_tck=$(getconf CLK_TCK)

# cluster_cpu_us: user+system CPU of the running cluster's processes so far,
# in microseconds (fields 14 and 15 of /proc/PID/stat, after the command
# name, which may hold spaces).
cluster_cpu_us() {
	local pid stat f ticks=0
	for pid in "${cluster_pids[@]}"; do
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		read -ra f <<<"${stat##*) }"
		ticks=$((ticks + f[11] + f[12]))
	done
	echo $((ticks * 1000000 / clk_tck))
}

# children_cpu: sets children_us to the user+system CPU of this shell's
# reaped children, in microseconds, from the second line of bash's times
# ("1m2.345s 0m0.010s"). Not a $(...): a subshell has children of its own.
children_cpu() {
	local u t total=0
	times >"$work/times"
	children_us=""
	for t in $(sed -n 2p "$work/times"); do
		[[ $t =~ ^([0-9]+)m([0-9]+)\.([0-9]+)s$ ]] || return 0
		u=${BASH_REMATCH[3]}000000
		total=$((total + (BASH_REMATCH[1] * 60 + 10#${BASH_REMATCH[2]}) * 1000000 + 10#${u:0:6}))
	done
	children_us=$total
}

# per_op MICROSECONDS OPS: microseconds per op, or empty when not known.
per_op() {
	[[ -n $1 && -n $2 && $2 -gt 0 ]] || return 0
	echo $(($1 / $2))
}

# measure SYSTEM MODE CLIENTS ROUND: one run on a fresh cluster, one CSV row.
measure() {
	local sys=$1 mode=$2 clients=$3 round=$4
	run=$work/run-r$round-$mode-c$clients-$sys
	mkdir -p "$run"
	local json=$work/results/$sys-$mode-c$clients-r$round.json
	local report=$work/results/$sys-$mode-c$clients-r$round.txt
	local args=(bench "$mode" --clients "$clients" --duration "$DURATION" --value-size "$VALUE_SIZE" --json "$json")
	if [[ $sys == raftkv ]]; then
		start_raftkv
		args=(--endpoints "$kv_endpoints" "${args[@]}")
	elif [[ $sys == floor ]]; then
		start_floor
		args=(--endpoints "127.0.0.1:$floor_port" "${args[@]}")
	else
		start_etcd
		args=(--endpoints "$etcd_endpoints" "${args[@]}" --protocol etcd-v2)
	fi
	say "round $round: $sys $mode, $clients clients, $DURATION"
	local code=0 server_cpu client_cpu
	server_cpu=$(cluster_cpu_us)
	children_cpu
	client_cpu=$children_us
	"$bin/kvcli" "${args[@]}" >"$report" 2>"$report.stderr" &
	local bench_pid=$!
	pids+=("$bench_pid")
	wait "$bench_pid" || code=$?
	forget "$bench_pid"
	# Nothing else is reaped between the two readings: the client's CPU
	# is the difference. The cluster's, read before it is stopped.
	children_cpu
	if [[ -n $client_cpu && -n $children_us ]]; then client_cpu=$((children_us - client_cpu)); else client_cpu=""; fi
	server_cpu=$(($(cluster_cpu_us) - server_cpu))
	stop_cluster
	if [[ ! -s $json ]]; then
		say "no result from $sys $mode $clients (exit $code): $(tail -n 1 "$report.stderr")"
		[[ $KEEP == 1 ]] || rm -rf "$run"
		return 0
	fi
	((code == 0)) || say "kvcli exit $code: $(tail -n 1 "$report.stderr")"
	local j ops p50 p99 errors count
	j=$(<"$json")
	[[ $j =~ \"ops\":([0-9]+) ]] && count=${BASH_REMATCH[1]}
	[[ $j =~ \"ops_per_sec\":([0-9.eE+-]+) ]] && ops=${BASH_REMATCH[1]}
	[[ $j =~ \"p50\":([0-9.eE+-]+) ]] && p50=${BASH_REMATCH[1]}
	[[ $j =~ \"p99\":([0-9.eE+-]+) ]] && p99=${BASH_REMATCH[1]}
	[[ $j =~ \"errors\":([0-9]+) ]] && errors=${BASH_REMATCH[1]}
	server_cpu=$(per_op "$server_cpu" "$count")
	client_cpu=$(per_op "$client_cpu" "$count")
	echo "$sys,$mode,$clients,$round,$ops,$p50,$p99,$errors,$server_cpu,$client_cpu" >>"$csv"
	say "  $ops ops/s, p50 $p50 ms, p99 $p99 ms, $errors errors; CPU per op: servers ${server_cpu:-?} µs, client ${client_cpu:-?} µs"
	grep -A2 '^  server:' "$report" | sed 's/^/            /' >&2 || true
	[[ $KEEP == 1 ]] || rm -rf "$run"
}

say "raftkv $commit and etcd $etcd_version on $(nproc) cores; ROUNDS=$ROUNDS DURATION=$DURATION CLIENTS=\"$CLIENTS\" MODES=\"$MODES\""
for ((round = 1; round <= ROUNDS; round++)); do
	if ((round % 2 == 1)); then order=(raftkv etcd); else order=(etcd raftkv); fi
	((FLOOR == 0)) || order+=(floor)
	for clients in $CLIENTS; do
		for mode in $MODES; do
			for sys in "${order[@]}"; do
				measure "$sys" "$mode" "$clients" "$round"
			done
		done
	done
done

note="3 nodes each on loopback, $(nproc) cores shared with the load generator; $VALUE_SIZE-byte values, $DURATION runs, median over ROUNDS=$ROUNDS; raftkv $commit, etcd $etcd_version (v2 API)"
echo
"$bin/chart" -title "raftkv and etcd: writes and linearizable reads (kvcli bench, closed loop)" -note "$note" "$csv" "$OUT/compare.svg"
echo "csv: $csv"
finished=1
