package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// loadgen only ever loads the local machine: every address it is given must
// be a loopback address. "localhost" is accepted and resolves to
// 127.0.0.1 in newHTTPClient's dialer on every usual system.

// checkLoopbackHost fails unless host is 127.0.0.1 (any 127/8 address),
// ::1 or localhost.
func checkLoopbackHost(host string) error {
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("host %q is not a loopback address: loadgen only targets 127.0.0.1", host)
	}
	return nil
}

// loopbackURL checks that raw is an http URL of a loopback host and returns
// it without a trailing slash.
func loopbackURL(name, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return "", fmt.Errorf("%s %q: want http://127.0.0.1:port", name, raw)
	}
	if err := checkLoopbackHost(u.Hostname()); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

// loopbackRedis parses a redis:// URL of a loopback host.
func loopbackRedis(raw string) (*redis.Options, error) {
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	host, _, err := splitHostPort(opt.Addr)
	if err != nil {
		return nil, err
	}
	if err := checkLoopbackHost(host); err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	return opt, nil
}

func splitHostPort(addr string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("address %q: %w", addr, err)
	}
	return host, port, nil
}
