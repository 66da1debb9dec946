"""The local lake and what reads it, as Kinesis, Firehose, Glue, Athena and QuickSight do on AWS.

- `stream`: the stream worker process: the predictions table's changes -> the real Firehose
  transform -> Parquet, with a checkpoint so nothing is lost or written twice.
- `firehose`: the records and event the transform gets on AWS (KDS for DynamoDB, Firehose), and
  the transform itself, loaded with the template's environment.
- `firehose`: the stream record, the Firehose event and the transform loader the worker uses.
- `worker`: how `nrt up` runs the stream worker and restarts it if it dies.
- `parquet`: the lake's files: the Glue table's columns under Firehose's dt=/hour= layout.
- `athena`: the athena/*.sql queries, transpiled from Trino to DuckDB, over the lake.
- `dashboard`: the page with the charts QuickSight shows on AWS, from those queries.
"""

__all__ = ["athena", "dashboard", "firehose", "parquet", "stream"]
