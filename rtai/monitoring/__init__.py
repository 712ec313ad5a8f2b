"""Monitoring tools: the project's processes' own metrics, the alert webhook receiver, and the
dashboard without Grafana (a PNG of its panels, a terminal view). Prometheus and Alertmanager
run as stack services (rtai.stack.monitoring)."""
