#!/usr/bin/env bash
# Look at a dashboard or report page as a person would: headless Chromium screenshots at a
# desktop and a phone width. Installs Debian's chromium if it is missing (needs root).
#
# Usage: scripts/screenshot-dashboard.sh [PAGE.html] [OUT_PREFIX]
#   PAGE.html   default: a year of synthetic ledgers rendered by the dashboard bench
#   OUT_PREFIX  default: logs/dashboard  (writes OUT_PREFIX-desktop.png and -phone.png)
set -euo pipefail
cd "$(dirname "$0")/.."
page="${1:-}"
prefix="${2:-logs/dashboard}"
if [ -z "$page" ]; then
  page="$(mktemp -d)/dashboard.html"
  DASHBOARD_OUT="$page" cargo bench --bench dashboard
fi
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
mkdir -p "$(dirname "$prefix")"
shoot() { # width height file
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d)" --hide-scrollbars \
    --window-size="$1,$2" --screenshot="$3" "file://$(realpath "$page")" 2>/dev/null
  echo "wrote $3"
}
shoot 1280 2600 "$prefix-desktop.png"
shoot 390 3200 "$prefix-phone.png"
