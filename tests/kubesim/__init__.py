"""kubesim: a Kubernetes API server emulator for kubesafe.k8s's tests, benchmarks and demo."""
