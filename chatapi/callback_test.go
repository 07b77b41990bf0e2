package chatapi_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatsync/chatsync/chatapi"
)

// The official callback Sign vector (tencent-chat.md §5.1).
const (
	vectorToken = "xxxxyyyy"
	vectorTime  = 1669872112
	vectorSign  = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
)

// TestCallbackSignVector pins signing and verifying, which the emulator,
// loadgen and the webhook share, to the official vector.
func TestCallbackSignVector(t *testing.T) {
	if got := chatapi.CallbackSign(vectorToken, vectorTime); got != vectorSign {
		t.Errorf("CallbackSign = %s, want %s", got, vectorSign)
	}
	at := time.Unix(vectorTime, 0)
	if err := chatapi.VerifyCallbackSign(vectorToken, vectorSign, strconv.Itoa(vectorTime), at); err != nil {
		t.Errorf("VerifyCallbackSign(vector): %v", err)
	}
	// A long token (console tokens are free text) signs and verifies too.
	long := strings.Repeat("t", 300)
	if err := chatapi.VerifyCallbackSign(long, chatapi.CallbackSign(long, vectorTime), strconv.Itoa(vectorTime), at); err != nil {
		t.Errorf("VerifyCallbackSign(long token): %v", err)
	}
}

func TestVerifyCallbackSign(t *testing.T) {
	rt := strconv.Itoa(vectorTime)
	for _, tt := range []struct {
		name, sign, requestTime string
		now                     int64
		want                    string
	}{
		{"window start", vectorSign, rt, vectorTime - 60, ""},
		{"window end", vectorSign, rt, vectorTime + 60, ""},
		{"too old", vectorSign, rt, vectorTime + 61, "RequestTime is more than 60 s in the past"},
		{"too new", vectorSign, rt, vectorTime - 61, "RequestTime is more than 60 s in the future"},
		{"no sign", "", rt, vectorTime, "Sign is missing"},
		{"no time", vectorSign, "", vectorTime, "RequestTime is missing"},
		{"not seconds", vectorSign, "1669872112.0", vectorTime, "RequestTime is not unix seconds"},
		{"uppercase", strings.ToUpper(vectorSign), rt, vectorTime, "Sign does not match"},
		{"other time", vectorSign, "1669872113", vectorTime, "Sign does not match"},
	} {
		err := chatapi.VerifyCallbackSign(vectorToken, tt.sign, tt.requestTime, time.Unix(tt.now, 0))
		if got := errText(err); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCheckUserID(t *testing.T) {
	for id, want := range map[string]error{
		"":                      chatapi.ErrUserIDEmpty,
		strings.Repeat("a", 32): nil,
		strings.Repeat("é", 17): chatapi.ErrUserIDTooLong, // 34 bytes
		"administrator":         nil,
		strings.Repeat("b", 33): chatapi.ErrUserIDTooLong,
	} {
		if got := chatapi.CheckUserID(id); !errors.Is(got, want) || (want == nil) != (got == nil) {
			t.Errorf("CheckUserID(%q) = %v, want %v", id, got, want)
		}
	}
	if got := chatapi.ErrUserIDTooLong.Error(); got != "is longer than 32 bytes" {
		t.Errorf("ErrUserIDTooLong = %q", got)
	}
}

func TestParseSDKAppID(t *testing.T) {
	for s, want := range map[string]uint64{
		"1400000000": 1400000000, "1": 1, "2147483647": 2147483647,
		"0": 0, "2147483648": 0, "-1": 0, "14e8": 0, "": 0, " 1": 0,
	} {
		got, err := chatapi.ParseSDKAppID(s)
		if got != want || (err == nil) != (want != 0) {
			t.Errorf("ParseSDKAppID(%q) = %d, %v; want %d", s, got, err, want)
		}
		if err != nil && err.Error() != strconv.Quote(s)+" is not a positive 32-bit integer" {
			t.Errorf("ParseSDKAppID(%q): error %q", s, err)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
