"""`kubectl kubenode`: the command-line client of kubenode's API (the standard library only)."""
