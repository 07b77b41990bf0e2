package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/chatsync/chatsync/chatapi"
)

// knownCommands are the callback commands counted by name; others are
// counted as "other".
var knownCommands = chatapi.Commands()

// callbackQuery holds the query parameters of a callback that chatsync
// checks. Others (contenttype, ClientIP, OptPlatform) are ignored.
type callbackQuery struct {
	AppID, Command, Sign, RequestTime string
}

// parseCallbackQuery reads the parameters of a callback's raw query. A
// parameter given twice is an error, so that no two parsers on the path
// can disagree about which one counts. It is written out, with a bit mask
// for the parameters seen, because url.ParseQuery builds a map of every
// parameter: with it BenchmarkCallback makes 8 more allocations (+11 %)
// and about 180 more bytes per callback.
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

// api returns the alert's API as "service/command" when both are plain
// names (they become a metric label), else "other".
func alertAPI(o *chatapi.RequestOverLimit) string {
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
	Send     *chatapi.AfterSendMsg
	Report   *chatapi.AfterMsgReport
	Withdraw *chatapi.AfterMsgWithDraw
	Alert    *chatapi.RequestOverLimit
}

// decodeCallback decodes a callback body for the command named in the
// query, in a single pass. It rejects bodies checkJSON rejects, malformed
// JSON, a field of another type than Chat documents (e.g. a number given
// as a string), a body
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
	case chatapi.CommandAfterSendMsg:
		cb.Send = new(chatapi.AfterSendMsg)
		dst, got = cb.Send, &cb.Send.CallbackCommand
	case chatapi.CommandAfterMsgReport:
		cb.Report = new(chatapi.AfterMsgReport)
		dst, got = cb.Report, &cb.Report.CallbackCommand
	case chatapi.CommandAfterMsgWithDraw:
		cb.Withdraw = new(chatapi.AfterMsgWithDraw)
		dst, got = cb.Withdraw, &cb.Withdraw.CallbackCommand
	case chatapi.CommandRequestOverLimit:
		cb.Alert = new(chatapi.RequestOverLimit)
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
	if cb.Send != nil {
		// chatsync never reads a message: keep none in memory.
		cb.Send.MsgBody, cb.Send.CloudCustomData = nil, ""
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
