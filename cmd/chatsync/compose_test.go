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

	services := composeServices(cfg, "demo")
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

	checkVariables(t, cfg)
}

// TestDockerComposeHA: the "ha" profile is a primary, a replica, three
// sentinels, serve and three workers on the Sentinel URL.
func TestDockerComposeHA(t *testing.T) {
	t.Parallel()
	cfg := composeConfig(t, "--profile", "ha", "config")
	// redis, serve and work have no profile: they run with any.
	want := []string{"redis", "redis-primary", "redis-replica", "sentinel1", "sentinel2", "sentinel3",
		"serve", "serve-ha", "work", "work-ha"}
	if services := composeServices(cfg, "ha"); !slices.Equal(services, want) {
		t.Errorf("services with the ha profile: %v, want %v", services, want)
	}
	for _, want := range []string{
		"- --replicaof\n    - redis-primary", "sentinel monitor chatsync redis-primary 6379 2",
		"sentinel down-after-milliseconds chatsync 1000", "REDIS_WAIT_REPLICAS: '1'",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("docker-compose config lacks %q", want)
		}
	}
	urls := regexp.MustCompile(`(?m)^      REDIS_URL: (redis-sentinel://.*)$`).FindAllStringSubmatch(cfg, -1)
	if len(urls) != 2 {
		t.Fatalf("%d redis-sentinel:// URLs, want 2 (serve-ha and work-ha)", len(urls))
	}
	rc, err := parseRedisURL(urls[0][1])
	if err != nil {
		t.Fatalf("serve-ha's REDIS_URL: %v", err)
	}
	if f := rc.Failover; f == nil || f.MasterName != "chatsync" || len(f.SentinelAddrs) != 3 || f.SentinelPassword == "" || f.Password == "" {
		t.Errorf("serve-ha's REDIS_URL: %+v, want master chatsync, 3 sentinels and both passwords", f)
	}
	checkVariables(t, cfg)
}

// composeServices lists the services of a `docker-compose config` output
// that run with profile: those without profiles and those that name it.
// (docker-compose 1.x prints every service whatever --profile says.)
func composeServices(cfg, profile string) []string {
	var services []string
	header := regexp.MustCompile(`(?m)^  ([a-z][a-z0-9_-]*):$`)
	profiles := regexp.MustCompile(`(?m)^    profiles:\n((?:    - .*\n)+)`)
	matches := header.FindAllStringSubmatchIndex(cfg, -1)
	for i, m := range matches {
		end := len(cfg)
		if i+1 < len(matches) {
			end = matches[i+1][0]
		}
		block := cfg[m[1]:end]
		p := profiles.FindStringSubmatch(block)
		if p == nil || slices.Contains(strings.Fields(strings.ReplaceAll(p[1], "- ", "")), profile) {
			services = append(services, cfg[m[2]:m[3]])
		}
	}
	return services
}

// checkVariables checks that every variable a `docker-compose config`
// output sets is one chatsync reads: a typo would be ignored silently.
func checkVariables(t *testing.T, cfg string) {
	t.Helper()
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
