package config

import (
	"os"
	"strings"
	"testing"
)

// TestDeploymentDocsListEverySetting: docs/deployment/workflow-runtime.md has
// a row for every setting, with its default, and none for a setting that is
// not one, so that operators read what the binary does.
func TestDeploymentDocsListEverySetting(t *testing.T) {
	doc, err := os.ReadFile("../../docs/deployment/workflow-runtime.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for line := range strings.SplitSeq(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`WFR_") {
			continue
		}
		rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.TrimSpace(cells[2])
	}
	known := map[string]bool{}
	for _, s := range settings {
		known[s.env] = true
		def, ok := rows[s.env]
		switch {
		case !ok:
			t.Errorf("%s has no row in the deployment docs", s.env)
		case s.def != "" && def != "`"+s.def+"`":
			t.Errorf("%s: the docs say the default is %s, the binary `%s`", s.env, def, s.def)
		case s.def == "" && def != "empty" && def != "(required)" && def != "hostname-pid":
			t.Errorf("%s: the docs say the default is %s, the binary has none", s.env, def)
		}
	}
	for env := range rows {
		if !known[env] {
			t.Errorf("the deployment docs list %s, which is no setting", env)
		}
	}
}
