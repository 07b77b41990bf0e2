package chatapi

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"
)

// The test vector of tencent-chat.md §3.2.
const (
	vectorKey     = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
	vectorSig     = "eAEBrwBQ-3siVExTLnZlciI6IjIuMCIsIlRMUy5pZGVudGlmaWVyIjoiYWRtaW5pc3RyYXRvciIsIlRMUy5zZGthcHBpZCI6MTQwMDAwMDAwMCwiVExTLmV4cGlyZSI6ODY0MDAsIlRMUy50aW1lIjoxNzAwMDAwMDAwLCJUTFMuc2lnIjoieUxBZSt3N1dVZVV1cWJWOWgvVFg3OHUyMW9UR2kraTlacDF1M1Bwblk2MD0ifQrwJDOc"
	vectorJSON    = `{"TLS.ver":"2.0","TLS.identifier":"administrator","TLS.sdkappid":1400000000,"TLS.expire":86400,"TLS.time":1700000000,"TLS.sig":"yLAe+w7WUeUuqbV9h/TX78u21oTGi+i9Zp1u3PpnY60="}` + "\n"
	vectorAppID   = 1400000000
	vectorAdmin   = "administrator"
	vectorSignedT = 1700000000
)

// decodeSig reverses the UserSig encoding: base64 with +/= mapped to *-_,
// then zlib.
func decodeSig(t *testing.T, sig string) string {
	t.Helper()
	std := strings.NewReplacer("*", "+", "-", "/", "_", "=").Replace(sig)
	z, err := base64.StdEncoding.DecodeString(std)
	if err != nil {
		t.Fatalf("base64: %v", err)
	}
	r, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatalf("zlib: %v", err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("zlib read: %v", err)
	}
	return string(out)
}

func TestUserSigVector(t *testing.T) {
	if got := decodeSig(t, vectorSig); got != vectorJSON {
		t.Errorf("decoded vector:\n got %q\nwant %q", got, vectorJSON)
	}
	at := func(sec int64) time.Time { return time.Unix(sec, 0) }
	if err := tencentyun.VerifyUserSig(vectorAppID, vectorKey, vectorAdmin, vectorSig, at(1700000100)); err != nil {
		t.Errorf("VerifyUserSig at 1700000100: %v", err)
	}
	if err := tencentyun.VerifyUserSig(vectorAppID, vectorKey, vectorAdmin, vectorSig, at(1700086400)); err != nil {
		t.Errorf("VerifyUserSig at the boundary second 1700086400: %v, want valid", err)
	}
	if err := tencentyun.VerifyUserSig(vectorAppID, vectorKey, vectorAdmin, vectorSig, at(1700086401)); !errors.Is(err, tencentyun.ErrExpired) {
		t.Errorf("VerifyUserSig at 1700086401: %v, want ErrExpired", err)
	}
	if err := tencentyun.VerifyUserSig(vectorAppID, "wrong", vectorAdmin, vectorSig, at(1700000100)); !errors.Is(err, tencentyun.ErrSigNotMatch) {
		t.Errorf("VerifyUserSig with a wrong key: %v, want ErrSigNotMatch", err)
	}
}

func newTestCache(now func() time.Time) *sigCache {
	return &sigCache{sdkAppID: vectorAppID, key: vectorKey, admin: vectorAdmin, ttl: 48 * time.Hour, now: now}
}

func TestSigCacheReusesAndRefreshes(t *testing.T) {
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	c := newTestCache(now)

	first, err := c.get()
	if err != nil {
		t.Fatal(err)
	}
	if err := tencentyun.VerifyUserSig(vectorAppID, vectorKey, vectorAdmin, first, time.Now()); err != nil {
		t.Fatalf("generated sig does not verify: %v", err)
	}
	if !strings.Contains(decodeSig(t, first), `"TLS.expire":172800`) {
		t.Errorf("sig does not carry the 48h TTL: %s", decodeSig(t, first))
	}
	advance(23 * time.Hour)
	if again, _ := c.get(); again != first {
		t.Error("sig replaced before half its lifetime")
	}
	advance(2 * time.Hour) // 25h: past half of 48h
	refreshAt := c.cur.Load().refreshAt
	if now().Before(refreshAt) {
		t.Fatalf("clock %v still before refreshAt %v", now(), refreshAt)
	}
	// GenUserSig stamps time.Now() with one-second resolution, so the new
	// sig may be byte-identical when generated in the same second; what
	// matters is that the cache regenerated it and moved refreshAt.
	if _, err := c.get(); err != nil {
		t.Fatal(err)
	}
	if !c.cur.Load().refreshAt.After(refreshAt) {
		t.Error("sig not regenerated after half its lifetime")
	}
}

func TestSigCacheRenewOnlyOncePerStaleSig(t *testing.T) {
	c := newTestCache(time.Now)
	stale, err := c.get()
	if err != nil {
		t.Fatal(err)
	}
	// Many goroutines see the same sig rejected at once: the sig is
	// regenerated once, and a renew for a sig that is no longer current
	// keeps the current one.
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.renew(stale); err != nil {
				t.Error(err)
			}
			if _, err := c.get(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}
