"""The fast tier: unit tests that need no server (`make test-fast`)."""
