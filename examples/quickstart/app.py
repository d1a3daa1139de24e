"""An app serving the churn model, logging every prediction and, once known, its outcome with the
monitor SDK. The broker: $KAFKA_BOOTSTRAP_SERVERS, else kafka.bootstrap_servers in the config,
else the development broker `monitor run` started in this directory (monitor-broker.json).

    python app.py --seconds 60 --drift-after 30   # monthly charges shift half way through
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import churn
import numpy as np

import monitor

MODEL = "churn"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="monitor.yaml")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to serve")
    parser.add_argument("--rate", type=float, default=200.0, help="predictions per second")
    parser.add_argument("--drift-after", type=float, default=30.0, help="seconds; then drift")
    args = parser.parse_args()

    config = monitor.load_config(args.config)
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or config.kafka.bootstrap_servers
    if not servers:  # the development broker `monitor run` started in this directory
        from monitor.kafka.broker import read_address

        try:
            servers = read_address()
        except monitor.MonitorError as exc:
            sys.exit(str(exc))
    topics = config.models[MODEL].topics
    rng = np.random.default_rng()
    with monitor.MonitorClient(
        servers,
        model_id=MODEL,
        model_version="1",
        predictions_topic=topics.predictions,
        labels_topic=topics.labels or "labels",
    ) as client:
        start = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - start) < args.seconds:
            shift = 1.0 if elapsed >= args.drift_after else 0.0
            customer = {k: v[0] for k, v in churn.customers(rng, 1, shift).items()}
            p = churn.score(**customer)
            pid = client.log_prediction(customer, prediction=int(p >= 0.5), score=p)
            client.log_label(pid, churn.outcome(rng, p))  # in a real app: when the truth is known
            sent += 1
            time.sleep(max(0.0, start + sent / args.rate - time.monotonic()))  # pace to --rate
    print(f"logged {sent} predictions and their labels: {client.stats}")


if __name__ == "__main__":
    main()
