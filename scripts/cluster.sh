#!/usr/bin/env bash
# A local trustledger cluster on loopback: three voters (n1, n2, n3, region
# us-east) and one read replica (n4, region eu-west), joined with trustctl.
#
#   scripts/cluster.sh up       build, start the four nodes, join them
#   scripts/cluster.sh status   trustctl cluster members
#   scripts/cluster.sh down     stop the nodes (data is kept: up restarts them)
#   scripts/cluster.sh clean    stop the nodes and delete their data
#
# Everything lives under ./.cluster (gitignored): binaries in bin/, node i's
# data and log in n<i>/, its pid in n<i>.pid (down and clean also stop an n5
# started by hand, as in the README). Node i listens on
# 127.0.0.1:<BASE+10(i-1)> for HTTP, +1 for Raft and +2 for gossip, with
# BASE=${TRUSTLEDGER_CLUSTER_PORT:-18470}; TRUSTLEDGER_CLUSTER_DIR moves
# ./.cluster elsewhere. The admin token is
# .cluster/n1/admin.token; after up, try:
#
#   export TRUSTLEDGER_ADDR=http://127.0.0.1:18480 TRUSTLEDGER_TOKEN_FILE=.cluster/n1/admin.token
#   .cluster/bin/trustctl principal register alice --type user   # n2 forwards to the leader
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIR=${TRUSTLEDGER_CLUSTER_DIR:-.cluster}
BIN=$DIR/bin
BASE=${TRUSTLEDGER_CLUSTER_PORT:-18470}
NODES=(n1 n2 n3 n4 n5)
TOKEN=$DIR/n1/admin.token

http_port() { echo $((BASE + 10 * ($1 - 1))); }
api() { echo "http://127.0.0.1:$(http_port "$1")"; }
raft() { echo "127.0.0.1:$(($(http_port "$1") + 1))"; }
gossip() { echo "127.0.0.1:$(($(http_port "$1") + 2))"; }
region() { if [[ $1 -eq 4 ]]; then echo eu-west; else echo us-east; fi; }
voter() { if [[ $1 -eq 4 ]]; then echo false; else echo true; fi; }

ctl() { "$BIN/trustctl" --token-file "$TOKEN" "$@"; }

# running NAME: whether node NAME's process is alive and is a trustd (a
# zombie is not, nor another program that got a stale pid file's pid).
running() {
	local pidfile=$DIR/$1.pid pid
	[[ -f $pidfile ]] || return 1
	pid=$(cat "$pidfile")
	kill -0 "$pid" 2>/dev/null && [[ $(ps -o stat= -p "$pid" 2>/dev/null) != Z* ]] &&
		[[ $(ps -o comm= -p "$pid" 2>/dev/null) == trustd ]]
}

# forget_stale: remove pid files whose node is not running (left by a node
# that crashed or was started and stopped by hand), so that they neither
# block a start nor count as a node that exited.
forget_stale() {
	local f name
	for f in "$DIR"/n*.pid; do
		[[ -f $f ]] || continue
		name=$(basename "$f" .pid)
		if ! running "$name"; then
			echo "removing the stale pid file of $name (pid $(cat "$f") is not a running trustd)"
			rm -f "$f"
		fi
	done
}

# wait_for SECONDS WHAT COMMAND...: poll COMMAND until it succeeds; give up
# early when a node has exited.
wait_for() {
	local deadline=$((SECONDS + $1)) what=$2 name
	shift 2
	until "$@" >/dev/null 2>&1; do
		for name in "${NODES[@]}"; do
			if [[ -f $DIR/$name.pid ]] && ! running "$name"; then
				echo "cluster.sh: $name exited while waiting for $what; the end of $DIR/$name/trustd.log:" >&2
				tail -5 "$DIR/$name/trustd.log" >&2
				return 1
			fi
		done
		if ((SECONDS >= deadline)); then
			echo "cluster.sh: timed out waiting for $what" >&2
			return 1
		fi
		sleep 0.2
	done
}

start_node() {
	local i=$1 name=n$1
	if running "$name"; then
		echo "$name already running (pid $(cat "$DIR/$name.pid"))"
		return
	fi
	mkdir -p "$DIR/$name"
	local args=(--node-id "$name" --data-dir "$DIR/$name" --http-addr "127.0.0.1:$(http_port "$i")"
		--raft-addr "$(raft "$i")" --gossip-addr "$(gossip "$i")" --region "$(region "$i")" --voter="$(voter "$i")")
	if [[ $i -ne 1 ]]; then
		args+=(--bootstrap=false)
	fi
	nohup "$BIN/trustd" "${args[@]}" >>"$DIR/$name/trustd.log" 2>&1 &
	echo $! >"$DIR/$name.pid"
	echo "started $name (pid $!): api $(api "$i"), raft $(raft "$i"), gossip $(gossip "$i"), region $(region "$i"), voter $(voter "$i")"
}

up() {
	local start=$SECONDS
	mkdir -p "$BIN"
	forget_stale
	echo "building trustd and trustctl into $BIN"
	go build -o "$BIN/" ./cmd/trustd ./cmd/trustctl
	local built=$SECONDS
	start_node 1
	wait_for 30 "n1's admin token" test -s "$TOKEN"
	wait_for 30 "n1's API" ctl --addr "$(api 1)" status
	for i in 2 3 4; do
		start_node "$i"
	done
	for i in 2 3 4; do
		wait_for 30 "n$i's API" curl -fsS "$(api "$i")/healthz"
	done
	# Any member takes a join: n2 and n3 join through n1, the replica
	# through n2 (a follower, which forwards to the leader).
	for i in 2 3 4; do
		local via=1
		[[ $i -eq 4 ]] && via=2
		ctl --addr "$(api "$via")" cluster join --node-id "n$i" --raft-addr "$(raft "$i")" --api-addr "$(api "$i")" \
			--gossip-addr "$(gossip "$i")" --region "$(region "$i")" --voter="$(voter "$i")"
	done
	# Healthy as every node sees it: gossip has reached them all.
	for i in 1 2 3 4; do
		wait_for 30 "a healthy cluster as n$i sees it" ctl --addr "$(api "$i")" cluster status
	done
	echo
	ctl --addr "$(api 1)" cluster members
	echo
	echo "cluster up in $((SECONDS - built))s (build $((built - start))s); data and logs in $DIR/"
	echo "try: export TRUSTLEDGER_ADDR=$(api 2) TRUSTLEDGER_TOKEN_FILE=$TOKEN; $BIN/trustctl cluster status"
}

down() {
	local pids=()
	for name in "${NODES[@]}"; do
		if running "$name"; then
			pids+=("$(cat "$DIR/$name.pid")")
			kill -TERM "$(cat "$DIR/$name.pid")"
			echo "stopping $name (pid $(cat "$DIR/$name.pid"))"
		fi
		rm -f "$DIR/$name.pid"
	done
	local deadline=$((SECONDS + 20))
	for pid in "${pids[@]}"; do
		while kill -0 "$pid" 2>/dev/null; do
			if ((SECONDS >= deadline)); then
				echo "pid $pid did not stop in time; killing it" >&2
				kill -KILL "$pid" 2>/dev/null || true
				break
			fi
			sleep 0.1
		done
	done
}

status() {
	local i
	for i in 1 2 3 4; do
		if running "n$i"; then
			ctl --addr "$(api "$i")" cluster members
			return
		fi
	done
	echo "cluster.sh: no node is running (scripts/cluster.sh up)" >&2
	return 1
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
clean)
	down
	rm -rf "$DIR"
	echo "removed $DIR"
	;;
*)
	echo "usage: scripts/cluster.sh up|down|status|clean" >&2
	exit 2
	;;
esac
