#!/usr/bin/env bash
# Install (or with --remove, remove) the crontab entry that runs one prometheus-bot tick every
# minute, every day, for one bot folder.
#
# Why every minute of every day: cron reads the machine's time zone, the market keeps New York's.
# A weekday filter such as `1-5` is wrong east of UTC+5 (Sydney's Saturday morning is New York's
# Friday session) and west of it in other ways. The tick asks the broker's clock instead: a tick
# while the market is closed exits at once, without a request, until the next open the broker
# gave (see "Running it for months" in README.md).
#
# One entry per bot folder. The bot folder is the canonical (symlinks resolved) folder of the
# config file, so `config.toml`, `./config.toml`, `../bot/config.toml` and an absolute path name
# the same entry, and `--remove` finds it however it was spelt. The entry is marked by the line
#   # prometheus-bot tick: /canonical/folder
# Entries written by older versions of this script (`# prometheus-bot tick (PATH)`) are
# recognised and replaced too. Every other line of the crontab, blank lines and comments
# included, is left exactly as it was.
#
# The entry cds into the bot folder and appends the tick's stdout and stderr to cron.log in the
# config's log_dir ([bot] log_dir, default `logs` beside the config), where the bot rotates it
# with its own log. Re-run this script after changing log_dir.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/install-cron.sh [--remove] [--config PATH] [--bin PATH] [--dry-run]

Installs a crontab entry that runs `prometheus-bot tick` every minute, every day, for the bot
folder of the config (a closed market is decided by the broker's clock, not by cron). Running
it again replaces the entry: one entry per bot folder.

  --config PATH  the config file (default: config.toml in the repository's folder); any
                 spelling of the same file or folder names the same entry
  --bin PATH     the binary (default: target/release/prometheus-bot in the repository)
  --remove       remove this bot folder's entry (other lines of the crontab are kept as they are)
  --dry-run      print the crontab that would be installed, change nothing
  -h, --help     this help
EOF
}

here="$(cd "$(dirname "$0")/.." && pwd -P)"
bin="$here/target/release/prometheus-bot"
config="$here/config.toml"
remove=0
dry=0
need_value() {
  if [ $# -lt 2 ] || [ -z "$2" ]; then
    echo "$1 needs a value (see --help)" >&2
    exit 2
  fi
}
while [ $# -gt 0 ]; do
  case "$1" in
    --remove) remove=1 ;;
    --bin) need_value "$@"; bin="$2"; shift ;;
    --config) need_value "$@"; config="$2"; shift ;;
    --dry-run) dry=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# The folder, canonical if it exists (`pwd -P` resolves symlinks and `..`), else as given.
canonical_dir() {
  (cd "$1" 2>/dev/null && pwd -P) || printf '%s\n' "$1"
}

# A word for sh inside the crontab: single-quoted ('\'' for an apostrophe), and `%` escaped,
# which cron would otherwise turn into a newline.
quote() {
  local q
  q="$(printf '%s' "$1" | sed -e "s/'/'\\\\''/g" -e 's/%/\\%/g')"
  printf "'%s'" "$q"
}

folder="$(canonical_dir "$(dirname -- "$config")")"
config_abs="$folder/$(basename -- "$config")"
marker="# prometheus-bot tick: $folder"

# The bot folder an existing marker line names, or nothing if it is not our marker. Markers of
# older versions held the config path as given; a relative one was relative to the folder the
# next line cds into.
marker_folder() {
  local line="$1" next="$2" path cd_dir
  case "$line" in
    "# prometheus-bot tick: "*) canonical_dir "${line#"# prometheus-bot tick: "}" ;;
    "# prometheus-bot tick ("*")")
      path="${line#"# prometheus-bot tick ("}"
      path="${path%")"}"
      case "$path" in
        /*) canonical_dir "$(dirname -- "$path")" ;;
        *)
          cd_dir="$(printf '%s\n' "$next" | sed -n "s/.*cd '\([^']*\)'.*/\1/p")"
          canonical_dir "${cd_dir:-.}/$(dirname -- "$path")"
          ;;
      esac
      ;;
  esac
}

# The entry line after a marker: a command line (not blank, not a comment) that runs a tick.
is_entry() {
  case "$1" in
    ''|'#'*) return 1 ;;
    *' tick '*|*' tick') return 0 ;;
    *) return 1 ;;
  esac
}

line=""
if [ "$remove" = 0 ]; then
  if [ ! -x "$bin" ]; then
    echo "no binary at $bin: build it with 'cargo build --release' (or pass --bin)" >&2
    exit 2
  fi
  if [ ! -f "$config_abs" ]; then
    echo "no config at $config_abs (pass --config PATH)" >&2
    exit 2
  fi
  bin_abs="$(canonical_dir "$(dirname -- "$bin")")/$(basename -- "$bin")"
  # [bot] log_dir, as the bot resolves it: relative to the config's folder, default `logs`.
  log_dir="$(awk '
    /^[[:space:]]*\[/ { in_bot = ($0 ~ /^[[:space:]]*\[bot\][[:space:]]*(#.*)?$/) }
    in_bot && /^[[:space:]]*log_dir[[:space:]]*=/ {
      if (match($0, /"[^"]*"/) || match($0, /\047[^\047]*\047/)) {
        print substr($0, RSTART + 1, RLENGTH - 2); exit
      }
    }' "$config_abs")"
  log_dir="${log_dir:-logs}"
  case "$log_dir" in /*) ;; *) log_dir="$folder/$log_dir" ;; esac
  mkdir -p "$log_dir"
  line="* * * * * cd $(quote "$folder") && exec $(quote "$bin_abs") --config $(quote "$config_abs") tick >> $(quote "$log_dir/cron.log") 2>&1"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if ! crontab -l >"$work/old" 2>/dev/null; then
  : >"$work/old" # no crontab yet
fi

# Rewrite the table line by line: our folder's entries out (the first one's place is where the
# new entry goes), everything else byte for byte.
lines=()
while IFS= read -r l || [ -n "$l" ]; do lines+=("$l"); done <"$work/old"
found=0
: >"$work/new"
i=0
n=${#lines[@]}
while [ "$i" -lt "$n" ]; do
  l="${lines[$i]}"
  next=""
  if [ $((i + 1)) -lt "$n" ]; then next="${lines[$((i + 1))]}"; fi
  owner="$(marker_folder "$l" "$next")"
  if [ -n "$owner" ] && [ "$owner" = "$folder" ]; then
    if [ "$found" = 0 ] && [ -n "$line" ]; then
      printf '%s\n%s\n' "$marker" "$line" >>"$work/new"
    fi
    found=$((found + 1))
    i=$((i + 1))
    if is_entry "$next"; then i=$((i + 1)); fi
    continue
  fi
  printf '%s\n' "$l" >>"$work/new"
  i=$((i + 1))
done
if [ "$found" = 0 ] && [ -n "$line" ]; then
  printf '%s\n%s\n' "$marker" "$line" >>"$work/new"
fi

if [ "$dry" = 1 ]; then
  cat "$work/new"
  exit 0
fi
if [ -s "$work/new" ]; then
  crontab - <"$work/new"
else
  crontab -r 2>/dev/null || true
fi
if [ "$remove" = 1 ]; then
  if [ "$found" = 0 ]; then
    echo "no prometheus-bot entry for $folder (nothing removed)"
  else
    echo "removed the prometheus-bot entry for $folder ($found found)"
  fi
else
  echo "installed for $folder: $line"
fi
