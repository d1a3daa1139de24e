"""``make bench`` / ``python -m bench [--smoke] [--only NAME ...]``: run the benchmarks, print
the figures, save them to bench/results/NAME.json and refresh the tables of docs/benchmarks.md."""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
from pathlib import Path

from bench import compare, kafka, labels, pipeline, scale, sdk, startup, trust

SUITES = {
    "pipeline": (pipeline.run, pipeline.render),
    "kafka": (kafka.run, kafka.render),
    "labels": (labels.run, labels.render),
    "peers": (compare.run, compare.render),
    "sdk": (sdk.run, sdk.render),
    "startup": (startup.run, startup.render),
    "trust": (trust.run, trust.render),
    "scale": (scale.run, scale.render),
}
DOCS = Path("docs")  # the tables (docs/benchmarks.md, docs/scaling.md); README.md: headlines


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = (
        int(
            next(
                line.split()[1]
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")
            )
        )
        // 1024
        // 1024
    )
    cores = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return f"{cores} cores ({cpu}), {mem} GB, Python {platform.python_version()}"


def refresh_docs(name: str, table: str) -> None:
    """Replace the table between ``<!-- bench:NAME:start -->`` and its end marker in whichever
    page of docs/ holds them."""
    pattern = re.compile(
        rf"(<!-- bench:{name}:start -->\n).*?(<!-- bench:{name}:end -->)", re.DOTALL
    )
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text()
        if pattern.search(text):
            page.write_text(pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny data, one run: checks the code, not the speed"
    )
    parser.add_argument("--only", nargs="*", choices=sorted(SUITES), default=sorted(SUITES))
    args = parser.parse_args()
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    for name in args.only:
        run, render = SUITES[name]
        results = run(smoke=args.smoke)
        results["machine"] = machine()
        table = render(results) + f"\n\nMachine: {results['machine']}. Reproduce: `make bench`."
        print(f"\n## {name}\n\n{table}\n")
        if not args.smoke:
            (out / f"{name}.json").write_text(json.dumps(results, indent=1))
            refresh_docs(name, table)


if __name__ == "__main__":
    main()
