// Package deploy holds no code: its tests check the deployment files beside them (the
// Kubernetes manifests, the Prometheus rules, the Grafana dashboard, the container and
// systemd files, and the CI examples in examples/ci). See deploy/README.md.
package deploy
