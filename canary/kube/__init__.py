"""canary/kube."""
