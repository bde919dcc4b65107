"""Fault drills on the testbed: kills, API faults, the persist->converge gap, a Prometheus outage."""
