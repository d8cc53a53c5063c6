"""The platform on Kubernetes: its manifests (render), `up`, `down`, `status` and `doctor`, the target guard,
readiness, the image cache, and how commands reach the platform's services."""
