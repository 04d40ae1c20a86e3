"""What the gateway tells operators: Prometheus metrics, the access log, OpenTelemetry traces."""
