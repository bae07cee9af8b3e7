"""What operators' tools read: readiness (``/readyz``), Prometheus metrics
(``/metrics``) and the id of each request (``X-Request-Id``)."""
