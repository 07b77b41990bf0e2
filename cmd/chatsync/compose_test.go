package main

import (
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// composeConfig runs `docker-compose [args] config [flags]` on the
// project's docker-compose.yml, as CI validates it (no engine needed).
func composeConfig(t *testing.T, args ...string) string {
	t.Helper()
	bin := requireTool(t, "docker-compose")
	cmd := exec.Command(bin, args...)
	cmd.Dir = "../.."
	// No .env or CHAT_* from the developer's shell: the file's defaults.
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDockerCompose(t *testing.T) {
	t.Parallel()
	cfg := composeConfig(t, "--profile", "demo", "config")

	var services []string
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z][a-z0-9_-]*):$`).FindAllStringSubmatch(cfg, -1) {
		services = append(services, m[1])
	}
	if want := []string{"emulator", "redis", "serve", "work"}; !slices.Equal(services, want) {
		t.Errorf("services with the demo profile: %v, want %v", services, want)
	}
	for _, want := range []string{
		"image: redis:7", "- --appendonly\n    - \"yes\"", "- --appendfsync\n    - everysec",
		"- --maxmemory-policy\n    - noeviction",
		"replicas: 3", "profiles:\n    - demo",
		"EMULATOR_CALLBACK_URL: http://serve:8080/callback", "CHAT_BASE_URL: http://emulator:9000",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("docker-compose config lacks %q:\n%s", want, cfg)
		}
	}

	// Every variable the file sets is one chatsync reads: a typo would be
	// ignored silently.
	known := readVariables(t)
	for _, m := range regexp.MustCompile(`(?m)^      ([A-Z][A-Z0-9_]*):`).FindAllStringSubmatch(cfg, -1) {
		if !known[m[1]] {
			t.Errorf("docker-compose.yml sets %s, which chatsync does not read", m[1])
		}
	}
}

// readVariables returns the name of every variable the configuration
// parsers read.
func readVariables(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	record := func(k string) (string, bool) { names[k] = true; return "", false }
	for _, m := range []mode{modeServe, modeWork, modeDev} {
		parseConfig(m, record)
	}
	parseEmulatorConfig(record, nil)
	if len(names) < 25 {
		t.Fatalf("only %d variables recorded", len(names))
	}
	return names
}
