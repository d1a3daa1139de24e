"""Kafka: the consumer loop, topics, Avro, and the embedded development broker."""
