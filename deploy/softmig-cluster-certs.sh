#!/bin/bash
# softmig-cluster-certs.sh - the site's cluster CA and each node's certificate, for the mutual
# TLS between coordinators (docs/CLUSTER.md, "Mutual TLS"). Uses the JDK's keytool only.
#
#   softmig-cluster-certs.sh ca DIR
#       Once per site, on a secure admin host: DIR/ca.p12 (the CA's private key: keep it
#       offline), DIR/ca.pem (its certificate), DIR/ca.pass (its password).
#
#   softmig-cluster-certs.sh node DIR NODE [HOST|IP ...]
#       For each node: DIR/NODE/node.p12 (the node's key and certificate, signed by the CA),
#       DIR/NODE/trust.p12 (the CA certificate alone) and DIR/NODE/tls.conf (the four
#       softmig.cluster.tls keys, passwords included). The certificate names NODE (CN and DNS)
#       and every HOST or IP given: the address other nodes reach it at must be among them,
#       because members check the host of the address they connect to against the certificate.
#       Copy the directory's three files to the node, root-owned, mode 0600, into TLS_DIR.
#
# Environment:
#   TLS_DIR   where the files will be on the node, written into tls.conf (default /etc/softmig/tls)
#   VALIDITY  days a node certificate is valid (default 825); the CA: 3650
#   KEYTOOL   the keytool binary (default: keytool of $JAVA_HOME, else on PATH)
#
# Exit status: 0 done, 2 usage, 1 a keytool step failed or a file is in the way.
set -euo pipefail
umask 077

usage() {
	sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

keytool_bin() {
	if [ -n "${KEYTOOL:-}" ]; then
		echo "$KEYTOOL"
	elif [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/keytool" ]; then
		echo "$JAVA_HOME/bin/keytool"
	else
		command -v keytool || { echo "softmig-cluster-certs: keytool not found (set KEYTOOL or JAVA_HOME)" >&2; exit 1; }
	fi
}

kt() {
	local out
	if ! out=$("$KT" -J-XX:TieredStopAtLevel=1 "$@" 2>&1); then
		echo "softmig-cluster-certs: keytool $1 failed: $out" >&2
		exit 1
	fi
}

new_password() {
	local p
	p=$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)
	[ ${#p} -ge 20 ] || { echo "softmig-cluster-certs: no randomness from /dev/urandom" >&2; exit 1; }
	echo "$p"
}

refuse_existing() {
	local f
	for f in "$@"; do
		if [ -e "$f" ]; then
			echo "softmig-cluster-certs: $f exists; remove it first (nothing was changed)" >&2
			exit 1
		fi
	done
}

make_ca() {
	local dir=$1
	mkdir -p "$dir"
	refuse_existing "$dir/ca.p12" "$dir/ca.pem" "$dir/ca.pass"
	local pass
	pass=$(new_password)
	printf '%s\n' "$pass" >"$dir/ca.pass"
	kt -genkeypair -alias softmig-ca -keyalg EC -groupname secp256r1 -validity 3650 \
		-dname "CN=softmig cluster CA" -ext bc:c \
		-keystore "$dir/ca.p12" -storetype PKCS12 -storepass "$pass"
	kt -exportcert -rfc -alias softmig-ca -file "$dir/ca.pem" \
		-keystore "$dir/ca.p12" -storepass "$pass"
	echo "CA in $dir: ca.p12 (private key, keep offline), ca.pem, ca.pass"
}

make_node() {
	local dir=$1 node=$2
	shift 2
	case "$node" in
	'' | *[!A-Za-z0-9._-]*)
		echo "softmig-cluster-certs: node name [$node]: use letters, digits, '.', '_', '-'" >&2
		exit 2
		;;
	esac
	[ -f "$dir/ca.p12" ] && [ -f "$dir/ca.pass" ] && [ -f "$dir/ca.pem" ] ||
		{ echo "softmig-cluster-certs: no CA in $dir (run: $0 ca $dir)" >&2; exit 1; }
	local out="$dir/$node"
	mkdir -p "$out"
	refuse_existing "$out/node.p12" "$out/trust.p12" "$out/tls.conf"
	local san="dns:$node" h
	for h in "$@"; do
		if [[ "$h" =~ ^[0-9.]+$ || "$h" == *:* ]]; then
			san="$san,ip:$h"
		elif [[ "$h" =~ ^[A-Za-z0-9._-]+$ ]]; then
			san="$san,dns:$h"
		else
			echo "softmig-cluster-certs: host [$h] is not a host name or an IP address" >&2
			exit 2
		fi
	done
	local ca_pass node_pass trust_pass
	ca_pass=$(head -n 1 "$dir/ca.pass")
	node_pass=$(new_password)
	trust_pass=$(new_password)
	TMP=$(mktemp -d)
	trap 'rm -rf "$TMP"' EXIT
	local tmp=$TMP
	kt -genkeypair -alias "$node" -keyalg EC -groupname secp256r1 -validity "$VALIDITY" \
		-dname "CN=$node" -keystore "$tmp/node.p12" -storetype PKCS12 -storepass "$node_pass"
	kt -certreq -alias "$node" -file "$tmp/node.csr" -keystore "$tmp/node.p12" -storepass "$node_pass"
	kt -gencert -rfc -alias softmig-ca -validity "$VALIDITY" \
		-ext ku:c=digitalSignature,keyAgreement -ext eku=serverAuth,clientAuth -ext "san=$san" \
		-infile "$tmp/node.csr" -outfile "$tmp/node.pem" -keystore "$dir/ca.p12" -storepass "$ca_pass"
	kt -importcert -noprompt -alias softmig-ca -file "$dir/ca.pem" \
		-keystore "$tmp/node.p12" -storepass "$node_pass"
	kt -importcert -alias "$node" -file "$tmp/node.pem" -keystore "$tmp/node.p12" -storepass "$node_pass"
	kt -importcert -noprompt -alias softmig-ca -file "$dir/ca.pem" \
		-keystore "$tmp/trust.p12" -storetype PKCS12 -storepass "$trust_pass"
	cp "$tmp/node.p12" "$out/node.p12"
	cp "$tmp/trust.p12" "$out/trust.p12"
	cat >"$out/tls.conf" <<EOF
# Mutual TLS of the softmig cluster for node $node (made by softmig-cluster-certs.sh).
# Root-owned, mode 0600; included from softmig.conf.
softmig.cluster.tls {
  key-store = "$TLS_DIR/node.p12"
  key-store-password = "$node_pass"
  trust-store = "$TLS_DIR/trust.p12"
  trust-store-password = "$trust_pass"
}
EOF
	echo "node $node in $out: node.p12, trust.p12, tls.conf (certificate for $san); install them in $TLS_DIR"
}

TLS_DIR=${TLS_DIR:-/etc/softmig/tls}
VALIDITY=${VALIDITY:-825}
[[ "$VALIDITY" =~ ^[1-9][0-9]*$ ]] || { echo "softmig-cluster-certs: VALIDITY [$VALIDITY] is not a number of days" >&2; exit 2; }

case "${1:-}" in
ca)
	[ $# -eq 2 ] || usage
	KT=$(keytool_bin)
	make_ca "$2"
	;;
node)
	[ $# -ge 3 ] || usage
	KT=$(keytool_bin)
	make_node "$2" "$3" "${@:4}"
	;;
*)
	usage
	;;
esac
