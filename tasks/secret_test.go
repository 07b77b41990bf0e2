package tasks

import (
	"encoding/base64"
	"testing"
)

// TestParseWebhookSecret (moved from cmd/chatsync's TestValidWebhookSecret,
// whose table it keeps).
func TestParseWebhookSecret(t *testing.T) {
	tests := []struct {
		secret string
		want   string // the error, "" for a valid secret
	}{
		{"whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3", ""}, // 24 bytes
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 64)), ""},
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)), "is 65 bytes, more than 64"},
		{"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3", "is not whsec_ followed by base64"}, // no prefix
		{"whsec_not base64!", "is not whsec_ followed by base64"},
		{"whsec_MDEyMzQ1Njc4OWFiY2Rl", "is 15 bytes, fewer than 16"},
		{"whsec_MDEyMzQ1Njc4OWFiY2RlZg==", ""},
		{"", "is not whsec_ followed by base64"},
	}
	for _, tt := range tests {
		key, err := ParseWebhookSecret(tt.secret)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want || (err == nil) != (len(key) >= MinWebhookKey) {
			t.Errorf("ParseWebhookSecret(%q) = %d bytes, %q; want %q", tt.secret, len(key), got, tt.want)
		}
	}
}
