#!/bin/sh
# A private CA and a TLS certificate for the broker, for sites without a public certificate.
#   deploy/hub/make-certs.sh HOSTNAME [IP] [OUTPUT_DIR]
# Writes ca.crt (copy it to every agent: mqtt.ca_file), ca.key (keep it offline),
# server.crt and server.key (for Mosquitto) into OUTPUT_DIR (default: deploy/hub/certs).
# The key is made readable by BROKER_GROUP (default 1883, the container's mosquitto group;
# BROKER_GROUP=mosquitto on bare metal), which needs root.
set -eu
host=${1:?usage: make-certs.sh HOSTNAME [IP] [OUTPUT_DIR]}
ip=${2:-}
out=${3:-$(dirname "$0")/certs}
days=825
mkdir -p "$out"
cd "$out"
if [ ! -f ca.key ]; then
    openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj "/CN=Vigie broker CA" \
        -keyout ca.key -out ca.crt 2>/dev/null
fi
san="DNS:$host"
if [ -n "$ip" ]; then san="$san,IP:$ip"; fi
openssl req -newkey rsa:3072 -nodes -subj "/CN=$host" -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days "$days" \
    -extfile server.ext -out server.crt 2>/dev/null
rm -f server.csr server.ext
chmod 600 ca.key
chmod 644 ca.crt server.crt
# Mosquitto drops root for its own user before it reads the key.
chgrp "${BROKER_GROUP:-1883}" server.key
chmod 640 server.key
echo "certificates for $host in $out"
