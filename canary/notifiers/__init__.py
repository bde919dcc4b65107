"""canary/notifiers."""
