package main

import (
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// composeConfig runs `docker-compose [args] config [flags]` on the
// project's docker-compose.yml, as CI validates it (no engine needed), with
// only the variables env (KEY=value) in the environment: no .env, no CHAT_*
// from the developer's shell.
func composeConfig(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	bin := requireTool(t, "docker-compose")
	cmd := exec.Command(bin, args...)
	cmd.Dir = "../.."
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// composeSecrets are the variables docker-compose.yml requires, with
// values of a real deployment.
var composeSecrets = []string{
	"CHAT_SDKAPPID=1400000042", "CHAT_SECRET_KEY=real-secret-key", "CHAT_CALLBACK_TOKEN=real-token",
	"EVENTS_SECRET=" + testWhsec, "API_KEY=real-api-key", "MONITORING_PASSWORD=real-password",
	"REDIS_PASSWORD=real-redis-password", "SENTINEL_PASSWORD=real-sentinel-password",
}

func TestDockerCompose(t *testing.T) {
	t.Parallel()
	cfg, err := composeConfig(t, nil, "--env-file", "demo.env", "--profile", "demo", "config")
	if err != nil {
		t.Fatalf("docker-compose config of the demo: %v\n%s", err, cfg)
	}

	services := composeServices(cfg, "demo")
	if want := []string{"emulator", "redis", "serve", "work"}; !slices.Equal(services, want) {
		t.Errorf("services with the demo profile: %v, want %v", services, want)
	}
	for _, want := range []string{
		"image: redis:7", "- --appendonly\n    - \"yes\"", "- --appendfsync\n    - everysec",
		"- --maxmemory-policy\n    - noeviction",
		"replicas: 3", "profiles:\n    - demo",
		"EMULATOR_CALLBACK_URL: http://serve:8080/callback", "CHAT_BASE_URL: http://emulator:9000",
		"API_KEY: demo-api-key", "ADMIN_ADDR: :9090", "ADMIN_ADDR: :9091",
		"127.0.0.1:8080:8080", "127.0.0.1:9090:9090", "127.0.0.1:9000:9000",
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
	cfg, err := composeConfig(t, nil, "--env-file", "demo.env", "--profile", "ha", "config")
	if err != nil {
		t.Fatalf("docker-compose config of the ha profile: %v\n%s", err, cfg)
	}
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

// TestDockerComposePrometheus: the "prometheus" profile adds Prometheus
// with the rules in deploy/prometheus (which TestPrometheusRules checks)
// and Grafana with the dashboard.
func TestDockerComposePrometheus(t *testing.T) {
	t.Parallel()
	cfg, err := composeConfig(t, nil, "--env-file", "demo.env", "--profile", "prometheus", "config")
	if err != nil {
		t.Fatalf("docker-compose config of the prometheus profile: %v\n%s", err, cfg)
	}
	want := []string{"grafana", "prometheus", "redis", "serve", "work"}
	if services := composeServices(cfg, "prometheus"); !slices.Equal(services, want) {
		t.Errorf("services with the prometheus profile: %v, want %v", services, want)
	}
	for _, want := range []string{
		"image: prom/prometheus:", "profiles:\n    - prometheus", "127.0.0.1:9095:9090",
		"deploy/prometheus:/etc/prometheus/chatsync:ro", "--config.file=/etc/prometheus/chatsync/prometheus.yml",
		"image: grafana/grafana:", "127.0.0.1:3000:3000", "deploy/grafana/provisioning:/etc/grafana/provisioning:ro",
		"deploy/grafana/chatsync.json:/var/lib/grafana/dashboards/chatsync.json:ro",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("docker-compose config lacks %q:\n%s", want, cfg)
		}
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

// TestDockerComposeSecrets: outside the demo no secret has a default. A
// missing one stops `docker-compose config` (and so `up`) with its name;
// with all of them set no demo value is left.
func TestDockerComposeSecrets(t *testing.T) {
	t.Parallel()
	out, err := composeConfig(t, composeSecrets, "config")
	if err != nil {
		t.Fatalf("docker-compose config with every secret set: %v\n%s", err, out)
	}
	for _, demo := range []string{"demo-", "whsec_ZGVtby1", "PASSWORD: demo", "CHAT_BASE_URL: http://emulator:9000", "1400000000"} {
		if strings.Contains(out, demo) {
			t.Errorf("with real secrets set, the configuration still holds the demo value %q:\n%s", demo, out)
		}
	}
	if out, err := composeConfig(t, nil, "config"); err == nil || !strings.Contains(out, "is required") {
		t.Errorf("docker-compose config without any secret: %v, want a failure naming a variable\n%s", err, out)
	}
	for i, kv := range composeSecrets {
		name, _, _ := strings.Cut(kv, "=")
		env := slices.Delete(slices.Clone(composeSecrets), i, i+1)
		out, err := composeConfig(t, env, "config")
		if err == nil || !strings.Contains(out, name+" is required") {
			t.Errorf("without %s: %v, want a failure naming it\n%s", name, err, out)
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
