#!/usr/bin/env bash
# Create one virtualenv per peer drift tool, pinned to the versions the benchmark ran with.
#
#   bash bench/peers/setup.sh [PEER ...]     # PEER: nannyml evidently whylogs alibi (default: all)
#
# Each peer gets its own venv (bench/.venv-PEER) because their pins conflict: alibi-detect
# requires numpy < 2, the others run on numpy 2; NannyML 0.13.1 and Evidently 0.7.23 install
# pandas 3 but fail to import with it (pinned to pandas 2.3.3 here), and NannyML imports
# statsmodels without declaring it. The pins are full `pip freeze` lists in
# bench/peers/requirements/PEER.txt (Python 3.11).
#
# Idempotent: a venv whose recorded requirements hash matches its file is left alone; otherwise
# it is (re)installed. A peer that fails to install is reported and the others still go on; the
# exit status is then 1 and bench/.venv-PEER/INSTALL_FAILED holds the pip log's tail, which
# run_peer.py's error record will point at when that peer is run.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
python="${PYTHON:-python3.11}"
peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(nannyml evidently whylogs alibi)

failed=()
for peer in "${peers[@]}"; do
    req="$here/requirements/$peer.txt"
    venv="$bench/.venv-$peer"
    if [ ! -f "$req" ]; then
        echo "setup: unknown peer '$peer' (no $req)" >&2
        failed+=("$peer")
        continue
    fi
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [ -f "$venv/.requirements.sha256" ] && [ "$(cat "$venv/.requirements.sha256")" = "$want" ]; then
        echo "setup: $peer up to date ($venv)"
        continue
    fi
    echo "setup: installing $peer into $venv"
    rm -f "$venv/.requirements.sha256" "$venv/INSTALL_FAILED"
    log="$(mktemp)"
    if "$python" -m venv "$venv" >"$log" 2>&1 \
        && "$venv/bin/python" -m pip install --quiet --no-input -r "$req" >>"$log" 2>&1; then
        echo "$want" >"$venv/.requirements.sha256"
    else
        mkdir -p "$venv"
        tail -n 40 "$log" >"$venv/INSTALL_FAILED"
        echo "setup: $peer FAILED to install; see $venv/INSTALL_FAILED" >&2
        failed+=("$peer")
    fi
    rm -f "$log"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "setup: failed: ${failed[*]}" >&2
    exit 1
fi
