package main

import (
	"os/exec"
	"strings"
	"testing"
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
