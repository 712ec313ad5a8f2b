"""Scaling: the rules the deployments apply, replayed on a load before deploying."""
