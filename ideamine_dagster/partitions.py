"""The `ideas` dynamic partitions definition: one partition per submitted idea (run id)."""

import dagster as dg

IDEAS = dg.DynamicPartitionsDefinition(name="ideas")
