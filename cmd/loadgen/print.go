package main

import (
	"fmt"
	"io"
	"strings"
)

// Progress lines on stdout; the report renders the same numbers as tables.

func printLoad(w io.Writer, r LoadResult) {
	mode := "closed loop"
	if r.Rate > 0 {
		mode = fmt.Sprintf("%.0f/s target", r.Rate)
	}
	fmt.Fprintf(w, "%-8s c=%-4d %-14s %9.0f req/s  ack p50 %6.2f  p95 %6.2f  p99 %7.2f  max %7.2f ms  (%d ok in %.1f s)",
		r.System, r.Concurrency, mode, r.PerSecond, r.Latency.P50, r.Latency.P95, r.Latency.P99, r.Latency.Max, r.OK, r.Seconds)
	if r.Tasks > 0 {
		fmt.Fprintf(w, " %d tasks", r.Tasks)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "  errors %s", formatCounts(r.Errors))
	}
	if len(r.CPU) > 0 {
		fmt.Fprintf(w, "  CPU µs/req %s", cpuBreakdown(r.CPU))
	}
	fmt.Fprintln(w)
}

// cpuBreakdown renders CPU µs per request by process: "serve 180 + redis
// 40 + loadgen 90 = 310".
func cpuBreakdown(cpu map[string]float64) string {
	if len(cpu) == 0 {
		return "-"
	}
	var parts []string
	total := 0.0
	for _, name := range sortedKeys(cpu) {
		parts = append(parts, fmt.Sprintf("%s %.0f", name, cpu[name]))
		total += cpu[name]
	}
	return strings.Join(parts, " + ") + fmt.Sprintf(" = %.0f", total)
}

func printE2E(w io.Writer, r E2EResult) {
	fmt.Fprintf(w, "e2e: %d events at %.0f/s; callback→admin_set_msg_read p50 %.1f ms p99 %.1f ms max %.1f ms (%d of %d probes matched)\n",
		r.Events, r.Rate, r.CallbackToAPI.P50, r.CallbackToAPI.P99, r.CallbackToAPI.Max, r.Matched, r.Probes)
	for _, api := range sortedKeys(r.Calls) {
		fmt.Fprintf(w, "  %-36s %7d calls  %.4f per event  answers %s\n", api, r.Calls[api], r.CallsPerEvent[api], formatCounts(r.Codes[api]))
	}
	fmt.Fprintf(w, "  unread calls per AfterSendMsg %.4f; 60007 answers %d; drained %v after %.1f s\n",
		r.UnreadPerSendMsg, r.RateLimited, r.Drained, r.DrainSeconds)
}

func printBurst(w io.Writer, r BurstResult) {
	fmt.Fprintf(w, "burst: %d messages to %d users (%d peers each) in %.1f s; %d AfterSendMsg; unread calls %d = %.4f per AfterSendMsg\n",
		r.Messages, r.Targets, r.Peers, r.SendSeconds, r.AfterSendMsg, r.Calls["openim/get_c2c_unread_msg_num"], r.UnreadPerSendMsg)
	fmt.Fprintf(w, "  snapshots converged p50 %.0f ms, max %.0f ms after the last send; %d did not converge\n",
		r.Convergence.P50, r.Convergence.Max, r.NotConverged)
	if len(r.SendErrors) > 0 {
		fmt.Fprintf(w, "  send errors %s\n", formatCounts(r.SendErrors))
	}
}

func printBacklog(w io.Writer, r BacklogResult) {
	fmt.Fprintf(w, "backlog drain: %.1f s, drained %v, 60007 answers %d\n", r.Seconds, r.Drained, r.RateLimited)
	for _, api := range sortedKeys(r.Calls) {
		fmt.Fprintf(w, "  %-36s %7d calls  sustained %6.1f/s  busiest second %6.1f  answers %s\n",
			api, r.Calls[api], r.Sustained[api], r.Busiest[api], formatCounts(r.Codes[api]))
	}
}

func printMemory(w io.Writer, m MemoryResult) {
	fmt.Fprintf(w, "serve RSS over %d requests: %.1f MiB after warm-up (%.0f %%), peak after %.1f MiB, end %.1f MiB\n",
		m.Requests, mib(m.WarmKiB), m.WarmFraction*100, mib(m.PeakAfterKiB), mib(m.EndKiB))
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// formatCounts renders counts as "k=v k=v" in key order.
func formatCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
