#!/usr/bin/env bash
# make deploy PI=user@host: copy the executable that matches the Pi's architecture and run
# `bitlearn probe` there. SSH / SCP may name other clients (tests use fakes).
set -euo pipefail
PI=${1:?usage: device/deploy.sh user@host [remote-path]}
REMOTE=${2:-bitlearn}
SSH=${SSH:-ssh}
SCP=${SCP:-scp}
cd "$(dirname "$0")/.."
machine=$($SSH "$PI" uname -m)
case "$machine" in
  aarch64|arm64) target=linux-arm64 ;;
  armv7l|armv6l|armhf) target=linux-armv7l ;;
  x86_64) target=linux-x64 ;;
  *) echo "deploy: no bitlearn executable for a $machine machine (built: linux-arm64, linux-armv7l, linux-x64)" >&2; exit 1 ;;
esac
exe=dist/bitlearn-$target
[ -x "$exe" ] || { echo "deploy: $exe is missing: run make dist first" >&2; exit 1; }
echo "deploy: $exe -> $PI:$REMOTE ($machine)"
$SCP "$exe" "$PI:$REMOTE"
$SSH "$PI" "chmod +x '$REMOTE' && './$REMOTE' probe"
