"""The pipeline: the feeders and the one place that wires them.

- :mod:`monitor.pipeline.files`: event files (``monitor replay``), one source;
- :mod:`monitor.pipeline.kafka`: the Kafka consumer loop (``monitor run``), a source per
  partition, one process of a consumer group;
- :mod:`monitor.pipeline.build`: engine, label-join lookup, checkpoint and alerts, wired the
  same way for both;
- :mod:`monitor.pipeline.closing`: the one rule that closes windows, reading panes from
  memory or from SQL;
- :mod:`monitor.pipeline.checkpoint`: the checkpoint transaction, its numbered steps in one
  function.

Modules are imported on demand: the Kafka feeder needs confluent-kafka, the files feeder not.
"""
