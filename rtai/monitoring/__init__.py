"""Monitoring: the jobs' Prometheus endpoints, Prometheus and Alertmanager's config, the alert
webhook receiver, and views of the running pipeline."""
