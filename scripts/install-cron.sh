#!/usr/bin/env bash
# Install (or with --remove, remove) the crontab entry that runs one prometheus-bot tick every
# minute on weekdays. Idempotent: running it twice leaves one entry. The entry cds into the
# bot's folder (so config.toml is found), and appends stdout and stderr to logs/cron.log.
# The tick itself asks the broker whether the market is open; the schedule only avoids
# waking the Pi at weekends.
#
# Usage: scripts/install-cron.sh [--remove] [--bin PATH] [--config PATH] [--dry-run]
#   --bin     the binary (default: target/release/prometheus-bot beside this script's folder)
#   --config  the config file (default: config.toml in the bot's folder)
#   --dry-run print the resulting crontab instead of installing it
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
bin="$here/target/release/prometheus-bot"
config="$here/config.toml"
remove=0
dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --remove) remove=1 ;;
    --bin) bin="$2"; shift ;;
    --config) config="$2"; shift ;;
    --dry-run) dry=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

marker="# prometheus-bot tick ($config)"
current="$(crontab -l 2>/dev/null || true)"
# Drop our previous entry (the marker line and the line after it).
cleaned="$(printf '%s\n' "$current" | awk -v m="$marker" '$0 == m { skip = 1; next } skip { skip = 0; next } { print }' | sed '/^$/d')"

if [ "$remove" = 1 ]; then
  new="$cleaned"
else
  if [ ! -x "$bin" ]; then
    echo "no binary at $bin: build it with 'cargo build --release' (or pass --bin)" >&2
    exit 2
  fi
  mkdir -p "$here/logs"
  line="* * * * 1-5 cd '$here' && '$bin' --config '$config' tick >> '$here/logs/cron.log' 2>&1"
  new="$(printf '%s\n%s\n%s\n' "$cleaned" "$marker" "$line" | sed '/^$/d')"
fi

if [ "$dry" = 1 ]; then
  printf '%s\n' "$new"
  exit 0
fi
if [ -z "$new" ]; then
  crontab -r 2>/dev/null || true
else
  printf '%s\n' "$new" | crontab -
fi
if [ "$remove" = 1 ]; then echo "removed the prometheus-bot entry"; else echo "installed: $line"; fi
