"""Tests of the emulated Kubernetes API server (kubeemu), as clients and kopf see it."""
