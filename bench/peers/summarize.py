"""Print the peer results (``run_peer.py`` JSON files) as Markdown tables (standard library only).

    python3 bench/peers/summarize.py bench/.results/*.json [--windows]

``--windows`` adds, per result, the features each window flagged (``+`` the injected ones,
``-`` a missed injected one, ``!`` a flag on an undrifted feature or window).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(r: dict) -> str:
    if "error" in r:
        return f"| {r['tool']} | {r.get('version', '?')} | {r['mode']} | failed: {r['error']} |||||"
    est = r.get("events_per_s_all_windows_estimated")
    a = r["agreement"]
    return (
        f"| {r['tool']} | {r['version']} | {r['mode']} | {len(r['windows_measured'])}"
        f"/{r['windows_total']} | {r['seconds']:.2f} | {r['events_per_s']:,.0f}"
        + (f" ({est:,.0f} all windows, est.)" if est else "")
        + f" | {r['peak_rss_mb']:,.0f} | "
        f"{a['true_positives']}/{a['true_positives'] + a['false_negatives']}"
        f" | {a['false_positives']} |"
    )


def windows(r: dict) -> list[str]:
    meta = json.loads((Path(r["data"]) / "meta.json").read_text())
    drifted = {d["feature"] for d in meta["drift"]}
    lines = [f"\n{r['tool']} ({r['mode']}):"]
    for w in r["windows"]:
        truth = drifted if w["window"] >= meta["drift_start_window"] else set()
        marks = [("+" if f in truth else "!") + f for f in w["flagged"]]
        marks += ["-" + f for f in sorted(truth - set(w["flagged"]))]
        lines.append(f"  window {w['window']:3d}: {' '.join(marks) or '(none)'}")
    return lines


def main(argv: list[str]) -> int:
    show_windows = "--windows" in argv
    results = [json.loads(Path(p).read_text()) for p in argv if p != "--windows"]
    print(
        "| tool | version | mode | windows | seconds | events/s | peak RSS MB | drift found"
        " | false flags |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(row(r))
    if show_windows:
        for r in results:
            if "error" not in r:
                print("\n".join(windows(r)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
