// Package validate holds the test that checks the Kubernetes manifests in
// k8s/ against the Kubernetes API types. It is a module of its own so that
// k8s.io/api and kustomize stay out of the service's go.mod.
package validate
