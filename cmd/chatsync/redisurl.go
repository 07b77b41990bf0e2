package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// defaultSentinelPort is the port of a sentinel address given without one.
const defaultSentinelPort = "26379"

// redisConfig is a parsed REDIS_URL: either one Redis (redis://, rediss://,
// unix://) or a primary that Sentinel names (redis-sentinel://). It builds
// every Redis client of the process, so that the asynq client, servers and
// inspector, asynqmon, the limiter and the snapshot store all reach the
// same primary, and follow it through a failover.
type redisConfig struct {
	Single   *redis.Options         // redis://, rediss://, unix://
	Failover *redis.FailoverOptions // redis-sentinel://
}

// client returns a new go-redis client. A Sentinel client asks the
// sentinels for the primary and reconnects to the new one after a
// failover.
func (c *redisConfig) client() redis.UniversalClient {
	if c.Failover != nil {
		return redis.NewFailoverClient(c.Failover)
	}
	return redis.NewClient(c.Single)
}

// connOpt returns asynq's connection options (servers and asynqmon make
// their own clients from them) with the same settings as client.
func (c *redisConfig) connOpt() asynq.RedisConnOpt {
	if f := c.Failover; f != nil {
		return asynq.RedisFailoverClientOpt{
			MasterName:       f.MasterName,
			SentinelAddrs:    f.SentinelAddrs,
			SentinelUsername: f.SentinelUsername,
			SentinelPassword: f.SentinelPassword,
			Username:         f.Username,
			Password:         f.Password,
			DB:               f.DB,
			DialTimeout:      f.DialTimeout,
			ReadTimeout:      f.ReadTimeout,
			WriteTimeout:     f.WriteTimeout,
			PoolSize:         f.PoolSize,
			TLSConfig:        f.TLSConfig,
		}
	}
	o := c.Single
	return asynq.RedisClientOpt{
		Network:      o.Network,
		Addr:         o.Addr,
		Username:     o.Username,
		Password:     o.Password,
		DB:           o.DB,
		DialTimeout:  o.DialTimeout,
		ReadTimeout:  o.ReadTimeout,
		WriteTimeout: o.WriteTimeout,
		PoolSize:     o.PoolSize,
		TLSConfig:    o.TLSConfig,
	}
}

// errCluster refuses Redis Cluster, naming the supported way to high
// availability.
var errCluster = errors.New("Redis Cluster is not supported: for high availability use Sentinel, " +
	"redis-sentinel://[user:password@]host:port[,host:port…][/db]?master=NAME")

// parseRedisURL parses REDIS_URL. Its errors never quote the URL, which
// can hold passwords.
func parseRedisURL(s string) (*redisConfig, error) {
	scheme, _, _ := strings.Cut(s, "://")
	switch strings.ToLower(scheme) {
	case "redis-sentinel":
		f, err := parseSentinelURL(s)
		if err != nil {
			return nil, err
		}
		return &redisConfig{Failover: f}, nil
	case "redis-cluster":
		return nil, errCluster
	}
	if _, err := url.Parse(s); err != nil {
		return nil, errors.New("not a valid URL (want redis://[user:password@]host:port/db, rediss://… " +
			"or redis-sentinel://…)")
	}
	opt, err := redis.ParseURL(s)
	if err != nil {
		// go-redis names the scheme, db or query option at fault, not the password.
		return nil, err
	}
	return &redisConfig{Single: opt}, nil
}

// parseSentinelURL parses
// redis-sentinel://[user:password@]host[:port][,host[:port]…][/db]?master=NAME
// with the optional query parameters sentinel_username, sentinel_password
// and tls=true. The userinfo is the data nodes' credentials; the sentinels'
// are in the query. tls=true dials the sentinels and the data nodes with
// TLS, verifying each certificate against its host name.
func parseSentinelURL(s string) (*redis.FailoverOptions, error) {
	rest := s[len("redis-sentinel://"):]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo, hosts := "", authority
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo, hosts = authority[:i+1], authority[i+1:]
	}
	// The host list is no URL host; parse the rest with a placeholder.
	u, err := url.Parse("redis-sentinel://" + userinfo + "sentinels" + tail)
	if err != nil {
		return nil, errors.New("not a valid URL (want redis-sentinel://[user:password@]host:port[,host:port…][/db]?master=NAME)")
	}
	f := &redis.FailoverOptions{}
	if f.SentinelAddrs, err = sentinelAddrs(hosts); err != nil {
		return nil, err
	}
	if u.User != nil {
		f.Username = u.User.Username()
		f.Password, _ = u.User.Password()
	}
	if f.DB, err = urlDB(u.Path); err != nil {
		return nil, err
	}
	if err := sentinelQuery(u.Query(), f); err != nil {
		return nil, err
	}
	return f, nil
}

// sentinelAddrs parses a comma-separated list of host[:port].
func sentinelAddrs(hosts string) ([]string, error) {
	var addrs []string
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil { // no port (an IPv6 address needs one: [::1]:26379)
			host, port = h, defaultSentinelPort
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || host == "" || strings.ContainsAny(host, "[]/@ ") ||
			strings.Contains(host, ":") && net.ParseIP(host) == nil {
			return nil, fmt.Errorf("sentinel address %q is not host:port", h)
		}
		addrs = append(addrs, net.JoinHostPort(host, port))
	}
	if len(addrs) == 0 {
		return nil, errors.New("no sentinel address (want redis-sentinel://host:port[,host:port…]/db?master=NAME)")
	}
	return addrs, nil
}

// urlDB reads the database number from a URL path: "", "/" or "/N".
func urlDB(path string) (int, error) {
	p := strings.Trim(path, "/")
	if p == "" {
		return 0, nil
	}
	db, err := strconv.Atoi(p)
	if err != nil || db < 0 {
		return 0, fmt.Errorf("invalid database number %q (want /0, /1, …)", p)
	}
	return db, nil
}

// sentinelQuery reads the query of a Sentinel URL into f: master
// (required), sentinel_username, sentinel_password and tls. Unknown
// parameters are refused, so that a typo is not ignored.
func sentinelQuery(q url.Values, f *redis.FailoverOptions) error {
	for k, v := range q {
		switch k {
		case "master", "sentinel_username", "sentinel_password":
		case "tls":
			on, err := strconv.ParseBool(v[len(v)-1])
			if err != nil {
				return fmt.Errorf("tls=%q is not true or false", v[len(v)-1])
			}
			if on {
				f.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
		default:
			return fmt.Errorf("unknown query parameter %q (want master, sentinel_username, sentinel_password, tls)", k)
		}
	}
	f.MasterName = q.Get("master")
	f.SentinelUsername = q.Get("sentinel_username")
	f.SentinelPassword = q.Get("sentinel_password")
	if f.MasterName == "" {
		return errors.New("master=NAME is required (the name the sentinels monitor)")
	}
	return nil
}
