package main

import (
	"fmt"
	"math"

	"github.com/chatsync/chatsync/chatapi"
)

// target is one of the targets and what the run reached.
type target struct{ Target, Measured, Status string }

// check returns the target row of name: "not measured" without a
// measurement, else reached or missed.
func check(name string, measured bool, ok func() (string, bool)) target {
	if !measured {
		return target{name, "-", "not measured"}
	}
	m, reached := ok()
	return target{name, m, map[bool]string{true: "reached", false: "missed"}[reached]}
}

func (r *report) targets() []target {
	return []target{
		check("ingest ≥ 0.8 × raw asynq enqueue rate", r.Best.Chatsync > 0 && r.Best.Raw > 0, r.ingestTarget),
		check("p99 ack ≤ 10 ms at half the maximum throughput", r.Half != nil, func() (string, bool) {
			return fmt.Sprintf("p99 %.2f ms at %.0f req/s", r.Half.Latency.P99, r.Half.PerSecond), r.Half.Latency.P99 <= 10
		}),
		check("callback → Chat API p99 ≤ 250 ms at 200 events/s", r.E2E != nil && r.E2E.Matched > 0, func() (string, bool) {
			e := r.E2E
			return fmt.Sprintf("p99 %.1f ms at %.0f/s (%d/%d probes)", e.CallbackToAPI.P99, e.Rate, e.Matched, e.Probes),
				e.CallbackToAPI.P99 <= 250 && e.Matched == e.Probes
		}),
		check("unread API calls per AfterSendMsg ≤ 0.05 (burst)", r.Burst != nil && r.Burst.AfterSendMsg > 0, func() (string, bool) {
			b := r.Burst
			return fmt.Sprintf("%.4f (%d calls / %d AfterSendMsg)", b.UnreadPerSendMsg, b.Calls[chatapi.APIUnread], b.AfterSendMsg),
				b.UnreadPerSendMsg <= 0.05
		}),
		check("backlog: ≥ 190 calls/s per Chat API, no 60007", r.Drain != nil, func() (string, bool) {
			d := r.Drain
			s, rr := d.Sustained[chatapi.APISetMsgRead], d.Sustained[chatapi.APIReadReceipt]
			return fmt.Sprintf("admin_set_msg_read %.1f/s, c2c_msg_read_receipt %.1f/s, 60007 × %d", s, rr, d.RateLimited),
				s >= 190 && rr >= 190 && d.RateLimited == 0
		}),
		check("serve memory flat after warm-up", r.Memory != nil && r.Memory.WarmKiB > 0, func() (string, bool) {
			m := r.Memory
			growth := float64(m.PeakAfterKiB-m.WarmKiB) / float64(m.WarmKiB)
			return fmt.Sprintf("%.1f → peak %.1f MiB (%+.0f %%) over %d callbacks", float64(m.WarmKiB)/1024,
				float64(m.PeakAfterKiB)/1024, growth*100, m.Requests), growth <= 0.10
		}),
		overloadCheck("2,000 conversation.read over 40 conversations: ≤ 120 set-read calls, all applied ≤ 5 s after the last",
			r.Overload["reads"], readsTarget),
		overloadCheck("1,000 auto-read AfterSendMsg from 10 senders: ≤ 60 set-read, ≤ 70 receipt calls (batch 20), all receipted ≤ 10 s",
			r.Overload["receipts"], receiptsTarget),
		overloadCheck("10× overload (2,000 events/s over 1,000 conversations): ≤ 200 calls/s per API, no 60007, p99 event → call ≤ 5 s",
			r.Overload["sustained"], sustainedTarget),
		overloadCheck("below the budget (50 events/s): p99 event → call ≤ 200 ms", r.belowChatsync(), belowTarget),
		overloadCheck("Redis memory under 1,000 callbacks/s: ≤ 64 KiB per sustained callback/s", r.Overload["memory"], memoryTarget),
		check("tracing on costs ≤ 10 % (ingest req/s and p99 ack, on vs off)", r.Tracing != nil && r.Tracing.InEffect, r.tracingTarget),
		check("tracing off costs ≤ 1 % (chatsync / net/http + asynq against the previous report's)",
			r.Tracing != nil && !math.IsNaN(r.Tracing.Previous), r.tracingOffTarget),
	}
}

func (r *report) ingestTarget() (string, bool) {
	m := fmt.Sprintf("%.0f vs %.0f req/s = %s", r.Best.Chatsync, r.Best.Raw, ratio(r.Best.RawRatio))
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, row := range r.Sweep {
		if !math.IsNaN(row.CPURatio) && !math.IsInf(row.CPURatio, 0) {
			lo, hi = min(lo, row.CPURatio), max(hi, row.CPURatio)
		}
	}
	if lo <= hi {
		m += fmt.Sprintf(" (at equal CPU %s–%s)", ratio(lo), ratio(hi))
	}
	return m, r.Best.RawRatio >= 0.8
}

func overloadCheck(name string, o *overloadResult, t func(*overloadResult) (string, bool)) target {
	return check(name, o != nil, func() (string, bool) { return t(o) })
}

// belowChatsync returns the below-the-budget run through chatsync.
func (r *report) belowChatsync() *overloadResult {
	for i := range r.Below {
		if r.Below[i].Path == "chatsync" {
			return &r.Below[i]
		}
	}
	return nil
}

func readsTarget(o *overloadResult) (string, bool) {
	n := o.Calls[chatapi.APISetMsgRead]
	return fmt.Sprintf("%d calls for %d events; applied %.2f s after the last", n, o.Events, o.AppliedAfterLast),
		n <= 120 && o.AppliedAfterLast >= 0 && o.AppliedAfterLast <= 5
}

func receiptsTarget(o *overloadResult) (string, bool) {
	s, rr := o.Calls[chatapi.APISetMsgRead], o.Calls[chatapi.APIReadReceipt]
	return fmt.Sprintf("%d set-read, %d receipt calls for %d callbacks; receipted %.2f s after the last", s, rr, o.Events, o.AppliedAfterLast),
		s <= 60 && rr <= 70 && o.AppliedAfterLast >= 0 && o.AppliedAfterLast <= 10
}

func sustainedTarget(o *overloadResult) (string, bool) {
	peak := o.PeakPerSecond[chatapi.APISetMsgRead]
	return fmt.Sprintf("peak %d calls/s, 60007 × %d, p99 %.0f ms (%d read points), queue depth at the end %d",
			peak, o.RateLimited, o.EventToCall.P99, o.EventToCall.N, at(o.Depth, len(o.Depth)-1)),
		peak <= 200 && o.RateLimited == 0 && o.EventToCall.P99 <= 5000
}

func belowTarget(o *overloadResult) (string, bool) {
	return fmt.Sprintf("p99 %.0f ms (%d events)", o.EventToCall.P99, o.EventToCall.N), o.EventToCall.P99 <= 200
}

func memoryTarget(o *overloadResult) (string, bool) {
	return fmt.Sprintf("%.1f KiB per callback/s, at %.0f callbacks/s (growth %.1f MiB)", o.BytesPerRate/1024, o.Rate,
			float64(o.MemoryGrowth)/(1<<20)),
		o.MemoryGrowth > 0 && o.BytesPerRate <= 64*1024
}

func (r *report) tracingTarget() (string, bool) {
	t := r.Tracing
	return fmt.Sprintf("%.0f vs %.0f req/s = %s, p99 %.2f vs %.2f ms = %s", t.On.PerSecond, t.Off.PerSecond, ratio(t.RateRatio),
		t.On.P99, t.Off.P99, ratio(t.P99Ratio)), t.RateRatio >= 0.9 && t.P99Ratio <= 1.1
}

func (r *report) tracingOffTarget() (string, bool) {
	t := r.Tracing
	return fmt.Sprintf("%s now vs %s in the previous report, at concurrency %d", ratio(t.OffToHandler), ratio(t.Previous),
		t.Concurrency), t.OffToHandler >= 0.99*t.Previous
}
