package chatapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCodeClass(t *testing.T) {
	tests := []struct {
		codes []int
		want  Class
	}{
		{[]int{20004, 20005, 91000, 90992, 90994, 90995, 70169, 70202, 70500, 60008, 60014}, Transient},
		{[]int{60007, 60011, 60018, 60019}, RateLimited},
		{[]int{70001, 70052}, SigExpired},
		{[]int{0, 70107, 90001, 90003, 90008, 20001, 20002, 60010, 70009, 93000, 120001}, Permanent},
	}
	for _, tt := range tests {
		for _, code := range tt.codes {
			if got := CodeClass(code); got != tt.want {
				t.Errorf("CodeClass(%d) = %v, want %v", code, got, tt.want)
			}
		}
	}
}

func TestErrorClassAndText(t *testing.T) {
	tests := []struct {
		name  string
		err   *Error
		class Class
		text  string
	}{
		{"chat code", &Error{API: APISetMsgRead, Code: 90001, Info: "bad json", HTTPStatus: 200}, Permanent,
			"chat openim/admin_set_msg_read: ErrorCode 90001: bad json"},
		{"transient code", &Error{API: APIUnread, Code: 20004, Info: "net", HTTPStatus: 200}, Transient,
			"chat openim/get_c2c_unread_msg_num: ErrorCode 20004: net"},
		{"http status", &Error{API: APIUnread, HTTPStatus: 502, Info: "Bad Gateway"}, Transient,
			"chat openim/get_c2c_unread_msg_num: HTTP 502"},
		{"transport", &Error{API: APIUnread, Info: "send request", Err: context.DeadlineExceeded}, Transient,
			"chat openim/get_c2c_unread_msg_num: send request: context deadline exceeded"},
		{"invalid", invalid(APIReadReceipt, "C2CMsgInfo is empty"), Permanent,
			"chat openim/c2c_msg_read_receipt: C2CMsgInfo is empty: invalid request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Class(); got != tt.class {
				t.Errorf("Class() = %v, want %v", got, tt.class)
			}
			wrapped := fmt.Errorf("task: %w", tt.err)
			if got := ClassOf(wrapped); got != tt.class {
				t.Errorf("ClassOf(wrapped) = %v, want %v", got, tt.class)
			}
			if got := tt.err.Error(); got != tt.text {
				t.Errorf("Error() = %q, want %q", got, tt.text)
			}
		})
	}
	if got := ClassOf(errors.New("other")); got != Permanent {
		t.Errorf("ClassOf(non-chat error) = %v, want permanent", got)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	valid := Config{SDKAppID: 1400000000, SecretKey: "k", Admin: "administrator", Region: Singapore}
	tests := []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"valid region", func(*Config) {}, true},
		{"valid base url", func(c *Config) { c.Region = ""; c.BaseURL = "http://127.0.0.1:9000/" }, true},
		{"no app id", func(c *Config) { c.SDKAppID = 0 }, false},
		{"app id too large", func(c *Config) { c.SDKAppID = 1 << 40 }, false},
		{"no key", func(c *Config) { c.SecretKey = "" }, false},
		{"no admin", func(c *Config) { c.Admin = "" }, false},
		{"admin too long", func(c *Config) { c.Admin = "abcdefghijklmnopqrstuvwxyz0123456" }, false},
		{"no region", func(c *Config) { c.Region = "" }, false},
		{"unknown region", func(c *Config) { c.Region = "mars" }, false},
		{"bad base url", func(c *Config) { c.Region = ""; c.BaseURL = "ftp://x" }, false},
		{"short ttl", func(c *Config) { c.UserSigTTL = 1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.mutate(&cfg)
			_, err := New(cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New() error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	_, err := New(Config{SecretKey: "supersecret"})
	if err == nil {
		t.Fatal("New(empty) succeeded")
	}
	for _, want := range []string{"SDKAppID", "Admin", "Region or BaseURL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "supersecret") {
		t.Errorf("error %q leaks the secret key", err)
	}
}

func TestRegionHosts(t *testing.T) {
	for _, r := range Regions() {
		if r.Host() == "" {
			t.Errorf("region %s has no host", r)
		}
	}
	if got := Singapore.Host(); got != "adminapisgp.im.qcloud.com" {
		t.Errorf("Singapore.Host() = %q", got)
	}
}
