#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Throwaway PKI for the ETSI 014 benchmark: a CA, KME certificates (CN =
# node ID) and SAE client certificates (CN = SAE ID), P-256, one hour.
# Usage: mkcerts.sh DIR NAME...
set -eu
dir=$1
shift
mkdir -p "$dir"
cd "$dir"
if [ ! -f ca.pem ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout ca.key -out ca.pem -days 1 -subj /CN=qkdn-bench-ca \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
fi
for name in "$@"; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$name.key" -out "$name.csr" -subj "/CN=$name" 2>/dev/null
	openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key \
		-CAcreateserial -out "$name.pem" -days 1 \
		-extfile /dev/stdin 2>/dev/null <<EXT
basicConstraints=CA:FALSE
subjectAltName=DNS:$name
EXT
	rm -f "$name.csr"
done
