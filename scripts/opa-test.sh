#!/usr/bin/env bash
# opa-test.sh checks the OPA integration example in docs/examples/opa:
# the Rego files' formatting (opa fmt) and their unit tests (opa test).
#
# Usage: scripts/opa-test.sh
#   Uses `opa` from PATH when there is one; otherwise builds OPA_VERSION with
#   `go install` into ${XDG_CACHE_HOME:-$HOME/.cache}/trustledger-ci/opa and
#   reuses that build on later runs.
#   OPA_VERSION  the OPA module version to build (default below)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

OPA_VERSION="${OPA_VERSION:-v1.22.4}"
dir="docs/examples/opa"

if command -v opa >/dev/null 2>&1; then
	opa=$(command -v opa)
	echo "opa-test: using $opa"
else
	cache="${XDG_CACHE_HOME:-$HOME/.cache}/trustledger-ci/opa/$OPA_VERSION"
	opa="$cache/opa"
	if [[ -x "$opa" ]]; then
		echo "opa-test: using cached $opa"
	else
		echo "opa-test: building OPA $OPA_VERSION into $cache"
		mkdir -p "$cache"
		start=$(date +%s)
		GOBIN="$cache" go install "github.com/open-policy-agent/opa@$OPA_VERSION"
		echo "opa-test: OPA build took $(($(date +%s) - start))s"
	fi
fi

# The whole output first: with pipefail, head closing the pipe early would
# end opa with SIGPIPE and fail the script.
version=$("$opa" version)
echo "${version%%$'\n'*}"

echo "opa-test: opa fmt --list --fail $dir"
"$opa" fmt --list --fail "$dir"

echo "opa-test: opa test -v $dir"
"$opa" test -v "$dir"
