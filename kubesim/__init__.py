"""A simulated Kubernetes API server: enough of the real HTTP protocol for the official client and kubectl."""
