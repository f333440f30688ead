#!/usr/bin/env bash
# Install the system packages Vigie needs on Debian/Ubuntu, only those missing.
#   scripts/install-deps.sh demo   -> Python venv support only (the demo embeds its broker and uses SQLite)
#   scripts/install-deps.sh test   -> + PostgreSQL with PostGIS, Mosquitto, Chromium (for the test suite)
set -euo pipefail
profile="${1:-test}"

packages=()
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
if [ "$profile" = test ]; then
  # postgresql-postgis follows the distribution's default PostgreSQL major version.
  # openssl, python3-gi and the GStreamer RTSP server: the agent's TLS and RTSP camera tests;
  # docker-compose and caddy validate deploy/hub (no container engine is needed); sqlite3 backups.
  for pkg in postgresql postgresql-postgis mosquitto mosquitto-clients chromium fonts-liberation \
    openssl python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good \
    docker-compose caddy sqlite3; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || packages+=("$pkg")
  done
elif [ "$profile" != demo ]; then
  echo "usage: $0 demo|test" >&2
  exit 2
fi

if [ ${#packages[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${packages[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# Debian starts no service after install on this kind of machine; on others, the test suite still
# runs its own PostgreSQL cluster and Mosquitto on free ports, so the system ones are left alone.
echo "system packages: installed"
