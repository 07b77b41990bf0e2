package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Chat callback commands chatsync acts on or knows by name (tencent-chat.md
// §5.2). Commands outside knownCommands are counted as "other".
const (
	cmdBeforeSendMsg    = "C2C.CallbackBeforeSendMsg"
	cmdAfterSendMsg     = "C2C.CallbackAfterSendMsg"
	cmdAfterMsgReport   = "C2C.CallbackAfterMsgReport"
	cmdAfterMsgWithDraw = "C2C.CallbackAfterMsgWithDraw"
	cmdRequestOverLimit = "Alert.RequestOverLimit"
)

var knownCommands = []string{
	cmdBeforeSendMsg, cmdAfterSendMsg, cmdAfterMsgReport, cmdAfterMsgWithDraw,
	"C2C.CallbackAfterMsgReadReceipt", "C2C.CallbackAfterModifyMsg", "C2C.CallbackAfterMsgReadAll",
	"C2C.CallbackAfterC2CMsgExtension", "Bot.OnC2CMessage", "State.StateChange", cmdRequestOverLimit,
}

// callbackQuery holds the query parameters of a callback that chatsync
// checks. Others (contenttype, ClientIP, OptPlatform) are ignored.
type callbackQuery struct {
	AppID, Command, Sign, RequestTime string
}

// parseCallbackQuery reads the parameters of a callback's raw query. A
// parameter given twice is an error, so that no two parsers on the path
// can disagree about which one counts.
func parseCallbackQuery(raw string) (callbackQuery, error) {
	var q callbackQuery
	var seen uint8
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		var dst *string
		var bit uint8
		switch k {
		case "SdkAppid":
			dst, bit = &q.AppID, 1
		case "CallbackCommand":
			dst, bit = &q.Command, 2
		case "Sign":
			dst, bit = &q.Sign, 4
		case "RequestTime":
			dst, bit = &q.RequestTime, 8
		default:
			continue
		}
		if seen&bit != 0 {
			return q, fmt.Errorf("%s is given twice", k)
		}
		seen |= bit
		if strings.ContainsAny(v, "%+") {
			var err error
			if v, err = url.QueryUnescape(v); err != nil {
				return q, fmt.Errorf("%s is badly escaped", k)
			}
		}
		*dst = v
	}
	switch {
	case q.AppID == "":
		return q, errors.New("SdkAppid is missing")
	case q.Command == "":
		return q, errors.New("CallbackCommand is missing")
	}
	return q, nil
}

// Problems verifySign reports. Their texts go to the caller in ErrorInfo.
var (
	errSignMissing        = errors.New("Sign is missing")
	errRequestTimeMissing = errors.New("RequestTime is missing")
	errRequestTimeInvalid = errors.New("RequestTime is not unix seconds")
	errSignMismatch       = errors.New("Sign does not match")
	errRequestTimeOld     = errors.New("RequestTime is more than 60 s in the past")
	errRequestTimeFuture  = errors.New("RequestTime is more than 60 s in the future")
)

// verifySign checks Chat's callback authentication: sign must be the
// lowercase hex SHA-256 of token followed by requestTime as sent, compared
// in constant time, and requestTime (unix seconds) within CallbackWindow
// of now.
func verifySign(token, sign, requestTime string, now time.Time) error {
	switch {
	case sign == "":
		return errSignMissing
	case requestTime == "":
		return errRequestTimeMissing
	}
	rt, err := strconv.ParseInt(requestTime, 10, 64)
	if err != nil {
		return errRequestTimeInvalid
	}
	var in [128]byte
	sum := sha256.Sum256(append(append(in[:0], token...), requestTime...))
	var want [2 * sha256.Size]byte
	hex.Encode(want[:], sum[:])
	if subtle.ConstantTimeCompare(want[:], []byte(sign)) != 1 {
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

// sendMsg is the body of C2C.CallbackAfterSendMsg (tencent-chat.md §5.3).
// Fields chatsync does not use (MsgBody, CloudCustomData, ...) are skipped.
type sendMsg struct {
	CallbackCommand string `json:"CallbackCommand"`
	FromAccount     string `json:"From_Account"`
	ToAccount       string `json:"To_Account"`
	MsgKey          string `json:"MsgKey"`
	MsgTime         int64  `json:"MsgTime"`       // unix seconds
	SendMsgResult   int64  `json:"SendMsgResult"` // 0 = delivered
	UnreadMsgNum    *int64 `json:"UnreadMsgNum"`  // To_Account's total; -1 when delivery failed
}

// msgReport is the body of C2C.CallbackAfterMsgReport.
type msgReport struct {
	CallbackCommand string `json:"CallbackCommand"`
	ReportAccount   string `json:"Report_Account"`
	PeerAccount     string `json:"Peer_Account"`
	LastReadTime    int64  `json:"LastReadTime"` // unix seconds
	EventTime       *int64 `json:"EventTime"`    // unix milliseconds
	UnreadMsgNum    *int64 `json:"UnreadMsgNum"` // Report_Account's total
}

// msgWithdraw is the body of C2C.CallbackAfterMsgWithDraw.
type msgWithdraw struct {
	CallbackCommand string `json:"CallbackCommand"`
	FromAccount     string `json:"From_Account"`
	ToAccount       string `json:"To_Account"`
	MsgKey          string `json:"MsgKey"`
	EventTime       *int64 `json:"EventTime"`    // unix milliseconds
	UnreadMsgNum    *int64 `json:"UnreadMsgNum"` // To_Account's total
}

// overLimit is the body of Alert.RequestOverLimit: Chat saw an API's rate
// pass 80 % of its limit (tencent-chat.md §1.4).
type overLimit struct {
	CallbackCommand string `json:"CallbackCommand"`
	ServiceName     string `json:"ServiceName"`
	Command         string `json:"Command"`
	Request         int64  `json:"Request"`
	Limit           int64  `json:"Limit"`
}

// api returns the alert's API as "service/command" when both are plain
// names (they become a metric label), else "other".
func (o *overLimit) api() string {
	if !plainName(o.ServiceName) || !plainName(o.Command) {
		return "other"
	}
	return o.ServiceName + "/" + o.Command
}

func plainName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// otherCallback is the body of any command chatsync does not act on.
type otherCallback struct {
	CallbackCommand string `json:"CallbackCommand"`
}

// chatCallback is a decoded callback: Command and the one body it names.
type chatCallback struct {
	Command  string
	Send     *sendMsg
	Report   *msgReport
	Withdraw *msgWithdraw
	Alert    *overLimit
}

// decodeCallback decodes a callback body for the command named in the
// query, in a single pass. It rejects bodies checkJSON rejects, malformed
// JSON, numbers given as strings (Chat documents them as Integers), a body
// CallbackCommand other than command, and, for the commands chatsync acts
// on, a missing account or MsgKey. Unknown fields are ignored: Chat adds
// fields over time.
func decodeCallback(command string, body []byte) (chatCallback, error) {
	cb := chatCallback{Command: command}
	if err := checkJSON(body); err != nil {
		return cb, err
	}
	var got *string
	var dst any
	switch command {
	case cmdAfterSendMsg:
		cb.Send = new(sendMsg)
		dst, got = cb.Send, &cb.Send.CallbackCommand
	case cmdAfterMsgReport:
		cb.Report = new(msgReport)
		dst, got = cb.Report, &cb.Report.CallbackCommand
	case cmdAfterMsgWithDraw:
		cb.Withdraw = new(msgWithdraw)
		dst, got = cb.Withdraw, &cb.Withdraw.CallbackCommand
	case cmdRequestOverLimit:
		cb.Alert = new(overLimit)
		dst, got = cb.Alert, &cb.Alert.CallbackCommand
	default:
		o := new(otherCallback)
		dst, got = o, &o.CallbackCommand
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return cb, fmt.Errorf("malformed JSON: %w", err)
	}
	if *got != command {
		return cb, errCommandMismatch
	}
	return cb, cb.check()
}

var errCommandMismatch = errors.New("CallbackCommand in the body differs from the query")

// maxUnixSeconds bounds the times in a callback, so that no conversion to
// milliseconds overflows (2^40 s is some 34,000 years).
const maxUnixSeconds = 1 << 40

// check reports the first field a callback chatsync acts on lacks, or a
// time out of range.
func (cb chatCallback) check() error {
	var missing, badTime string
	switch {
	case cb.Send != nil:
		missing = firstEmpty("From_Account", cb.Send.FromAccount, "To_Account", cb.Send.ToAccount, "MsgKey", cb.Send.MsgKey)
		badTime = outOfRange("MsgTime", cb.Send.MsgTime, maxUnixSeconds)
	case cb.Report != nil:
		missing = firstEmpty("Report_Account", cb.Report.ReportAccount, "Peer_Account", cb.Report.PeerAccount)
		badTime = outOfRange("LastReadTime", cb.Report.LastReadTime, maxUnixSeconds)
		if badTime == "" && cb.Report.EventTime != nil {
			badTime = outOfRange("EventTime", *cb.Report.EventTime, maxUnixSeconds*1000)
		}
	case cb.Withdraw != nil:
		missing = firstEmpty("From_Account", cb.Withdraw.FromAccount, "To_Account", cb.Withdraw.ToAccount, "MsgKey", cb.Withdraw.MsgKey)
		if cb.Withdraw.EventTime != nil {
			badTime = outOfRange("EventTime", *cb.Withdraw.EventTime, maxUnixSeconds*1000)
		}
	}
	switch {
	case missing != "":
		return fmt.Errorf("%s is missing or empty", missing)
	case badTime != "":
		return errors.New(badTime)
	}
	return nil
}

func outOfRange(name string, v, max int64) string {
	if v < 0 || v > max {
		return name + " is out of range"
	}
	return ""
}

// firstEmpty takes name, value pairs and returns the first name whose
// value is empty, or "".
func firstEmpty(pairs ...string) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return pairs[i]
		}
	}
	return ""
}

// commandLabel bounds the command label of the callback metric.
func commandLabel(command string) string {
	for _, k := range knownCommands {
		if command == k {
			return k
		}
	}
	return "other"
}
