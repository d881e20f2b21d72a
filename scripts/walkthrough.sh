#!/usr/bin/env bash
# walkthrough.sh runs the README's trustctl walkthrough against a running
# trustd: an organization baseline, a user in it, positive and negative
# signals, the record, decisions before and after violations, alerts, and
# bounded recovery (simulated two days ahead).
#
# Usage: scripts/walkthrough.sh [PRINCIPAL]
#   TRUSTLEDGER_ADDR   the node (default http://127.0.0.1:8470)
#   TRUSTLEDGER_TOKEN  an admin token (default: ./trustledger-data/admin.token)
#
# Run it on a fresh node, or pass a principal id that does not exist yet.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

who="${1:-alice-$(date +%s)}"
org="acme"

if [[ -z "${TRUSTLEDGER_TOKEN:-}" && -f trustledger-data/admin.token ]]; then
	TRUSTLEDGER_TOKEN=$(cat trustledger-data/admin.token)
	export TRUSTLEDGER_TOKEN
fi

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/trustctl" ./cmd/trustctl
trustctl() { "$bin/trustctl" "$@"; }

say() { printf '\n\033[1m$ trustctl %s\033[0m\n' "$*"; }
run() { say "$@"; trustctl "$@"; }

run status
run org set "$org" --base 70 --name "Acme Corp"
run principal register "$who" --type user --org "$org"
run factors set "$who" --authentication '{"mfa_enabled": true, "mfa_type": "hardware_token"}' \
	--compliance '{"training_completed": true}'
run signal send "$who" --event login_success --category authentication --impact 2 --event-id "$who-evt-001"
run signal send "$who" --event login_success --category authentication --impact 2 --event-id "$who-evt-001"
run principal get "$who"
run decide "$who" --action deploy --sensitivity high
for i in 1 2 3; do
	run signal send "$who" --event policy_violation --category compliance --impact -8 --event-id "$who-violation-$i"
done
run principal get "$who"
run alerts --principal "$who"
# A denial is the expected outcome here, not a failure of the script.
run decide "$who" --action deploy --sensitivity high
run signal send "$who" --event security_training --category compliance --impact 5 --event-id "$who-training-1"
run simulate "$who" --signal security_training:compliance:5 --at +48h
run principal history "$who"
