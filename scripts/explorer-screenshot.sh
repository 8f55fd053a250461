#!/usr/bin/env bash
# Screenshot a counterexample in the Stateright explorer with headless chromium.
#
#   scripts/explorer-screenshot.sh [OUT.png]
#
# Starts `checker explore --bug gup_fast_no_recheck` on loopback, loads the
# no_private_pin counterexample URL, and checks that the PNG is non-trivial.
# Env: CHECKER (checker binary; default: build it), PORT (default 3917),
# ROW_ARGS (selection flags; default "--bug gup_fast_no_recheck"),
# PROPERTY (default no_private_pin).
# Exit 77 when no chromium is installed (tests treat it as "skipped").
set -euo pipefail

OUT=${1:-explorer.png}
PORT=${PORT:-3917}
ROW_ARGS=${ROW_ARGS:---bug gup_fast_no_recheck}
PROPERTY=${PROPERTY:-no_private_pin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

BROWSER=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$BROWSER" ]; then
    echo "explorer-screenshot: no chromium found (apt-get install chromium); skipping" >&2
    exit 77
fi
if [ -z "${CHECKER:-}" ]; then
    (cd "$ROOT" && cargo build --release --quiet -p checker)
    CHECKER="$ROOT/target/release/checker"
fi

WORK=$(mktemp -d)
LOG="$WORK/explore.log"
EXPLORE_PID=
cleanup() {
    if [ -n "$EXPLORE_PID" ]; then kill "$EXPLORE_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck disable=SC2086
"$CHECKER" explore $ROW_ARGS --port "$PORT" >"$LOG" 2>&1 &
EXPLORE_PID=$!

up=
for _ in $(seq 1 300); do
    if ! kill -0 "$EXPLORE_PID" 2>/dev/null; then
        echo "explorer-screenshot: explore exited early:" >&2
        cat "$LOG" >&2
        exit 1
    fi
    if grep -q '^serving' "$LOG" && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        up=1
        break
    fi
    sleep 0.2
done
if [ -z "$up" ]; then
    echo "explorer-screenshot: the explorer did not come up on port $PORT" >&2
    cat "$LOG" >&2
    exit 1
fi

URL=$(grep -E "counterexample +[a-z]+ +$PROPERTY " "$LOG" | grep -oE 'http://[^ ]+' | head -n 1)
if [ -z "$URL" ]; then
    echo "explorer-screenshot: no $PROPERTY counterexample in the explore output:" >&2
    cat "$LOG" >&2
    exit 1
fi
echo "explorer-screenshot: $URL"

timeout 120 "$BROWSER" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --user-data-dir="$WORK/profile" --virtual-time-budget=5000 \
    --screenshot="$OUT" --window-size=1400,1000 "$URL" >"$WORK/chromium.log" 2>&1 || {
    echo "explorer-screenshot: chromium failed:" >&2
    tail -n 20 "$WORK/chromium.log" >&2
    exit 1
}

if [ ! -s "$OUT" ]; then
    echo "explorer-screenshot: no screenshot written to $OUT" >&2
    exit 1
fi
if [ "$(head -c 8 "$OUT" | od -An -tx1 | tr -d ' \n')" != "89504e470d0a1a0a" ]; then
    echo "explorer-screenshot: $OUT is not a PNG" >&2
    exit 1
fi
SIZE=$(wc -c <"$OUT")
if [ "$SIZE" -lt 20000 ]; then
    echo "explorer-screenshot: $OUT is only $SIZE bytes: the page did not render" >&2
    exit 1
fi
echo "explorer-screenshot: wrote $OUT ($SIZE bytes)"
