"""canary/sandbox."""
