"""Live state per deployment: latency estimates, failure rate, in-flight (Store protocol)."""
