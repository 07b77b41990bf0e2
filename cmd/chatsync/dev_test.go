package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDev runs `chatsync dev` as the README's first command does (on free
// ports) and executes the commands it prints, in order, with sh: send a
// message through the emulator, see bob's unread total become 1, post the
// signed conversation.read event, see the total become 0. Then SIGTERM
// stops dev with status 0.
func TestDev(t *testing.T) {
	t.Parallel()
	requireTool(t, "curl")
	requireTool(t, "sh")
	dev := startProc(t, "dev", map[string]string{"HTTP_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0", "EMULATOR_ADDR": "127.0.0.1:0"}, "dev")
	poll(t, 30*time.Second, "dev prints its banner", func() (bool, error) {
		if dev.exited() {
			return false, dev.err
		}
		return strings.Contains(dev.stdout.String(), "Press Ctrl-C to stop."), nil
	})
	banner := dev.stdout.String()
	cmds := devCommands(t, banner)
	if len(cmds) != 4 {
		t.Fatalf("dev printed %d commands, want 4:\n%s", len(cmds), banner)
	}

	shell(t, cmds[0], `"ActionStatus":"OK"`)
	waitShellTotal(t, cmds[1], 1)
	shell(t, cmds[2], "202 ")
	waitShellTotal(t, cmds[3], 0)

	// The URLs it prints work, with the credentials it prints.
	base := regexp.MustCompile(`Monitoring UI +(http://\S+)/monitoring/`).FindStringSubmatch(banner)
	if base == nil {
		t.Fatalf("no monitoring URL in:\n%s", banner)
	}
	req, _ := http.NewRequest(http.MethodGet, base[1]+"/monitoring/", nil)
	req.SetBasicAuth(devMonitoring, devMonitoring)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET /monitoring/ as dev: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// The admin surfaces are on their own listener, not the public one.
	public := regexp.MustCompile(`Callback target +(http://\S+)/callback`).FindStringSubmatch(banner)
	metrics := regexp.MustCompile(`Metrics +(http://\S+/metrics)`).FindStringSubmatch(banner)
	if public == nil || metrics == nil || public[1] == base[1] {
		t.Fatalf("want a callback URL and a metrics URL on another listener than the UI's:\n%s", banner)
	}
	for url, want := range map[string]int{metrics[1]: 200, public[1] + "/metrics": 404, public[1] + "/monitoring/": 404} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.SetBasicAuth(devMonitoring, devMonitoring)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != want {
			t.Errorf("GET %s: %v %v, want %d", url, resp, err, want)
		} else {
			resp.Body.Close()
		}
	}
	dev.stop(30 * time.Second)
}

// devCommands returns the commands dev printed after devTryIt: one per
// line, without the comment lines.
func devCommands(t *testing.T, banner string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(banner, devTryIt)
	if !ok {
		t.Fatalf("no %q in:\n%s", devTryIt, banner)
	}
	var cmds []string
	for _, line := range strings.Split(rest, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "Press Ctrl-C"):
			return cmds
		default:
			cmds = append(cmds, line)
		}
	}
	return cmds
}

// shell runs cmd with sh -c and checks that it succeeds with want in its
// output.
func shell(t *testing.T, cmd, want string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", cmd).CombinedOutput()
	if err != nil || !strings.Contains(string(out), want) {
		t.Fatalf("%s\n→ %v\n%s\nwant output with %q", cmd, err, out, want)
	}
	return string(out)
}

// waitShellTotal runs the unread command until it reports total.
func waitShellTotal(t *testing.T, cmd string, total int) {
	t.Helper()
	var last string
	poll(t, 15*time.Second, fmt.Sprintf("%s reports total %d", cmd, total), func() (bool, error) {
		out, err := exec.Command("sh", "-c", cmd).Output()
		last = string(out)
		var s struct {
			Total      int  `json:"total"`
			TotalKnown bool `json:"total_known"`
		}
		if err != nil || json.Unmarshal(out, &s) != nil {
			return false, retryable(err)
		}
		return s.TotalKnown && s.Total == total, nil
	})
	t.Logf("%s\n→ %s", cmd, last)
}
