package webhook

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/chatsync/chatsync/chatapi"
	"github.com/chatsync/chatsync/tasks"
)

// Results of a callback, for the callbacks metric.
const (
	resultEnqueued    = "enqueued"  // at least one new task
	resultDuplicate   = "duplicate" // every task existed already: a redelivery
	resultIgnored     = "ignored"   // acknowledged, nothing to do
	resultUnauth      = "unauthorized"
	resultInvalid     = "invalid"
	resultUnavailable = "unavailable" // Redis did not take the tasks
)

// Sources of the tasks a callback makes.
const (
	sourceAfterSendMsg     = "callback:" + chatapi.CommandAfterSendMsg
	sourceAfterMsgReport   = "callback:" + chatapi.CommandAfterMsgReport
	sourceAfterMsgWithDraw = "callback:" + chatapi.CommandAfterMsgWithDraw
)

// callback serves POST /callback: it checks SdkAppid, Sign and RequestTime,
// decodes the body, turns it into tasks and answers OK once every task is
// in Redis. Commands chatsync does not act on (BeforeSendMsg included) are
// answered OK at once: chatsync never blocks a message. Each callback is
// counted once, here, by command and result.
func (s *Server) callback(c echo.Context) error {
	r := c.Request()
	label, result, err := s.takeCallback(r)
	s.m.callback(label, result)
	if err != nil {
		return err
	}
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.Debug("callback accepted", "command", label, "result", result)
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, s.ack)
}

// takeCallback does callback's work. It returns the command's metric
// label, the result, and the error to answer with, if any.
func (s *Server) takeCallback(r *http.Request) (label, result string, err error) {
	q, result, err := s.checkQuery(r.URL.RawQuery)
	label = commandLabel(q.Command)
	if err != nil {
		return label, result, err
	}
	bd, err := s.readBody(r)
	if err != nil {
		return label, resultInvalid, err
	}
	cb, err := decodeCallback(q.Command, bd.b) // copies what it keeps
	s.release(bd)
	if err != nil {
		return label, resultInvalid, badRequest(err.Error(), nil)
	}
	if cb.Alert != nil {
		api := alertAPI(cb.Alert)
		s.m.overLimit(api)
		s.log.Warn("chat reports an API over 80 % of its rate limit", "api", api,
			"requests", cb.Alert.Request, "limit", cb.Alert.Limit)
	}
	x, ok, err := s.callbackInput(cb)
	switch {
	case err != nil:
		return label, resultInvalid, badRequest(err.Error(), nil)
	case !ok:
		return label, resultIgnored, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.enqueueTimeout)
	defer cancel()
	res, err := s.intake.Accept(ctx, x)
	switch {
	case err != nil:
		return label, resultUnavailable, unavailable(err)
	case res.Duplicate:
		return label, resultDuplicate, nil
	}
	return label, resultEnqueued, nil
}

// checkQuery parses a callback's query and checks its SdkAppid and, with
// a token, its Sign and RequestTime. On failure it returns the result for
// the metric and the error to answer with.
func (s *Server) checkQuery(raw string) (q callbackQuery, result string, err error) {
	q, err = parseCallbackQuery(raw)
	switch {
	case err != nil:
		return q, resultInvalid, badRequest(err.Error(), nil)
	case q.AppID != s.appID:
		return q, resultUnauth, statusError(http.StatusForbidden, "SdkAppid does not match")
	}
	if s.token != "" {
		if err := chatapi.VerifyCallbackSign(s.token, q.Sign, q.RequestTime, s.now()); err != nil {
			return q, resultUnauth, statusError(http.StatusUnauthorized, "%s", err.Error())
		}
	}
	return q, "", nil
}

// callbackWindow is how long a callback's redelivery is recognised: a
// Sign is valid for CallbackWindow either side of its RequestTime.
const callbackWindow = 2 * CallbackWindow

// callbackInput returns the input a callback makes (design.md, Routing),
// and false for commands chatsync does not act on. It fails when a payload
// is invalid (e.g. an account over 32 bytes).
func (s *Server) callbackInput(cb chatCallback) (tasks.Input, bool, error) {
	var x tasks.Input
	switch {
	case cb.Send != nil:
		if cb.Send.SendMsgResult != 0 {
			return x, false, nil
		}
		x = s.sendMsgInput(cb.Send)
	case cb.Report != nil:
		x = reportInput(cb.Report)
	case cb.Withdraw != nil:
		x = s.withdrawInput(cb.Withdraw)
	default:
		return x, false, nil
	}
	x.Window = callbackWindow
	return x, true, x.Validate()
}

// sendMsgInput: a delivered message changes To_Account's unread counts; an
// auto-read recipient also reads and receipts it at once.
func (s *Server) sendMsgInput(m *chatapi.AfterSendMsg) tasks.Input {
	x := tasks.Input{
		ID:      tasks.ID(chatapi.CommandAfterSendMsg, m.FromAccount, m.ToAccount, m.MsgKey),
		Account: m.ToAccount,
		Unread: &tasks.Unread{
			Account: m.ToAccount,
			Peers:   []string{m.FromAccount},
			Total:   total(m.UnreadMsgNum),
			TotalAt: m.MsgTime * 1000,
			Source:  sourceAfterSendMsg,
		},
	}
	if _, ok := s.autoRead[m.ToAccount]; ok {
		readTime := m.MsgTime
		if readTime <= 0 {
			readTime = s.now().Unix()
		}
		x.SetRead = &tasks.SetRead{Account: m.ToAccount, Peer: m.FromAccount, ReadTime: readTime, Source: sourceAfterSendMsg}
		x.Receipt = &tasks.ReadReceipt{Account: m.ToAccount, Peer: m.FromAccount, MsgKeys: []string{m.MsgKey},
			Source: sourceAfterSendMsg}
	}
	return x
}

// reportInput: a read report changes Report_Account's unread counts.
func reportInput(m *chatapi.AfterMsgReport) tasks.Input {
	u := &tasks.Unread{
		Account: m.ReportAccount,
		Peers:   []string{m.PeerAccount},
		Total:   total(m.UnreadMsgNum),
		TotalAt: m.LastReadTime * 1000,
		Source:  sourceAfterMsgReport,
	}
	if m.EventTime != nil {
		u.TotalAt = *m.EventTime
	}
	return tasks.Input{
		ID:      tasks.ID(chatapi.CommandAfterMsgReport, m.ReportAccount, m.PeerAccount, strconv.FormatInt(m.LastReadTime, 10)),
		Account: m.ReportAccount,
		Unread:  u,
	}
}

// withdrawInput: a recall changes To_Account's unread counts; without
// UnreadMsgNum the total must be fetched again.
func (s *Server) withdrawInput(m *chatapi.AfterMsgWithDraw) tasks.Input {
	u := &tasks.Unread{
		Account: m.ToAccount,
		Peers:   []string{m.FromAccount},
		Total:   total(m.UnreadMsgNum),
		Source:  sourceAfterMsgWithDraw,
	}
	switch {
	case m.EventTime != nil:
		u.TotalAt = *m.EventTime
	case u.Total != nil:
		// The intl sample has UnreadMsgNum without EventTime: the count
		// was measured just before the callback was sent.
		u.TotalAt = s.now().UnixMilli()
	}
	u.RefreshTotal = u.Total == nil
	return tasks.Input{
		ID:      tasks.ID(chatapi.CommandAfterMsgWithDraw, m.FromAccount, m.ToAccount, m.MsgKey),
		Account: m.ToAccount,
		Unread:  u,
	}
}

// total returns a callback's UnreadMsgNum as a task's Total: nil when
// absent or negative (−1 means delivery failed).
func total(n *int64) *int {
	if n == nil || *n < 0 {
		return nil
	}
	v := int(*n)
	return &v
}
