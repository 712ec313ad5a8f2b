"""The secure profile: credentials, Pulsar's role grants, and redaction of secrets from output."""
