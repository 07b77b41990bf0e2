package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// cmdHalfOpen measures what idle strangers cost serve. Each of -rounds
// rounds opens -n connections that send the headers of a POST /v1/events
// announcing a 256 KiB body (well-formed Standard Webhooks headers, a wrong
// signature) and then nothing, reads serve's VmRSS (and, with -metrics,
// its Go heap in use), sends -probes GET /healthz requests while they are
// held, counting those that get no answer in -probe-timeout (held back by
// the connection cap), and closes them. Later rounds show what memory the
// first round's garbage costs once the allocator reuses it.
func cmdHalfOpen(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("halfopen", flag.ContinueOnError)
	target := fs.String("url", "http://127.0.0.1:8080", "serve's public base URL (loopback only)")
	metrics := fs.String("metrics", "", "serve's /metrics URL (loopback only), for go_memstats_heap_inuse_bytes")
	n := fs.Int("n", 1000, "half-open connections to hold")
	rounds := fs.Int("rounds", 2, "times to open, hold and close them")
	pid := fs.Int("rss-pid", 0, "serve's pid, whose VmRSS is read (required)")
	settle := fs.Duration("settle", 3*time.Second, "wait after opening them before measuring")
	probes := fs.Int("probes", 20, "GET /healthz requests sent while the connections are held")
	probeTimeout := fs.Duration("probe-timeout", time.Second, "how long a probe may wait for its answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	base, err := loopbackURL("-url", *target)
	if err != nil {
		return err
	}
	if *metrics != "" {
		if *metrics, err = loopbackURL("-metrics", *metrics); err != nil {
			return err
		}
	}
	if *pid <= 0 || *n <= 0 {
		return errors.New("-rss-pid and -n are required")
	}
	measure := func(label string) error {
		kb, err := VmRSS(*pid)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-28s VmRSS %6.1f MiB", label, mib(kb))
		if *metrics != "" {
			heap, err := scrapeGauge(*metrics, "go_memstats_heap_inuse_bytes")
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "   heap in use %6.1f MiB", heap/(1<<20))
		}
		fmt.Fprintln(stdout)
		return nil
	}
	if err := measure("idle"); err != nil {
		return err
	}
	for r := 1; r <= *rounds && ctx.Err() == nil; r++ {
		conns, err := openHalf(ctx, base, *n)
		if err == nil {
			time.Sleep(*settle)
			if err = measure(fmt.Sprintf("round %d, %d held", r, len(conns))); err == nil {
				unanswered := probe(base, *probes, *probeTimeout)
				fmt.Fprintf(stdout, "%-28s %d of %d /healthz probes unanswered in %v\n", "", unanswered, *probes, *probeTimeout)
			}
		}
		for _, c := range conns {
			c.Close()
		}
		if err != nil {
			return err
		}
		time.Sleep(time.Second)
	}
	return measure("closed")
}

// openHalf opens n connections to base that send a request's headers and
// none of its body.
func openHalf(ctx context.Context, base string, n int) ([]net.Conn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("POST /v1/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
		"Content-Length: 262144\r\nwebhook-id: msg_halfopen\r\nwebhook-timestamp: %d\r\n"+
		"webhook-signature: v1,bm90IGEgc2lnbmF0dXJl\r\n\r\n", u.Host, time.Now().Unix())
	var d net.Dialer
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := d.DialContext(ctx, "tcp", u.Host)
		if err == nil {
			conns = append(conns, c)
			_, err = io.WriteString(c, head)
		}
		if err != nil {
			return conns, fmt.Errorf("connection %d: %w", i+1, err)
		}
	}
	return conns, nil
}

// probe sends GET /healthz count times and returns how many got no answer
// within timeout.
func probe(base string, count int, timeout time.Duration) int {
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	unanswered := 0
	for range count {
		resp, err := client.Get(base + "/healthz")
		if err != nil {
			unanswered++
			continue
		}
		resp.Body.Close()
	}
	return unanswered
}

// scrapeGauge returns the value of the unlabelled sample name on a
// Prometheus text page.
func scrapeGauge(metricsURL, name string) (float64, error) {
	resp, err := http.Get(metricsURL)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", metricsURL, name)
}
