#!/usr/bin/env bash
# Instructions spent deciding admissions, counted by callgrind (repeatable whatever else the
# machine does, unlike CPU time): the server runs under valgrind with collection only inside
# AdmissionServer::admit (decode, decide, encode; TLS and HTTP excluded), N reviews are sent with
# curl, and the total is printed. Compare two binaries with the same N and review:
#   tests/bench/callgrind_admit.sh build/coderun-webhook 100
#   tests/bench/callgrind_admit.sh /tmp/old-coderun-webhook 100
set -euo pipefail
bin=${1:?usage: callgrind_admit.sh BIN [N] [REVIEW]}
n=${2:-100}
review=${3:-manifests/examples/admissionreview-workflow.json}
certs=${CERTS:-build/dev-certs}
[ -f "$certs/tls.crt" ] || make certs >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$out"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
  --toggle-collect='coderun::server::AdmissionServer::admit*' \
  "$bin" serve --addr 127.0.0.1 --port "$port" --cert "$certs/tls.crt" --key "$certs/tls.key" \
  --policy policy/policy.yaml --prompts-dir policy/prompts --metrics-port -1 >"$out/log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do curl -sk "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
for _ in $(seq 1 "$n"); do
  curl -s --cacert "$certs/ca.crt" -H 'Content-Type: application/json' --data-binary @"$review" \
    "https://localhost:$port/mutate" -o /dev/null --resolve "localhost:$port:127.0.0.1"
done
kill -TERM $pid; wait $pid || true
total=$(grep -o 'Collected : [0-9]*' "$out/log" | awk '{print $3}')
echo "instructions in AdmissionServer::admit: $total for $n admissions, $((total / n)) per admission"
