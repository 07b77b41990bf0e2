package reliability

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// MasterName is the name the suite's sentinels monitor the primary by.
const MasterName = "chatsync"

// aclUser is the ACL user chatsync connects to the data nodes as. Its keys
// are chatsync's and asynq's only; replication and the sentinels use the
// default user.
const aclUser = "chatsync"

// Sentinels is a Sentinel deployment: a primary and replicas (all
// redis-server with AOF everysec and noeviction, the default user
// password-protected, chatsync's own ACL user) and three sentinels
// (quorum 2, down-after 1 s, failover-timeout 2 s) with a password of
// their own.
type Sentinels struct {
	// Nodes are the data nodes, the first primary first; after a
	// failover, Roles tells which is which.
	Nodes     []*Redis
	Sentinels []*Redis // Password is the sentinels' password
	// ACLPassword is the password of the ACL user chatsync uses.
	ACLPassword string
}

// sentinelDeployment starts a primary, replicas replicas and the sentinels
// under dir. password is the data nodes' default user's (replication,
// sentinels). On an error it returns what it started, for the caller to
// stop.
func sentinelDeployment(ctx context.Context, dir, password string, replicas int) (*Sentinels, error) {
	s := &Sentinels{ACLPassword: "aclpw" + randHex(12)}
	// One argument per ACL rule: redis-server quotes each argument.
	// No 5 s wait for more replicas before a full sync.
	acl := []string{"--user", aclUser, "on", ">" + s.ACLPassword, "~chatsync:*", "~asynq:*", "&*", "+@all",
		"--masterauth", password, "--repl-diskless-sync-delay", "0"}
	for i := range 1 + replicas {
		name, args := "redis", acl
		if i > 0 {
			name = "replica" + strconv.Itoa(i)
			args = append(slices.Clone(acl), "--replicaof", "127.0.0.1", strconv.Itoa(s.Nodes[0].Port))
		}
		n, err := dataNode(dir, name, password, args...)
		if err != nil {
			return s, err
		}
		s.Nodes = append(s.Nodes, n)
		if err := n.Start(ctx); err != nil {
			return s, err
		}
	}
	sentinelPassword := "sentinelpw" + randHex(12)
	for i := range 3 {
		sn, err := newSentinel(filepath.Join(dir, "sentinel"+strconv.Itoa(i)), s.Nodes[0], sentinelPassword)
		if err != nil {
			return s, err
		}
		s.Sentinels = append(s.Sentinels, sn)
		if err := sn.Start(ctx); err != nil {
			return s, err
		}
	}
	// Let the replicas sync and every sentinel see them and the other
	// sentinels, so that a failover can start as soon as a test kills the
	// primary.
	return s, Poll(ctx, 20*time.Second, 100*time.Millisecond, func() (bool, error) {
		for _, n := range s.Nodes[1:] {
			if err := n.linkUp(ctx); err != nil {
				return false, err
			}
		}
		for _, sn := range s.Sentinels {
			if err := sn.sentinelReady(ctx, replicas); err != nil {
				return false, err
			}
		}
		return true, nil
	})
}

// dataNode returns a redis-server for dir/name, logging to dir/name.log.
func dataNode(dir, name, password string, extra ...string) (*Redis, error) {
	d := filepath.Join(dir, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	return NewRedis(d, filepath.Join(dir, name+".log"), password, extra...)
}

// newSentinel returns a sentinel (redis-server --sentinel) with its
// configuration file in dir, monitoring primary. It does not start it.
func newSentinel(dir string, primary *Redis, password string) (*Redis, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile ""
requirepass %s
sentinel sentinel-pass %s
sentinel monitor %s 127.0.0.1 %d 2
sentinel auth-pass %s %s
sentinel down-after-milliseconds %s 1000
sentinel failover-timeout %s 2000
sentinel parallel-syncs %s 1
`, port, dir, password, password, MasterName, primary.Port, MasterName, primary.Password,
		MasterName, MasterName, MasterName)
	// A sentinel that lost an election (two sentinels each voted for
	// themselves) tries again 2 × failover-timeout, plus up to 1 s, after
	// it began: 2 s keeps one lost election within TestSentinelFailover's
	// 10 s (with 5 s, CI once saw the promotion 12.6 s after the kill).
	// The sentinel rewrites its file with what it learns.
	confPath := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	return &Redis{
		Process:  NewProcess(filepath.Base(dir), dir+".log", path, []string{confPath, "--sentinel"}, nil),
		Port:     port,
		Password: password,
		Dir:      dir,
	}, nil
}

// electionEvents are the sentinel log events of a failover's election
// and promotion.
var electionEvents = []string{"+odown", "+new-epoch", "+try-failover", "+vote-for-leader", "+elected-leader",
	"-failover-abort", "+selected-slave", "+promoted-slave", "+switch-master"}

// electionLog returns the election and promotion events every sentinel
// logged, one line each, for a failover that took too long.
func (s *Sentinels) electionLog() string {
	var b strings.Builder
	for _, sn := range s.Sentinels {
		data, err := os.ReadFile(sn.LogPath())
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", sn.Name(), err)
			continue
		}
		for line := range strings.Lines(string(data)) {
			for _, ev := range electionEvents {
				if strings.Contains(line, " "+ev) {
					b.WriteString(sn.Name() + ": " + line)
					break
				}
			}
		}
	}
	return b.String()
}

// linkUp reports an error until the replica r is in sync with its primary.
func (r *Redis) linkUp(ctx context.Context) error {
	c := redis.NewClient(r.Options())
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "master_link_status:up") {
		return fmt.Errorf("replica %s: not in sync", r.Addr())
	}
	return nil
}

// sentinelClient returns a go-redis client of the sentinel r.
func (r *Redis) sentinelClient() *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: r.Addr(), Password: r.Password, DialTimeout: time.Second})
}

// sentinelReady reports an error until the sentinel r knows the replicas
// and the two other sentinels.
func (r *Redis) sentinelReady(ctx context.Context, replicas int) error {
	c := r.sentinelClient()
	defer c.Close()
	m, err := c.Master(ctx, MasterName).Result()
	if err != nil {
		return err
	}
	if m["num-slaves"] != strconv.Itoa(replicas) || m["num-other-sentinels"] != "2" {
		return fmt.Errorf("sentinel %s: %s replicas, %s other sentinels", r.Addr(), m["num-slaves"], m["num-other-sentinels"])
	}
	return nil
}

// URL returns the REDIS_URL of the deployment, db 0: chatsync's ACL user
// on the data nodes, the sentinels' password in the query.
func (s *Sentinels) URL() string {
	addrs := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		addrs[i] = sn.Addr()
	}
	q := url.Values{"master": {MasterName}, "sentinel_password": {s.Sentinels[0].Password}}
	return "redis-sentinel://" + aclUser + ":" + s.ACLPassword + "@" + strings.Join(addrs, ",") + "/0?" + q.Encode()
}

// ConnOpt returns asynq's connection options through the sentinels.
func (s *Sentinels) ConnOpt() asynq.RedisFailoverClientOpt {
	addrs := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		addrs[i] = sn.Addr()
	}
	return asynq.RedisFailoverClientOpt{MasterName: MasterName, SentinelAddrs: addrs,
		SentinelPassword: s.Sentinels[0].Password, Username: aclUser, Password: s.ACLPassword, DialTimeout: time.Second}
}

// PrimaryAddr asks the running sentinels which address the primary has.
// It fails unless they all name the same.
func (s *Sentinels) PrimaryAddr(ctx context.Context) (string, error) {
	var addrs []string
	for _, sn := range s.Sentinels {
		if !sn.Running() {
			continue
		}
		c := sn.sentinelClient()
		addr, err := c.GetMasterAddrByName(ctx, MasterName).Result()
		c.Close()
		if err != nil {
			return "", fmt.Errorf("sentinel %s: %w", sn.Addr(), err)
		}
		addrs = append(addrs, addr[0]+":"+addr[1])
	}
	switch {
	case len(addrs) == 0:
		return "", errors.New("no sentinel runs")
	case len(slices.Compact(slices.Clone(addrs))) > 1:
		return "", fmt.Errorf("the sentinels disagree on the primary: %v", addrs)
	}
	return addrs[0], nil
}

// Roles returns the data node that every running sentinel names the
// primary, and the others.
func (s *Sentinels) Roles(ctx context.Context) (primary *Redis, replicas []*Redis, err error) {
	addr, err := s.PrimaryAddr(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range s.Nodes {
		if n.Addr() == addr {
			primary = n
		} else {
			replicas = append(replicas, n)
		}
	}
	if primary == nil {
		return nil, nil, fmt.Errorf("the sentinels name %s the primary, no data node", addr)
	}
	return primary, replicas, nil
}

// stop stops every process of the deployment.
func (s *Sentinels) stop(timeout time.Duration) error {
	var errs []error
	for _, sn := range s.Sentinels {
		errs = append(errs, sn.Stop(timeout))
	}
	for _, n := range slices.Backward(s.Nodes) {
		errs = append(errs, n.Stop(timeout))
	}
	return errors.Join(errs...)
}
