"""Real-time card features: the window logic, and the Flink operator that runs it."""
