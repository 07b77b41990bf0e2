package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runMain runs the program in-process with env and returns its exit status
// and output.
func runMain(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, lookupMap(env), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		stdout   string // a substring, "" = empty
		stderr   string
		noStdout bool
	}{
		{args: nil, code: exitUsage, stderr: "Usage: chatsync <command>", noStdout: true},
		{args: []string{"help"}, code: exitOK, stdout: "Commands:\n  dev "},
		{args: []string{"--help"}, code: exitOK, stdout: "Run 'chatsync <command> -h'"},
		{args: []string{"frobnicate"}, code: exitUsage, stderr: `unknown command "frobnicate"`, noStdout: true},
		{args: []string{"version"}, code: exitOK, stdout: "chatsync "},
		{args: []string{"version", "extra"}, code: exitUsage, stderr: `unexpected argument "extra"`, noStdout: true},
		{args: []string{"serve", "-bogus"}, code: exitUsage, stderr: "flag provided but not defined: -bogus\nRun 'chatsync serve -h' for usage.", noStdout: true},
		{args: []string{"event"}, code: exitUsage, stderr: "the event type is missing", noStdout: true},
		{args: []string{"event", "message.sent"}, code: exitUsage, stderr: `unknown event type "message.sent"`, noStdout: true},
		{args: []string{"event", "conversation.read", "-account", "a"}, code: exitUsage, stderr: "EVENTS_SECRET: required", noStdout: true},
		{args: []string{"send"}, code: exitUsage, stderr: "-to is required", noStdout: true},
		{args: []string{"emulator", "-fault", "openim/sendmsg"}, code: exitUsage, stderr: "-fault: \"openim/sendmsg\" is not api=JSON", noStdout: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runMain(t, nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit status %d, want %d\nstderr: %s", code, tt.code, stderr)
			}
			if !strings.Contains(stdout, tt.stdout) || tt.noStdout && stdout != "" {
				t.Errorf("stdout %q, want it to contain %q", stdout, tt.stdout)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr, tt.stderr)
			}
		})
	}
}

// TestRunHelp checks that -h works on every command, prints to stdout and
// names the environment the command reads.
func TestRunHelp(t *testing.T) {
	want := map[string][]string{
		"dev":      {"Usage: chatsync dev", "EMULATOR_ADDR", "REDIS_URL"},
		"serve":    {"Usage: chatsync serve", "CHAT_CALLBACK_TOKEN", "EVENTS_SECRET", "API_KEY", "MONITORING_READONLY", "SHUTDOWN_TIMEOUT", "ADMIN_ADDR", "MAX_CONNECTIONS"},
		"work":     {"Usage: chatsync work", "CHAT_SECRET_KEY", "CHAT_RATE_LIMIT", "QUEUE_WEIGHTS", "ADMIN_ADDR", "SINK_SECRET"},
		"emulator": {"Usage: chatsync emulator", "EMULATOR_FAULTS", "-fault api=JSON"},
		"event":    {"Usage: chatsync event", "-account user", "-msg-keys MsgKeys"},
		"send":     {"Usage: chatsync send", "-to account", "CHAT_SECRET_KEY"},
		"version":  {"Usage: chatsync version"},
	}
	for _, c := range commands() {
		for _, flag := range []string{"-h", "--help"} {
			code, stdout, stderr := runMain(t, nil, c.name, flag)
			if code != exitOK || stderr != "" {
				t.Errorf("%s %s: exit status %d, stderr %q", c.name, flag, code, stderr)
			}
			for _, w := range want[c.name] {
				if !strings.Contains(stdout, w) {
					t.Errorf("%s %s: help lacks %q:\n%s", c.name, flag, w, stdout)
				}
			}
		}
		if want[c.name] == nil {
			t.Errorf("no help expectations for %s", c.name)
		}
	}
}

// TestRunConfigErrors checks the exit status 2 and the single message
// listing every problem, with no secret in it.
func TestRunConfigErrors(t *testing.T) {
	env := map[string]string{"CHAT_SECRET_KEY": "hunter2", "API_KEY": "hunter3", "CHAT_RATE_LIMIT": "fast"}
	tests := []struct {
		cmd  string
		want []string
	}{
		{"serve", []string{"REDIS_URL: required", "CHAT_RATE_LIMIT:", "CHAT_SDKAPPID: required", "CHAT_CALLBACK_TOKEN: required"}},
		{"work", []string{"REDIS_URL: required", "CHAT_RATE_LIMIT:", "CHAT_SDKAPPID: required", "CHAT_REGION: required"}},
		{"dev", []string{"CHAT_RATE_LIMIT:"}},
		{"emulator", []string{"CHAT_SDKAPPID: required"}},
		{"send -to bob", []string{"CHAT_RATE_LIMIT:", "CHAT_SDKAPPID: required", "CHAT_REGION: required"}},
	}
	for _, tt := range tests {
		args := strings.Fields(tt.cmd)
		code, stdout, stderr := runMain(t, env, args...)
		if code != exitUsage || stdout != "" {
			t.Errorf("%s: exit status %d, stdout %q", tt.cmd, code, stdout)
		}
		if !strings.HasPrefix(stderr, "chatsync "+args[0]+": invalid configuration:\n") {
			t.Errorf("%s: stderr %q", tt.cmd, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", tt.cmd, w, stderr)
			}
		}
		if strings.Contains(stderr, "hunter") {
			t.Errorf("%s: stderr shows a secret:\n%s", tt.cmd, stderr)
		}
	}
}
