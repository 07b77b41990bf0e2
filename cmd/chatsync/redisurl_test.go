package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

func TestParseRedisURL(t *testing.T) {
	tests := []struct {
		url  string
		want *redisConfig
	}{
		{"redis://:hunter2@redis:6379/3",
			&redisConfig{Single: &redis.Options{Addr: "redis:6379", Password: "hunter2", DB: 3}}},
		{"redis-sentinel://s1:26379,s2:26380,s3/2?master=chatsync",
			&redisConfig{Failover: &redis.FailoverOptions{MasterName: "chatsync", DB: 2,
				SentinelAddrs: []string{"s1:26379", "s2:26380", "s3:26379"}}}},
		{"redis-sentinel://app:hunter2@10.0.0.1:26379,[::1]:26379?master=m&sentinel_username=sen&sentinel_password=hunter3&tls=true",
			&redisConfig{Failover: &redis.FailoverOptions{MasterName: "m", Username: "app", Password: "hunter2",
				SentinelAddrs: []string{"10.0.0.1:26379", "[::1]:26379"}, SentinelUsername: "sen",
				SentinelPassword: "hunter3", TLSConfig: tlsOn()}}},
		{"redis-sentinel://:p%40ss%2Fw@s1:26379/?master=m&tls=false",
			&redisConfig{Failover: &redis.FailoverOptions{MasterName: "m", Password: "p@ss/w",
				SentinelAddrs: []string{"s1:26379"}}}},
	}
	for _, tt := range tests {
		got, err := parseRedisURL(tt.url)
		if err != nil {
			t.Errorf("%s: %v", tt.url, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, redisOptions()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.url, diff)
		}
	}
}

func TestParseRedisURLRefused(t *testing.T) {
	tests := []struct {
		url, want string // want: part of the error
	}{
		{"redis-sentinel://:hunter2@s1:26379/0", "master=NAME is required"},
		{"redis-sentinel://:hunter2@/0?master=m", "no sentinel address"},
		{"redis-sentinel://:hunter2@s1:26379,,/0?master=m&sentinel_password=hunter2", ""},
		{"redis-sentinel://:hunter2@s1:99999/0?master=m", "not host:port"},
		{"redis-sentinel://:hunter2@s1:26379/x?master=m", "invalid database number"},
		{"redis-sentinel://:hunter2@s1:26379/0/1?master=m", "invalid database number"},
		{"redis-sentinel://:hunter2@s1:26379/0?master=m&tls=yes please", "tls="},
		{"redis-sentinel://:hunter2@s1:26379/0?master=m&sentinel_pasword=hunter2", "unknown query parameter"},
		{"redis-sentinel://:hunt%zzer2@s1:26379/0?master=m", "not a valid URL"},
		{"redis-cluster://:hunter2@n1:7000,n2:7001", "use Sentinel"},
		{"http://:hunter2@redis:6379", "invalid URL scheme"},
		{"redis://:hunter2@redis:6379/x", "invalid database number"},
	}
	for _, tt := range tests {
		_, err := parseRedisURL(tt.url)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.url, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one saying %q", tt.url, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "hunter"):
			t.Errorf("%s: the error shows a password: %v", tt.url, err)
		}
	}
}

// TestRedisConnOpt: asynq gets the same settings as the go-redis clients.
func TestRedisConnOpt(t *testing.T) {
	c, err := parseRedisURL("redis-sentinel://app:pw@s1:1,s2:2/4?master=m&sentinel_password=sp&tls=true")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := c.connOpt().(asynq.RedisFailoverClientOpt)
	if !ok {
		t.Fatalf("connOpt: %T, want asynq.RedisFailoverClientOpt", c.connOpt())
	}
	want := asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"s1:1", "s2:2"},
		SentinelPassword: "sp", Username: "app", Password: "pw", DB: 4, TLSConfig: c.Failover.TLSConfig}
	if diff := cmp.Diff(want, got, cmp.Comparer(sameTLS)); diff != "" {
		t.Errorf("connOpt (-want +got):\n%s", diff)
	}
	rdb := c.client()
	defer rdb.Close()
	if _, ok := rdb.(*redis.Client); !ok {
		t.Errorf("client: %T, want the *redis.Client of redis.NewFailoverClient", rdb)
	}
}

func tlsOn() *tls.Config { return &tls.Config{MinVersion: tls.VersionTLS12} }

func sameTLS(a, b *tls.Config) bool { return a == b }

// TestClusterNodeRefused: a redis:// URL that points at a Redis Cluster
// node is refused at start, naming Sentinel.
func TestClusterNodeRefused(t *testing.T) {
	t.Parallel()
	url := startRedis(t, "--cluster-enabled", "yes")
	rc, err := parseRedisURL(url)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), config{Redis: rc}, slog.New(slog.DiscardHandler), false)
	if err == nil {
		a.close()
		t.Fatal("newApp accepted a cluster node")
	}
	if !strings.Contains(err.Error(), "REDIS_URL: Redis Cluster is not supported: for high availability use Sentinel") {
		t.Errorf("error %q does not name the variable and Sentinel", err)
	}
}

// TestWaitReplicasWarning: with REDIS_WAIT_REPLICAS above the replicas
// connected, serve starts but warns that events will be refused.
func TestWaitReplicasWarning(t *testing.T) {
	t.Parallel()
	rc, err := parseRedisURL(startRedis(t))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	a, err := newApp(context.Background(), config{Redis: rc, WaitReplicas: 1}, slog.New(slog.NewTextHandler(&logs, nil)), false)
	if err != nil {
		t.Fatal(err)
	}
	a.close()
	if want := "fewer replicas connected than REDIS_WAIT_REPLICAS"; !strings.Contains(logs.String(), want) {
		t.Errorf("log %q lacks %q", logs.String(), want)
	}
}
