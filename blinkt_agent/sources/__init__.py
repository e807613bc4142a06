"""Where the data comes from: one package per source (Nomad, Kubernetes)."""
