package webhook

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"

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
	sourceAfterSendMsg     = "callback:" + cmdAfterSendMsg
	sourceAfterMsgReport   = "callback:" + cmdAfterMsgReport
	sourceAfterMsgWithDraw = "callback:" + cmdAfterMsgWithDraw
)

// callback serves POST /callback: it checks SdkAppid, Sign and RequestTime,
// decodes the body, turns it into tasks and answers OK once every task is
// in Redis. Commands chatsync does not act on (BeforeSendMsg included) are
// answered OK at once: chatsync never blocks a message.
func (s *Server) callback(c echo.Context) error {
	r := c.Request()
	q, err := parseCallbackQuery(r.URL.RawQuery)
	if err != nil {
		s.m.callback(commandLabel(q.Command), resultInvalid)
		return badRequest(err.Error(), nil)
	}
	label := commandLabel(q.Command)
	if q.AppID != s.appID {
		s.m.callback(label, resultUnauth)
		return statusError(http.StatusForbidden, "SdkAppid does not match")
	}
	if s.token != "" {
		if err := verifySign(s.token, q.Sign, q.RequestTime, s.now()); err != nil {
			s.m.callback(label, resultUnauth)
			return statusError(http.StatusUnauthorized, "%s", err.Error())
		}
	}

	bd, err := s.readBody(r)
	if err != nil {
		s.m.callback(label, resultInvalid)
		return err
	}
	cb, err := decodeCallback(q.Command, bd.b) // copies what it keeps
	s.release(bd)
	if err != nil {
		s.m.callback(label, resultInvalid)
		return badRequest(err.Error(), nil)
	}

	var arr [3]*asynq.Task
	ts, err := s.callbackTasks(cb, arr[:0])
	if err != nil {
		s.m.callback(label, resultInvalid)
		return badRequest(err.Error(), nil)
	}
	result := resultIgnored
	if len(ts) > 0 {
		var added [len(arr)]bool
		if err := s.enqueue(r.Context(), ts, added[:]); err != nil {
			s.m.callback(label, resultUnavailable)
			return unavailable(err)
		}
		result = resultDuplicate
		if added[0] || added[1] || added[2] {
			result = resultEnqueued
		}
	}
	s.m.callback(label, result)
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.Debug("callback accepted", "command", label, "tasks", len(ts), "result", result)
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, s.ack)
}

// callbackTasks appends to dst the tasks a callback asks for (design.md,
// Routing) and returns them; none for commands chatsync does not act on.
// It fails when a payload is invalid (e.g. an account over 32 bytes).
func (s *Server) callbackTasks(cb chatCallback, dst []*asynq.Task) ([]*asynq.Task, error) {
	switch {
	case cb.Send != nil:
		return s.sendMsgTasks(cb.Send, dst)
	case cb.Report != nil:
		return s.reportTasks(cb.Report, dst)
	case cb.Withdraw != nil:
		return s.withdrawTasks(cb.Withdraw, dst)
	}
	return dst, nil
}

// sendMsgTasks: a delivered message changes To_Account's unread counts; an
// auto-read recipient also reads and receipts it at once.
func (s *Server) sendMsgTasks(m *sendMsg, dst []*asynq.Task) ([]*asynq.Task, error) {
	if m.SendMsgResult != 0 {
		return dst, nil
	}
	u := tasks.Unread{
		Account: m.ToAccount,
		Peers:   []string{m.FromAccount},
		Total:   total(m.UnreadMsgNum),
		TotalAt: m.MsgTime * 1000,
		Source:  sourceAfterSendMsg,
	}
	t, err := s.tb.Unread(u, m.FromAccount, m.ToAccount, m.MsgKey)
	if err != nil {
		return dst, err
	}
	dst = append(dst, t)
	if _, ok := s.autoRead[m.ToAccount]; !ok {
		return dst, nil
	}
	t, err = s.tb.SetRead(tasks.SetRead{Account: m.ToAccount, Peer: m.FromAccount, ReadTime: m.MsgTime,
		Source: sourceAfterSendMsg}, m.FromAccount, m.ToAccount, m.MsgKey)
	if err != nil {
		return dst, err
	}
	dst = append(dst, t)
	t, err = s.tb.ReadReceipt(tasks.ReadReceipt{Account: m.ToAccount, Peer: m.FromAccount,
		MsgKeys: []string{m.MsgKey}, Source: sourceAfterSendMsg}, m.FromAccount, m.ToAccount, m.MsgKey)
	if err != nil {
		return dst, err
	}
	return append(dst, t), nil
}

// reportTasks: a read report changes Report_Account's unread counts.
func (s *Server) reportTasks(m *msgReport, dst []*asynq.Task) ([]*asynq.Task, error) {
	u := tasks.Unread{
		Account: m.ReportAccount,
		Peers:   []string{m.PeerAccount},
		Total:   total(m.UnreadMsgNum),
		TotalAt: m.LastReadTime * 1000,
		Source:  sourceAfterMsgReport,
	}
	if m.EventTime != nil {
		u.TotalAt = *m.EventTime
	}
	t, err := s.tb.Unread(u, m.ReportAccount, m.PeerAccount, strconv.FormatInt(m.LastReadTime, 10))
	if err != nil {
		return dst, err
	}
	return append(dst, t), nil
}

// withdrawTasks: a recall changes To_Account's unread counts; without
// UnreadMsgNum the total must be fetched again.
func (s *Server) withdrawTasks(m *msgWithdraw, dst []*asynq.Task) ([]*asynq.Task, error) {
	u := tasks.Unread{
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
	t, err := s.tb.Unread(u, m.FromAccount, m.ToAccount, m.MsgKey, "withdraw")
	if err != nil {
		return dst, err
	}
	return append(dst, t), nil
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
