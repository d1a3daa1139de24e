"""Estimated against realized performance per window: ours and NannyML's CBPE (issue 12).

    bash bench/peers/setup.sh nannyml                 # once: NannyML in bench/.venv-nannyml
    .venv/bin/python bench/estimation_agreement.py    # the tables (Markdown) and a JSON record

The script runs in the project venv. NannyML has its own venv (its pins conflict with ours), so
the script runs itself there (``--peer DIR``, which never imports ``monitor``): that part loads
NannyML's shipped binary datasets, fits CBPE on each reference (isotonic calibration, its
default), estimates accuracy, F1 and ROC AUC per chunk of the analysis rows, computes the
realized metrics of each chunk with scikit-learn on the labels, and saves the scores,
predictions and labels. The project side then fits our calibration map on the same reference
(``reference_calibration_map``, the path ``monitor reference build`` takes) and reads each
chunk's :class:`~monitor.performance.EstimationState`, with and without the map.

Datasets (analysis under covariate shift against the reference):

- ``synthetic``: ``synthetic_sample_{reference,analysis}.csv`` + ``_gt`` (work from home),
  chunks of 5,000;
- ``car_loan``: ``synthetic_car_loan_*`` (loan repaid), chunks of 5,000;
- ``employment_MA``: ``employment_MA_*.pq`` (US census, Massachusetts, employed; reference 2015,
  analysis 2016-2018), chunks of 10,000.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PEER_PYTHON = ROOT / "bench" / ".venv-nannyml" / "bin" / "python"
METRICS = ("accuracy", "f1", "roc_auc")
#: name -> (loader, label column, score column, prediction column, chunk size)
DATASETS = {
    "synthetic": (
        "load_synthetic_binary_classification_dataset",
        "work_home_actual",
        "y_pred_proba",
        "y_pred",
        5_000,
    ),
    "car_loan": ("load_synthetic_car_loan_dataset", "repaid", "y_pred_proba", "y_pred", 5_000),
    "employment_MA": (
        "load_us_census_ma_employment_data",
        "employed",
        "predicted_probability",
        "prediction",
        10_000,
    ),
}


# -- the NannyML side (runs in bench/.venv-nannyml) ----------------------------------------------
def peer(out: Path) -> None:
    """CBPE and the realized metrics per chunk of each dataset, and its columns, into ``out``."""
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
    import nannyml as nml
    from sklearn import metrics as skm

    realized_of = {
        "accuracy": lambda y, p, s: skm.accuracy_score(y, p),
        "f1": lambda y, p, s: skm.f1_score(y, p),
        "roc_auc": lambda y, p, s: skm.roc_auc_score(y, s),
    }
    record: dict[str, Any] = {"nannyml": nml.__version__}
    for name, (loader, label, score, pred, size) in DATASETS.items():
        reference, analysis, truth = getattr(nml, loader)()
        analysis = analysis.merge(truth, on="id")
        cbpe = nml.CBPE(
            y_pred_proba=score,
            y_pred=pred,
            y_true=label,
            problem_type="classification_binary",
            metrics=list(METRICS),
            chunk_size=size,
        )
        estimate = cbpe.fit(reference).estimate(analysis.drop(columns=[label]))
        df = estimate.filter(period="analysis").to_df()
        y, p, s = (analysis[c].to_numpy() for c in (label, pred, score))
        chunks = []
        for i in range(len(df)):
            lo, hi = (
                int(df[("chunk", "start_index")].iloc[i]),
                int(df[("chunk", "end_index")].iloc[i]),
            )
            rows = slice(lo, hi + 1)  # NannyML's end index is inclusive
            chunks.append(
                {
                    "start": lo,
                    "end": hi + 1,
                    "cbpe": {m: float(df[(m, "value")].iloc[i]) for m in METRICS},
                    "realized": {
                        m: float(f(y[rows], p[rows], s[rows])) for m, f in realized_of.items()
                    },
                }
            )
        record[name] = chunks
        np.savez(
            out / f"{name}.npz",
            ref_score=reference[score].to_numpy(float),
            ref_label=reference[label].to_numpy(int),
            score=s.astype(float),
            prediction=p.astype(int),
        )
    (out / "peer.json").write_text(json.dumps(record))


# -- our side (project venv) ---------------------------------------------------------------------
def ours(data: Any, chunks: list[dict]) -> list[dict]:
    """Our estimate per chunk, with the reference's calibration map (and without, as ``raw``)."""
    sys.path.insert(0, str(ROOT))
    from monitor.config import ModelConfig
    from monitor.performance import EstimationState
    from monitor.performance.estimation import reference_calibration_map

    cfg = ModelConfig.model_validate({"features": {"x": {"kind": "numeric"}}})
    rows = {"score": data["ref_score"].tolist(), "label": data["ref_label"].tolist()}
    calibration = reference_calibration_map(cfg, rows)
    out = []
    for chunk in chunks:
        part = slice(chunk["start"], chunk["end"])
        state = EstimationState(cfg.labels.score_bins)
        state.update(data["score"][part], data["prediction"][part])
        calibrated, raw = state.metrics(calibration), state.metrics()
        out.append(
            chunk
            | {
                "n": state.n,
                "ours": {m: calibrated[m] for m in METRICS},
                "raw": {m: raw[m] for m in METRICS},
            }
        )
    return out


def markdown(results: dict[str, list[dict]]) -> str:
    """The per-window tables and the summary of largest distances from the realized metrics."""
    lines = [
        (
            "| data set | metric | windows | within 0.01 of realized: ours | CBPE "
            "| max \\|ours - realized\\| | max \\|CBPE - realized\\| | max \\|ours - CBPE\\| "
            "| max \\|ours uncalibrated - realized\\| |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, chunks in results.items():
        for m in METRICS:
            gaps = {
                k: [abs(c[k][m] - c["realized"][m]) for c in chunks]
                for k in ("ours", "cbpe", "raw")
            }
            apart = max(abs(c["ours"][m] - c["cbpe"][m]) for c in chunks)
            within = {k: sum(g <= 0.01 for g in v) for k, v in gaps.items()}
            lines.append(
                f"| {name} | {m} | {len(chunks)} | {within['ours']} | {within['cbpe']} "
                f"| {max(gaps['ours']):.4f} | {max(gaps['cbpe']):.4f} | {apart:.5f} "
                f"| {max(gaps['raw']):.4f} |"
            )
    for name, chunks in results.items():
        head = " | ".join(f"{m} realized | ours | CBPE" for m in METRICS)
        lines += ["", f"**{name}**", "", f"| window | rows | {head} |", "|---:" * 11 + "|"]
        for i, c in enumerate(chunks):
            cells = " | ".join(
                f"{c['realized'][m]:.4f} | {c['ours'][m]:.4f} | {c['cbpe'][m]:.4f}" for m in METRICS
            )
            lines.append(f"| {i} | {c['n']:,} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "estimation.json")
    args = parser.parse_args()
    if args.peer is not None:
        peer(args.peer)
        return
    if not PEER_PYTHON.exists():
        sys.exit(f"no NannyML venv at {PEER_PYTHON}: run bash bench/peers/setup.sh nannyml")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([str(PEER_PYTHON), __file__, "--peer", tmp], check=True)
        record = json.loads((Path(tmp) / "peer.json").read_text())
        results = {
            name: ours(np.load(Path(tmp) / f"{name}.npz"), record[name]) for name in DATASETS
        }
    args.out.write_text(
        json.dumps(
            {"nannyml": record["nannyml"], "python": platform.python_version(), "results": results},
            indent=1,
        )
    )
    print(markdown(results))


if __name__ == "__main__":
    main()
