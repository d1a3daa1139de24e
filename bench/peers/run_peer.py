"""Run one peer drift tool on the benchmark data and write its figures and verdicts as JSON.

Runs inside the peer's own virtualenv (see ``setup.sh``) and never imports ``monitor``::

    bench/.venv-nannyml/bin/python bench/peers/run_peer.py nannyml --mode compute --out r.json

Modes (one process per run, so ``peak_rss_mb``, read when the drift results are out, is that
run's; NannyML's realized performance and CBPE run after it and report their own figures):

- ``compute``: the reference and the events are DataFrames before the clock starts (from the
  ``.npz`` files); ``seconds`` times only the drift computation over the measured windows
  (fitting on the reference is reported apart, as ``fit_seconds``).
- ``e2e``: ``seconds`` runs from nothing loaded to results out: the reference read from its
  ``.npz``, the fit, ``events.jsonl`` read with pandas (``read_json(lines=True)``, the nested
  features flattened), the drift over the measured windows, the JSON written.

Peers that take seconds per window (Evidently) measure ``--windows`` evenly spread windows by
default; ``windows_measured`` says which, and ``events_per_s`` counts only the events in them.
``--smoke`` uses the 3-window data set (``data.py --smoke``) for CI.
Exit status 1, with the reason in the JSON's ``error``, when the tool cannot be imported or fails.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import sys
import time
import traceback
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

# The peers phone home unless told not to; this benchmark talks to nothing.
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "1")

from common import Meta, add_labels, agreement, load_jsonl, load_npz, window_plan

PEERS = {  # name -> (module, variant)
    "nannyml": ("peer_nannyml", "default"),
    "evidently": ("peer_evidently", "default"),
    "evidently-psi": ("peer_evidently", "psi"),
    "whylogs": ("peer_whylogs", "default"),
    "alibi-detect": ("peer_alibi", "default"),
}
SUPPORT = ("numpy", "pandas", "scipy", "scikit-learn", "pyarrow")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _versions(names: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return out


def run(peer: str, mode: str, meta: Meta, measured: int | None) -> dict[str, Any]:
    module_name, variant = PEERS[peer]
    module = importlib.import_module(module_name)
    windows = window_plan(meta, measured if measured is not None else module.DEFAULT_WINDOWS)
    record: dict[str, Any] = {
        "tool": peer,
        "distribution": module.DISTRIBUTION,
        "version": metadata.version(module.DISTRIBUTION),
        "variant": variant,
        "mode": mode,
    }
    timings: dict[str, float] = {}
    if mode == "compute":
        reference, events = load_npz(meta, "reference"), load_npz(meta, "events")
        t = time.perf_counter()
        fitted = module.fit(meta, reference, variant)
        timings["fit"] = time.perf_counter() - t
        t = time.perf_counter()
        results = module.detect(meta, fitted, events, windows)
        seconds = timings["drift"] = time.perf_counter() - t
    else:
        start = time.perf_counter()
        reference = load_npz(meta, "reference")
        timings["load_reference"] = time.perf_counter() - start
        t = time.perf_counter()
        fitted = module.fit(meta, reference, variant)
        timings["fit"] = time.perf_counter() - t
        t = time.perf_counter()
        events = load_jsonl(meta)
        timings["load_events"] = time.perf_counter() - t
        t = time.perf_counter()
        results = module.detect(meta, fitted, events, windows)
        timings["drift"] = time.perf_counter() - t
        seconds = time.perf_counter() - start  # the JSON is written within the next millisecond
    n = len(windows) * meta.window
    record.update(
        events=n,
        seconds=seconds,
        events_per_s=n / seconds,
        fit_seconds=timings["fit"],
        timings=timings,
        windows_total=meta.n_windows,
        windows_measured=windows,
    )
    if len(windows) < meta.n_windows:
        # What the whole run would take at the measured rate per window.
        scale = meta.n_windows / len(windows)
        all_windows = seconds - timings["drift"] + timings["drift"] * scale
        record["seconds_all_windows_estimated"] = all_windows
        record["events_per_s_all_windows_estimated"] = meta.n_events / all_windows
    record.update(
        peak_rss_mb=peak_rss_mb(),
        agreement=agreement(meta, results),
        windows=[asdict(r) for r in results],
    )
    if hasattr(module, "extra"):  # model performance, apart from the drift figures above
        if "label" not in events:
            t = time.perf_counter()
            events = add_labels(meta, events)
            timings["load_labels"] = time.perf_counter() - t
        record["performance"] = module.extra(meta, reference, events)
        record["performance"]["peak_rss_mb"] = peak_rss_mb()
    return record


def _install_log() -> list[str] | None:
    """setup.sh's record of a failed install into this venv, if there is one."""
    log = Path(sys.prefix) / "INSTALL_FAILED"
    return log.read_text().splitlines() if log.exists() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=sorted(PEERS))
    parser.add_argument("--mode", choices=("compute", "e2e"), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("bench/.data"))
    parser.add_argument("--windows", type=int, help="measure this many evenly spread windows")
    parser.add_argument("--smoke", action="store_true", help="the 3-window data set")
    args = parser.parse_args(argv)
    meta = Meta.load(args.data / "smoke" if args.smoke else args.data)
    base = {
        "smoke": args.smoke,
        "data": str(meta.folder),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
    }
    try:
        record = run(args.peer, args.mode, meta, args.windows)
        status = 0
    except Exception as e:  # noqa: BLE001 - any failure is a result to record, not to hide
        record = {
            "tool": args.peer,
            "mode": args.mode,
            "error": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc().splitlines()[-12:],
            "install_failed": _install_log(),
            "peak_rss_mb": peak_rss_mb(),
        }
        status = 1
    record = {**record, **base, "packages": _versions(SUPPORT)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))
    summary = record.get("error") or (
        f"{record['events']:,} events in {record['seconds']:.2f} s = "
        f"{record['events_per_s']:,.0f}/s, peak RSS {record['peak_rss_mb']:,.0f} MB"
    )
    print(f"{args.peer} {args.mode}: {summary}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
