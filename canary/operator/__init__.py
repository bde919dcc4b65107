"""canary/operator."""
