"""MQTT intake, the journal, the pipeline that hands batches to consumers, the device registry."""
