#!/usr/bin/env bash
# Install the Debian packages the documentation and its tests need:
#   graphviz  `dot` draws the diagrams of the site (sphinx.ext.graphviz)
#   chromium  the headless browser tests/test_site.py opens the site in
# Does nothing when both commands are there. Otherwise installs them with
# apt-get as root (or through sudo when it is available without a password),
# and fails with a message saying what to install when it cannot.
set -euo pipefail

missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

install=(apt-get install -y --no-install-recommends "${missing[@]}")
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "error: awiml's docs and tests need the Debian packages: ${missing[*]}" >&2
    echo "Install them as root, then run make again:" >&2
    echo "    apt-get update && ${install[*]}" >&2
    exit 1
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" "${install[@]}"
