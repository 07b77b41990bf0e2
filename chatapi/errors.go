package chatapi

import (
	"errors"
	"fmt"
)

// Class says what a caller should do about a failed Chat call.
type Class int

// The classes of a failed call, from design.md "Errors".
const (
	// Permanent errors will fail again unchanged: bad input, a missing
	// account, a disabled feature. Do not retry.
	Permanent Class = iota
	// Transient errors are Chat's internal errors and timeouts, non-200
	// HTTP statuses and network errors. Retry with backoff.
	Transient
	// RateLimited errors mean Chat's frequency limit was hit. Retry later;
	// the call did not fail on its merits.
	RateLimited
	// SigExpired errors mean the admin UserSig was expired or invalidated.
	// The client regenerates it and retries once on its own, so callers
	// see this class only when the retry failed the same way.
	SigExpired
)

// String returns the class name as used in logs and metrics.
func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case RateLimited:
		return "rate_limited"
	case SigExpired:
		return "sig_expired"
	default:
		return "permanent"
	}
}

// ErrInvalidRequest is wrapped by errors for input that Chat would reject,
// detected before any call is made.
var ErrInvalidRequest = errors.New("invalid request")

// Error is a failed Chat REST call. Exactly one of three things went wrong:
// Chat answered with a non-zero ErrorCode (Code), the HTTP status was not 200
// (HTTPStatus), or the call never produced an answer (Err: a transport
// error, a timeout, an unreadable body, or ErrInvalidRequest for input that
// was rejected before sending). Its text never holds the UserSig or secret.
type Error struct {
	API        string // "openim/admin_set_msg_read"
	Code       int    // Chat's ErrorCode; 0 when Chat gave none
	Info       string // Chat's ErrorInfo, or a description of the failure
	HTTPStatus int    // the HTTP status; 0 when no response arrived
	Err        error  // the underlying cause when Chat gave no ErrorCode
}

// Error implements the error interface.
func (e *Error) Error() string {
	switch {
	case e.Code != 0:
		return fmt.Sprintf("chat %s: ErrorCode %d: %s", e.API, e.Code, e.Info)
	case e.HTTPStatus != 0 && e.HTTPStatus != 200:
		return fmt.Sprintf("chat %s: HTTP %d", e.API, e.HTTPStatus)
	case e.Err != nil:
		return fmt.Sprintf("chat %s: %s: %v", e.API, e.Info, e.Err)
	default:
		return fmt.Sprintf("chat %s: %s", e.API, e.Info)
	}
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Class classifies the failure.
func (e *Error) Class() Class {
	switch {
	case errors.Is(e.Err, ErrInvalidRequest):
		return Permanent
	case e.Code != 0:
		return CodeClass(e.Code)
	default:
		// A non-200 status, a transport error, a timeout or an unreadable
		// answer: nothing says the call could not succeed next time.
		return Transient
	}
}

// CodeClass classifies a Chat ErrorCode (tencent-chat.md §2, design.md
// "Errors"). Zero and unknown codes are Permanent.
func CodeClass(code int) Class {
	switch code {
	case 20004, 20005, 91000, 90992, 90994, 90995, 70169, 70202, 70500, 60008, 60014,
		// Internal error and timeout families of the other services (§2.3).
		30006, 30007, 50004, 50005, 40006, 10002:
		return Transient
	case 60007, 60011, 60018, 60019:
		return RateLimited
	case 70001, 70052:
		return SigExpired
	default:
		return Permanent
	}
}

// ClassOf classifies any error returned by a Client method: a *Error by its
// Class, anything else (which a Client does not return) as Permanent.
// ClassOf(nil) is Permanent too; check for nil first.
func ClassOf(err error) Class {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Class()
	}
	return Permanent
}

// CodeNoAccount is the ErrorCode with which get_c2c_unread_msg_num and
// admin_set_msg_read answer for a To_Account / Report_Account that does
// not exist (tencent-chat.md §4.2, §4.3).
const CodeNoAccount = 90003

// CodeInvalidPacket is c2c_msg_read_receipt's answer to a request it
// cannot take, among others for a MsgKey it does not know (tencent-chat.md
// §4.4, the emulator's reading).
const CodeInvalidPacket = 20001

// CodeOf returns Chat's ErrorCode in err, or 0 when err is nil or carries
// none (a transport failure, input rejected before a call).
func CodeOf(err error) int {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// invalid returns the permanent error for input rejected before a call.
func invalid(api, format string, args ...any) *Error {
	return &Error{API: api, Info: fmt.Sprintf(format, args...), Err: ErrInvalidRequest}
}
