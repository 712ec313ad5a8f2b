"""Actions on alerts: the alerts topic delivered to whatever must act on it."""
