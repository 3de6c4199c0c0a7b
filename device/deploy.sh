#!/usr/bin/env bash
# make deploy PI=user@host [REMOTE=path]: copy the executable that matches the Pi's architecture
# and run `bitlearn probe` there. SSH / SCP may name other clients (tests use fakes that log their
# arguments). The host and the remote path are checked before anything runs, every argument is
# passed as an argument (never pasted into a command line of ours), and the one command string the
# remote shell must parse is built only from the checked path.
set -euo pipefail
usage='usage: device/deploy.sh user@host [remote-path]'
PI=${1:-}
REMOTE=${2:-bitlearn}
SSH=${SSH:-ssh}
SCP=${SCP:-scp}
[ -n "$PI" ] || { echo "deploy: no Pi given ($usage, or make deploy PI=user@host)" >&2; exit 2; }
# [user@]host: letters, digits, . _ - in the user; a host name or IPv4 address, or an IPv6 address in [ ]
if ! [[ "$PI" =~ ^([A-Za-z0-9._][A-Za-z0-9._-]*@)?([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])$ ]]; then
  echo "deploy: \"$PI\" is not a user@host (letters, digits, '.', '_' and '-' only; the host cannot start with '-')" >&2
  exit 2
fi
# a relative or absolute path of plain names: letters, digits, . _ - and /
if ! [[ "$REMOTE" =~ ^[A-Za-z0-9._/][A-Za-z0-9._/-]*$ ]] || [[ "$REMOTE" == */ ]]; then
  echo "deploy: remote path \"$REMOTE\" must be a file path of letters, digits, '.', '_', '-' and '/' (not starting with '-')" >&2
  exit 2
fi
case "$REMOTE" in /*) run="$REMOTE" ;; *) run="./$REMOTE" ;; esac
cd "$(dirname "$0")/.."
machine=$("$SSH" -- "$PI" uname -m)
case "$machine" in
  aarch64|arm64) target=linux-arm64 ;;
  armv7l|armv6l|armhf) target=linux-armv7l ;;
  x86_64) target=linux-x64 ;;
  *) echo "deploy: no bitlearn executable for a ${machine:0:40} machine (built: linux-arm64, linux-armv7l, linux-x64)" >&2; exit 1 ;;
esac
exe=dist/bitlearn-$target
[ -x "$exe" ] || { echo "deploy: $exe is missing: run make dist first" >&2; exit 1; }
echo "deploy: $exe -> $PI:$REMOTE ($machine)"
"$SCP" -- "$exe" "$PI:$REMOTE"
"$SSH" -- "$PI" "chmod +x -- '$REMOTE' && '$run' probe"
