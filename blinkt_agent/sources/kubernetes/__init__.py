"""The Kubernetes source: pods and nodes read from the API server (k3s on a Pi)."""
