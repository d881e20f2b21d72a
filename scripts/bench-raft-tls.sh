#!/usr/bin/env bash
# Ingest through the leader of three voters on loopback, with Raft over
# mutual TLS (the default) and with --insecure (plain TCP), alternating so
# that both see the same machine load. Prints one JSON object per run
# (trustctl bench's) tagged with the mode, then a summary line per mode.
#
#   scripts/bench-raft-tls.sh [rounds] [duration]     defaults: 2 rounds, 15s
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS=${1:-2}
DURATION=${2:-15s}
WORK=$(mktemp -d)
BIN="$WORK/bin"
go build -o "$BIN/" ./cmd/trustd ./cmd/trustctl
PIDS=()
cleanup() {
	for p in "${PIDS[@]:-}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

base=$((30000 + RANDOM % 5000))
run_mode() { # mode: secure | insecure
	local mode=$1 dir="$WORK/$1-$RANDOM" extra=()
	[[ $mode == insecure ]] && extra=(--insecure)
	PIDS=()
	for i in 1 2 3; do
		local p=$((base + 10 * i))
		local args=(--node-id "n$i" --data-dir "$dir/n$i" --http-addr "127.0.0.1:$p"
			--raft-addr "127.0.0.1:$((p + 1))" --gossip-addr "127.0.0.1:$((p + 2))" --log-level warn "${extra[@]}")
		if [[ $i -gt 1 ]]; then
			args+=(--join "http://127.0.0.1:$((base + 10))" --token-file "$dir/n1/admin.token")
			[[ $mode == secure ]] && args+=(--ca-fingerprint "$(grep -o 'sha256:[0-9a-f]*' "$dir/n1.out" | head -1)")
		fi
		mkdir -p "$dir"
		"$BIN/trustd" "${args[@]}" >"$dir/n$i.out" 2>"$dir/n$i.log" &
		PIDS+=($!)
		if [[ $i -eq 1 ]]; then
			for _ in $(seq 1 150); do [[ -s "$dir/n1/admin.token" ]] && break; sleep 0.1; done
		fi
	done
	local ctl=("$BIN/trustctl" --addr "http://127.0.0.1:$((base + 10))" --token-file "$dir/n1/admin.token")
	for _ in $(seq 1 150); do
		[[ $("${ctl[@]}" -o json cluster members 2>/dev/null | grep -o '"suffrage": *"voter"' | wc -l) -eq 3 ]] && break
		sleep 0.2
	done
	"${ctl[@]}" -o json bench --mode signals --batch 100 --concurrency 32 --duration "$DURATION" --warmup 3s |
		tr -d '\n' | sed "s/^{/{\"raft\":\"$mode\",/"
	echo
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	base=$((base + 100))
}
for _ in $(seq 1 "$ROUNDS"); do
	run_mode secure
	run_mode insecure
done | tee "$WORK/results.jsonl"
for mode in secure insecure; do
	grep "\"raft\":\"$mode\"" "$WORK/results.jsonl" | grep -o '"signalsPerSec": *[0-9.]*' | sed "s/^/$mode /"
done
