package chatapi

import (
	"errors"
	"fmt"
	"strconv"
)

// Limits of Chat's identifiers.
const (
	MaxUserIDLen = 32        // bytes (tencent-chat.md §1.5)
	MaxSDKAppID  = 1<<31 - 1 // SDKAppIDs are positive 32-bit integers
)

// Problems CheckUserID reports. They read as predicates: callers put the
// field's name in front ("peer is empty").
var (
	ErrUserIDEmpty   = errors.New("is empty")
	ErrUserIDTooLong = fmt.Errorf("is longer than %d bytes", MaxUserIDLen)
)

// CheckUserID reports whether id can be a Chat UserID: it returns
// ErrUserIDEmpty, ErrUserIDTooLong (over MaxUserIDLen bytes) or nil.
func CheckUserID(id string) error {
	switch {
	case id == "":
		return ErrUserIDEmpty
	case len(id) > MaxUserIDLen:
		return ErrUserIDTooLong
	}
	return nil
}

// ValidSDKAppID reports whether n can be an SDKAppID: from 1 to MaxSDKAppID.
func ValidSDKAppID(n uint64) bool { return n > 0 && n <= MaxSDKAppID }

// ParseSDKAppID parses a decimal SDKAppID. Its error quotes s and says
// that it "is not a positive 32-bit integer".
func ParseSDKAppID(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || !ValidSDKAppID(n) {
		return 0, fmt.Errorf("%q is not a positive 32-bit integer", s)
	}
	return n, nil
}
