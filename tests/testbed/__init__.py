"""Tests of the testbed: the mesh simulator, the Prometheus wiring, the kubelet."""
