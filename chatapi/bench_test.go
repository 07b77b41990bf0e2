package chatapi

import (
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"
)

// BenchmarkUserSigCacheHit measures the per-call cost of getting the admin
// UserSig from the cache; BenchmarkUserSigGenerate is the baseline of
// signing on every call, as some clients do (tencent-chat.md §6).
func BenchmarkUserSigCacheHit(b *testing.B) {
	c := newTestCache(time.Now)
	if _, err := c.get(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.get(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkUserSigGenerate(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := tencentyun.GenUserSig(vectorAppID, vectorKey, vectorAdmin, 86400); err != nil {
				b.Fatal(err)
			}
		}
	})
}
