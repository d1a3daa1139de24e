#!/usr/bin/env bash
# Build the data set once, then run every peer in both modes, one run at a time (never in
# parallel: the figures are per process on a 2-core machine), and print a summary table.
#
#   bash bench/peers/run_all.sh [--smoke] [PEER ...]
#
# PEER: nannyml evidently evidently-psi whylogs alibi-detect (default: all). Results go to
# bench/.results/[smoke/]PEER-MODE.json. Run from the repository root after setup.sh; the data
# set is built with the project's own venv (.venv, or $MONITOR_PYTHON).
set -uo pipefail

smoke=()
if [ "${1:-}" = "--smoke" ]; then smoke=(--smoke); shift; fi
peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(nannyml evidently evidently-psi whylogs alibi-detect)
out="bench/.results${smoke:+/smoke}"
mkdir -p "$out"

"${MONITOR_PYTHON:-.venv/bin/python}" bench/peers/data.py "${smoke[@]}" || exit 1

status=0
for peer in "${peers[@]}"; do
    case "$peer" in
        evidently*) venv=evidently ;;
        alibi-detect) venv=alibi ;;
        *) venv="$peer" ;;
    esac
    python="bench/.venv-$venv/bin/python"
    for mode in compute e2e; do
        result="$out/$peer-$mode.json"
        if [ ! -x "$python" ]; then
            printf '{"tool": "%s", "mode": "%s", "error": "no venv at bench/.venv-%s: run bench/peers/setup.sh"}\n' \
                "$peer" "$mode" "$venv" >"$result"
            echo "$peer $mode: no venv" >&2
            status=1
            continue
        fi
        "$python" -W ignore bench/peers/run_peer.py "$peer" --mode "$mode" --out "$result" \
            "${smoke[@]}" || status=1
    done
done
python3 bench/peers/summarize.py "$out"/*.json
exit $status
