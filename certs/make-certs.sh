#!/usr/bin/env bash
# Makes a CA and a serving certificate for the webhook's Service with OpenSSL.
#   certs/make-certs.sh --out DIR [--service coderun-webhook] [--namespace coderun-webhook]
#                       [--dns NAME]... [--ip ADDR]... [--days 365] [--force]
# Writes DIR/ca.crt, DIR/ca.key, DIR/tls.crt (leaf then CA), DIR/tls.key. An existing pair that is
# valid for 30 more days is kept unless --force; the CA is kept, so the caBundle stays the same.
set -euo pipefail

out="" service="coderun-webhook" namespace="coderun-webhook" days=365 force=0
dns=() ips=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --service) service="$2"; shift 2 ;;
    --namespace) namespace="$2"; shift 2 ;;
    --dns) dns+=("$2"); shift 2 ;;
    --ip) ips+=("$2"); shift 2 ;;
    --days) days="$2"; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "make-certs.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "make-certs.sh: --out DIR is required" >&2; exit 2; }
mkdir -p "$out"
umask 077

if [ "$force" = 0 ] && [ -s "$out/tls.crt" ] && [ -s "$out/tls.key" ] && [ -s "$out/ca.crt" ] &&
   openssl x509 -in "$out/tls.crt" -noout -checkend $((30 * 86400)) >/dev/null 2>&1; then
  echo "make-certs.sh: $out/tls.crt is valid for 30 more days; kept (use --force to remake)"
  exit 0
fi

if [ "$force" = 1 ] || [ ! -s "$out/ca.key" ] || [ ! -s "$out/ca.crt" ] ||
   ! openssl x509 -in "$out/ca.crt" -noout -checkend $((30 * 86400)) >/dev/null 2>&1; then
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$out/ca.key" -out "$out/ca.crt" -days $((days * 3)) \
    -subj "/CN=${service}-ca" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

sans="DNS:${service},DNS:${service}.${namespace},DNS:${service}.${namespace}.svc,DNS:${service}.${namespace}.svc.cluster.local"
for name in "${dns[@]+"${dns[@]}"}"; do sans+=",DNS:${name}"; done
for addr in "${ips[@]+"${ips[@]}"}"; do sans+=",IP:${addr}"; done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
  -keyout "$tmp/tls.key" -out "$tmp/tls.csr" -subj "/CN=${service}.${namespace}.svc" 2>/dev/null
cat > "$tmp/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=${sans}
EXT
openssl x509 -req -in "$tmp/tls.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -out "$tmp/tls.crt" -days "$days" -sha256 -extfile "$tmp/ext.cnf" 2>/dev/null
cat "$out/ca.crt" >> "$tmp/tls.crt"
# Key first, then certificate, each by rename: a server watching the files never reads a torn file.
mv "$tmp/tls.key" "$out/tls.key.new" && mv "$out/tls.key.new" "$out/tls.key"
mv "$tmp/tls.crt" "$out/tls.crt.new" && mv "$out/tls.crt.new" "$out/tls.crt"
chmod 0644 "$out/tls.crt" "$out/ca.crt"
echo "make-certs.sh: wrote $out/tls.crt for ${sans}"
