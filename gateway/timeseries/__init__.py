"""Time series: points (`point`), the embedded SQLite store (`embedded`, read through `query` and
`api`), the InfluxDB sink (`influx`) with its disk spool (`spool`), and the writer that fans points
out to the configured sinks (`writer`). Import from the modules: importing this package stays cheap
(influxdb-client is loaded only by `influx`)."""
