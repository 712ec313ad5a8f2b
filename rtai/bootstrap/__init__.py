"""Set-up: checks prerequisites, creates the virtual environments, fetches Java artifacts.

Runs on the system Python 3.11 with the standard library only, before any
environment exists (`python3.11 -m rtai setup`).
"""
