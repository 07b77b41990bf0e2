package reliability

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestScanner(t *testing.T) {
	const (
		secret = "0123456789abcdef-secret"
		sign   = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
		hmac   = "kWxBeCEXKNLeD+X7cq0kAzKUaGbWrfZ1I5gIr1EtBuA="
		marker = "zzBODYMARKERzz"
	)
	s := NewScanner()
	s.AddLiteral("CHAT_SECRET_KEY", secret)
	s.AddLiteral("too short to look for", "abc")
	s.AddToken("Sign sent", sign)
	s.AddToken("webhook-signature sent", hmac)
	s.AddLiteral("message body", marker)

	log := strings.Join([]string{
		`{"level":"INFO","msg":"serving","addr":"127.0.0.1:1"}`,                                      // 1 clean
		`{"msg":"config","key":"` + secret + `"}`,                                                    // 2 secret
		`{"msg":"callback","query":"SdkAppid=1&Sign=` + sign + `&RequestTime=1"}`,                    // 3 sign
		`{"msg":"event","sig":"v1,` + hmac + `"}`,                                                    // 4 hmac after "v1,"
		`{"msg":"call","url":"/v4/openim/x?sdkappid=1&UserSig=abc"}`,                                 // 5 usersig=
		`{"msg":"sig","v":"eJyrVkrOz0vOz0vJzEtXslIqLU4tUqoFADhSBgE` + strings.Repeat("A", 40) + `"}`, // 6 UserSig shape
		`{"msg":"body","text":"hello ` + marker + `"}`,                                               // 7 body marker
		`{"msg":"almost","sign":"` + sign[:63] + `"}`,                                                // 8 clean: a prefix only
		`{"msg":"embedded","v":"00` + sign + `00"}`,                                                  // 9 sign inside a longer run
		`WARNING: DATA RACE`, // 10 race report
		`{"msg":"abc"}`,      // 11 clean: short values ignored
	}, "\n")
	got, err := s.Scan(strings.NewReader(log), "x.log")
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{
		{"x.log", 2, "CHAT_SECRET_KEY"},
		{"x.log", 3, "Sign sent"},
		{"x.log", 4, "webhook-signature sent"},
		{"x.log", 5, "usersig= parameter"},
		{"x.log", 6, "a UserSig"},
		{"x.log", 7, "message body"},
		{"x.log", 9, "Sign sent"},
		{"x.log", 10, "a data race report"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Scan (-want +got):\n%s", diff)
	}
	if s.Tokens() != 2 {
		t.Errorf("Tokens() = %d, want 2", s.Tokens())
	}
}

func TestScannerFiles(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 2<<20) + "zzBODYMARKERzz" // a line longer than the reader's buffer
	files := map[string]string{
		"serve.log": "clean\nclean\n",
		"work.log":  "clean\n" + long + "\n",
		"other.txt": "zzBODYMARKERzz\n", // not matched by the glob
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := NewScanner()
	s.AddLiteral("message body", "zzBODYMARKERzz")
	got, n, err := s.ScanFiles(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{{filepath.Join(dir, "work.log"), 2, "message body"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ScanFiles (-want +got):\n%s", diff)
	}
	if n != 2 {
		t.Errorf("scanned %d files, want 2", n)
	}
}

func TestSecretsAddTo(t *testing.T) {
	sec := NewSecrets()
	s := NewScanner()
	sec.AddTo(s)
	raw := strings.TrimPrefix(sec.EventsSecret, "whsec_")
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]string{
		"CHAT_SECRET_KEY":          "key=" + sec.SecretKey,
		"CHAT_CALLBACK_TOKEN":      "token " + sec.CallbackToken,
		"EVENTS_SECRET":            "secret " + sec.EventsSecret,
		"EVENTS_SECRET key in hex": "key " + hex.EncodeToString(key),
		"API_KEY":                  "Authorization: Bearer " + sec.APIKey,
		"MONITORING_PASSWORD":      "pw=" + sec.MonitoringPassword,
		"the Redis password":       "redis://:" + sec.RedisPassword + "@127.0.0.1:6379/0",
		"a message body":           `"Text":"hello ` + sec.BodyMarker + `"`,
	}
	for want, line := range lines {
		got, err := s.Scan(strings.NewReader(line), "x.log")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].What != want {
			t.Errorf("scan of a line with the %s found %v", want, got)
		}
	}
}
