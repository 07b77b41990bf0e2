package chatapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strconv"
	"time"
)

// Callback commands: the CallbackCommand of Chat's third-party callbacks
// (tencent-chat.md §5.2, and §1.4 for the rate alert).
const (
	CommandBeforeSendMsg        = "C2C.CallbackBeforeSendMsg"
	CommandAfterSendMsg         = "C2C.CallbackAfterSendMsg"
	CommandAfterMsgReport       = "C2C.CallbackAfterMsgReport"
	CommandAfterMsgWithDraw     = "C2C.CallbackAfterMsgWithDraw"
	CommandAfterMsgReadReceipt  = "C2C.CallbackAfterMsgReadReceipt"
	CommandAfterModifyMsg       = "C2C.CallbackAfterModifyMsg"
	CommandAfterMsgReadAll      = "C2C.CallbackAfterMsgReadAll"
	CommandAfterC2CMsgExtension = "C2C.CallbackAfterC2CMsgExtension"
	CommandBotOnC2CMessage      = "Bot.OnC2CMessage"
	CommandStateChange          = "State.StateChange"
	CommandRequestOverLimit     = "Alert.RequestOverLimit"
)

// Commands returns every callback command above, in a fresh slice.
func Commands() []string {
	return []string{
		CommandBeforeSendMsg, CommandAfterSendMsg, CommandAfterMsgReport, CommandAfterMsgWithDraw,
		CommandAfterMsgReadReceipt, CommandAfterModifyMsg, CommandAfterMsgReadAll,
		CommandAfterC2CMsgExtension, CommandBotOnC2CMessage, CommandStateChange, CommandRequestOverLimit,
	}
}

// CallbackWindow is how far a callback's RequestTime may be from now
// (tencent-chat.md §5.1: "more than one minute" is invalid).
const CallbackWindow = 60 * time.Second

// CallbackSign returns Chat's callback signature for token and
// requestTime (unix seconds): the lowercase hex SHA-256 of the token
// followed by the decimal requestTime (tencent-chat.md §5.1). It is plain
// concatenation, not an HMAC. It is safe for concurrent use.
func CallbackSign(token string, requestTime int64) string {
	var sig [2 * sha256.Size]byte
	sign(&sig, token, strconv.FormatInt(requestTime, 10))
	return string(sig[:])
}

// sign writes the signature of token and requestTime, as sent, to dst.
func sign(dst *[2 * sha256.Size]byte, token, requestTime string) {
	sum := sha256.Sum256([]byte(token + requestTime))
	hex.Encode(dst[:], sum[:])
}

// Problems VerifyCallbackSign reports. Their texts name the parameter as
// Chat spells it and quote nothing the caller sent.
var (
	errSignMissing        = errors.New("Sign is missing")
	errRequestTimeMissing = errors.New("RequestTime is missing")
	errRequestTimeInvalid = errors.New("RequestTime is not unix seconds")
	errSignMismatch       = errors.New("Sign does not match")
	errRequestTimeOld     = errors.New("RequestTime is more than 60 s in the past")
	errRequestTimeFuture  = errors.New("RequestTime is more than 60 s in the future")
)

// VerifyCallbackSign checks Chat's callback authentication: got (the
// Sign parameter) must be
// CallbackSign of token and requestTime as sent (compared in constant
// time), and requestTime (unix seconds) within CallbackWindow of now. The
// error, if any, says which check failed; its text is fit for the
// callback's ErrorInfo. It is safe for concurrent use.
func VerifyCallbackSign(token, got, requestTime string, now time.Time) error {
	switch {
	case got == "":
		return errSignMissing
	case requestTime == "":
		return errRequestTimeMissing
	}
	rt, err := strconv.ParseInt(requestTime, 10, 64)
	if err != nil {
		return errRequestTimeInvalid
	}
	var want [2 * sha256.Size]byte
	sign(&want, token, requestTime)
	if subtle.ConstantTimeCompare(want[:], []byte(got)) != 1 {
		return errSignMismatch
	}
	window := int64(CallbackWindow / time.Second)
	switch n := now.Unix(); {
	case rt < n-window:
		return errRequestTimeOld
	case rt > n+window:
		return errRequestTimeFuture
	}
	return nil
}
