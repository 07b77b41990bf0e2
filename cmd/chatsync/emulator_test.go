package main

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chatsync/chatsync/chatapi/emulator"
)

func TestParseEmulatorConfig(t *testing.T) {
	env := map[string]string{
		"CHAT_SDKAPPID":         "1400000001",
		"CHAT_SECRET_KEY":       "key",
		"EMULATOR_ADDR":         "127.0.0.1:0",
		"EMULATOR_RATE_LIMIT":   "-1",
		"EMULATOR_CALLBACK_URL": "http://127.0.0.1:8080/callback",
		"CHAT_CALLBACK_TOKEN":   "token",
		"EMULATOR_ACCOUNTS":     "alice, bob",
		"EMULATOR_FAULTS":       `{"openim/sendmsg":{"Codes":[20004],"Count":2},"openim/admin_set_msg_read":{"Probability":0.5}}`,
	}
	got, err := parseEmulatorConfig(lookupMap(env), []string{`openim/admin_set_msg_read={"HTTPStatus":502,"Latency":"5ms"}`})
	if err != nil {
		t.Fatal(err)
	}
	want := emulatorConfig{
		Addr: "127.0.0.1:0", SDKAppID: 1400000001, SecretKey: "key", Admin: "administrator", RateLimit: -1,
		CallbackURL: "http://127.0.0.1:8080/callback", CallbackToken: "token", Accounts: []string{"alice", "bob"},
		Faults: map[string]emulator.Fault{
			"openim/sendmsg":            {Codes: []int{20004}, Count: 2},
			"openim/admin_set_msg_read": {HTTPStatus: 502, Latency: 5 * time.Millisecond}, // the flag wins
		},
		LogLevel: slog.LevelInfo, LogFormat: "json",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}

	em, err := newEmulator(got, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	// The emulator reads "HTTPStatus without Count or Probability" as "every call".
	wantSet := map[string]emulator.Fault{
		"openim/sendmsg":            {Codes: []int{20004}, Count: 2},
		"openim/admin_set_msg_read": {HTTPStatus: 502, Latency: 5 * time.Millisecond, Probability: 1},
	}
	if diff := cmp.Diff(wantSet, em.Faults()); diff != "" {
		t.Errorf("faults set (-want +got):\n%s", diff)
	}
}

// TestNewEmulatorBadFault checks that faults are checked by the emulator's
// own fault API, with its message.
func TestNewEmulatorBadFault(t *testing.T) {
	tests := []struct {
		api   string
		fault emulator.Fault
		want  string
	}{
		{"openim/nothing", emulator.Fault{Count: 1}, `unknown API`},
		{"openim/sendmsg", emulator.Fault{Probability: 2}, `Probability must be within 0..1`},
		{"openim/sendmsg", emulator.Fault{HTTPStatus: 200}, `HTTPStatus`},
	}
	for _, tt := range tests {
		cfg := emulatorConfig{SDKAppID: 1, SecretKey: "k", Admin: "administrator",
			Faults: map[string]emulator.Fault{tt.api: tt.fault}}
		_, err := newEmulator(cfg, slog.New(slog.DiscardHandler))
		var ce *configError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.api) {
			t.Errorf("%s %+v: error %v, want a *configError with %q", tt.api, tt.fault, err, tt.want)
		}
	}
}

func TestParseEmulatorConfigProblems(t *testing.T) {
	env := map[string]string{
		"EMULATOR_RATE_LIMIT":   "-2",
		"EMULATOR_CALLBACK_URL": "serve:8080",
		"EMULATOR_FAULTS":       `[1]`,
		"EMULATOR_ACCOUNTS":     strings.Repeat("x", 33),
	}
	_, err := parseEmulatorConfig(lookupMap(env), []string{"openim/sendmsg={"})
	var ce *configError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want *configError", err)
	}
	var got []string
	for _, p := range ce.problems {
		name, _, _ := strings.Cut(p, ":")
		got = append(got, name)
	}
	want := []string{"CHAT_SECRET_KEY", "EMULATOR_RATE_LIMIT", "EMULATOR_CALLBACK_URL", "EMULATOR_ACCOUNTS",
		"CHAT_SDKAPPID", "EMULATOR_FAULTS", "-fault"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s\n%v", diff, err)
	}
}
