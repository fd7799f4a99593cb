package migrations

import "testing"

func TestName(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]string{
		"00002_workflow_deployment_status.sql": "workflow_deployment_status",
		"dir/00001_workflows.sql":              "workflows",
		"plain.sql":                            "plain",
	} {
		if got := name(file); got != want {
			t.Errorf("name(%q) = %q, want %q", file, got, want)
		}
	}
}
