package validate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// manifestDir is k8s/, this module's parent.
const manifestDir = ".."

// objects are the decoded output of `kustomize build k8s/`, one of each kind.
type objects struct {
	namespace  corev1.Namespace
	config     corev1.ConfigMap
	secret     corev1.Secret
	deployment appsv1.Deployment
	service    corev1.Service
	job        batchv1.Job
	hpa        autoscalingv2.HorizontalPodAutoscaler
	pdb        policyv1.PodDisruptionBudget
	policy     networkingv1.NetworkPolicy
}

// build renders the kustomization as kubectl apply -k would and decodes every
// object strictly into its Kubernetes API type: an unknown or misspelt field,
// a wrong type or a bad quantity fails.
func build(t *testing.T) *objects {
	t.Helper()
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), manifestDir)
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	var o objects
	targets := map[string]any{
		"Namespace": &o.namespace, "ConfigMap": &o.config, "Secret": &o.secret, "Deployment": &o.deployment,
		"Service": &o.service, "Job": &o.job, "HorizontalPodAutoscaler": &o.hpa,
		"PodDisruptionBudget": &o.pdb, "NetworkPolicy": &o.policy,
	}
	seen := map[string]bool{}
	for _, r := range resMap.Resources() {
		kind := r.GetKind()
		target, ok := targets[kind]
		if !ok {
			t.Errorf("%s %s: a kind this test does not check", kind, r.GetName())
			continue
		}
		if seen[kind] {
			t.Errorf("a second %s (%s): this test checks one of each", kind, r.GetName())
			continue
		}
		seen[kind] = true
		data, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s %s: %v", kind, r.GetName(), err)
		}
		if err := yaml.UnmarshalStrict(data, target); err != nil {
			t.Errorf("%s %s does not decode strictly: %v", kind, r.GetName(), err)
		}
	}
	for kind := range targets {
		if !seen[kind] {
			t.Errorf("no %s in the kustomization", kind)
		}
	}
	return &o
}

// TestEveryFileIsInTheKustomization: a manifest left out of the
// kustomization would never be applied nor checked.
func TestEveryFileIsInTheKustomization(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(manifestDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kusttypes.Kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatalf("kustomization.yaml does not decode strictly: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if name != "kustomization.yaml" && !slices.Contains(k.Resources, name) {
			t.Errorf("%s is not among the kustomization's resources", name)
		}
	}
}

func TestManifestsDecodeStrictly(t *testing.T) {
	o := build(t)
	for _, m := range []struct{ kind, namespace string }{
		{"ConfigMap", o.config.Namespace}, {"Secret", o.secret.Namespace}, {"Deployment", o.deployment.Namespace},
		{"Service", o.service.Namespace}, {"Job", o.job.Namespace}, {"HorizontalPodAutoscaler", o.hpa.Namespace},
		{"PodDisruptionBudget", o.pdb.Namespace}, {"NetworkPolicy", o.policy.Namespace},
	} {
		if m.namespace != o.namespace.Name {
			t.Errorf("%s is in namespace %q, not the kustomization's %q", m.kind, m.namespace, o.namespace.Name)
		}
	}
}

func TestDeployment(t *testing.T) {
	o := build(t)
	d := o.deployment
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %v, want 3", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["grpc"] != 9090 || ports["http"] != 8080 {
		t.Errorf("ports = %v, want grpc 9090 and http 8080", ports)
	}
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe = %+v, want GET %s on the http port", name, p, path)
		}
	}
	probe("liveness", c.LivenessProbe, "/livez")
	probe("readiness", c.ReadinessProbe, "/readyz")
	if !slices.Contains(c.Args, "--no-migrate") {
		t.Errorf("args %q: the migration Job migrates, serve must not", c.Args)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	checkNonRoot(t, "deployment", pod.SecurityContext, c.SecurityContext)

	// The grace period must cover the whole drain, or the kubelet kills the
	// replica before it has handed its executions over.
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("no preStop sleep: endpoints may still send calls after SIGTERM")
	}
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	drain, shutdown := setting(t, o, "WFR_DRAIN_DELAY", 5*time.Second), setting(t, o, "WFR_SHUTDOWN_TIMEOUT", 30*time.Second)
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	if need := preStop + drain + shutdown; grace <= need {
		t.Errorf("terminationGracePeriodSeconds %v <= preStop %v + WFR_DRAIN_DELAY %v + WFR_SHUTDOWN_TIMEOUT %v", grace, preStop, drain, shutdown)
	}
	if o.job.Spec.Template.Spec.Containers[0].Image != c.Image {
		t.Errorf("the migration Job runs %q, the Deployment %q", o.job.Spec.Template.Spec.Containers[0].Image, c.Image)
	}
}

// setting reads a duration from the ConfigMap, or the service's default.
func setting(t *testing.T, o *objects, name string, def time.Duration) time.Duration {
	t.Helper()
	v, ok := o.config.Data[name]
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("ConfigMap %s=%q: %v", name, v, err)
	}
	return d
}

func checkNonRoot(t *testing.T, what string, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) {
	t.Helper()
	if pod == nil || pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot {
		t.Errorf("%s: pod securityContext must set runAsNonRoot", what)
	}
	if c == nil || c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem ||
		c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation ||
		c.Capabilities == nil || !slices.Contains(c.Capabilities.Drop, "ALL") {
		t.Errorf("%s: container securityContext must be read-only root, no privilege escalation, all capabilities dropped", what)
	}
}

// TestCallersAuthenticate: the manifests turn caller authentication on, and
// leave open no more than the probes and the metrics.
func TestCallersAuthenticate(t *testing.T) {
	o := build(t)
	if o.secret.StringData["WFR_AUTH_TOKENS"] == "" && o.secret.StringData["WFR_AUTH_TOKENS_FILE"] == "" {
		t.Error("the Secret sets neither WFR_AUTH_TOKENS nor WFR_AUTH_TOKENS_FILE: every caller would be accepted")
	}
	// Every token is named and has a role, and the gateway's is limited to
	// what the gateway calls (pkg/auth checks the same at start).
	gateway := false
	for e := range strings.SplitSeq(o.secret.StringData["WFR_AUTH_TOKENS"], ",") {
		name, rest, _ := strings.Cut(e, ":")
		role, _, ok := strings.Cut(rest, ":")
		if !ok || !slices.Contains([]string{"admin", "operator", "trigger", "read"}, role) {
			t.Errorf("WFR_AUTH_TOKENS: an entry is not <name>:<role>:<token> with a known role")
		}
		gateway = gateway || (name == "gateway" && role == "trigger")
	}
	if !gateway {
		t.Error("WFR_AUTH_TOKENS gives the API Gateway no token of role trigger")
	}
	for _, p := range strings.Split(o.config.Data["WFR_AUTH_OPEN_PATHS"], ",") {
		if p != "" && !slices.Contains([]string{"/livez", "/readyz", "/metrics"}, p) {
			t.Errorf("WFR_AUTH_OPEN_PATHS opens %q", p)
		}
	}
}

func TestMigrationJob(t *testing.T) {
	o := build(t)
	pod := o.job.Spec.Template.Spec
	if got := strings.Join(pod.Containers[0].Args, " "); got != "migrate up" {
		t.Errorf("job args %q, want \"migrate up\"", got)
	}
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q: a failed migration must surface, not loop in place", pod.RestartPolicy)
	}
	checkNonRoot(t, "job", pod.SecurityContext, pod.Containers[0].SecurityContext)
}

// TestSelectors: the Service, budget, autoscaler and network policy all
// point at the Deployment's pods.
func TestSelectors(t *testing.T) {
	o := build(t)
	labels := o.deployment.Spec.Template.Labels
	matches := func(what string, sel map[string]string) {
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s selects %s=%s, which the Deployment's pods do not carry", what, k, v)
			}
		}
		if len(sel) == 0 {
			t.Errorf("%s selects nothing", what)
		}
	}
	matches("Service", o.service.Spec.Selector)
	matches("PodDisruptionBudget", o.pdb.Spec.Selector.MatchLabels)
	matches("NetworkPolicy", o.policy.Spec.PodSelector.MatchLabels)
	if ref := o.hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != o.deployment.Name {
		t.Errorf("HorizontalPodAutoscaler scales %s %s", ref.Kind, ref.Name)
	}
	if *o.hpa.Spec.MinReplicas < 3 {
		t.Errorf("HorizontalPodAutoscaler minReplicas %d < 3", *o.hpa.Spec.MinReplicas)
	}
	if o.pdb.Spec.MinAvailable == nil || o.pdb.Spec.MinAvailable.IntValue() >= int(*o.hpa.Spec.MinReplicas) {
		t.Errorf("PodDisruptionBudget minAvailable %v would block every drain at %d replicas", o.pdb.Spec.MinAvailable, *o.hpa.Spec.MinReplicas)
	}
}

// TestNetworkPolicy: only the gateway's namespace reaches the gRPC port.
func TestNetworkPolicy(t *testing.T) {
	o := build(t)
	for _, rule := range o.policy.Spec.Ingress {
		grpc := false
		for _, p := range rule.Ports {
			if p.Port != nil && p.Port.IntValue() == 9090 {
				grpc = true
			}
		}
		if len(rule.Ports) == 0 {
			t.Errorf("an ingress rule without ports opens every port, gRPC included: %+v", rule)
		}
		if !grpc {
			continue
		}
		if len(rule.From) != 1 || rule.From[0].NamespaceSelector == nil || rule.From[0].PodSelector != nil ||
			rule.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "api-gateway" {
			t.Errorf("the gRPC port is reachable from %+v, want the api-gateway namespace alone", rule.From)
		}
	}
}
