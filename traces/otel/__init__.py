"""OpenTelemetry: the OTLP/HTTP trace receiver and the export of the studio's spans."""
