package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// rulesDir holds the Prometheus rules and their unit tests, relative to
// this package.
const rulesDir = "../../deploy/prometheus"

// TestPrometheusRules checks deploy/prometheus/chatsync.rules.yml and the
// compose profile's prometheus.yml with promtool and runs the rules' unit
// tests (chatsync.rules.test.yml). Under CI or the test command a missing
// promtool fails the test.
func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	promtool := requireTool(t, "promtool")
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"}, // checks the rules it loads too
		{"test", "rules", "chatsync.rules.test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = rulesDir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestAlertsDocumented checks that every alert in the rules file has a
// runbook line in README.md's Alerts table and at least one promtool unit
// test that expects it to fire.
func TestAlertsDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(rulesDir + "/chatsync.rules.test.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(tests, &f); err != nil {
		t.Fatal(err)
	}
	fires := map[string]bool{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, r := range ruleExprs(t, rulesFile) {
		if r.Alert == "" {
			continue
		}
		n++
		if !strings.Contains(string(readme), "| `"+r.Alert+"` (") {
			t.Errorf("README.md has no runbook line for %s", r.Alert)
		}
		if !fires[r.Alert] {
			t.Errorf("no unit test in chatsync.rules.test.yml expects %s to fire", r.Alert)
		}
	}
	if n == 0 {
		t.Error("no alerts found")
	}
}
