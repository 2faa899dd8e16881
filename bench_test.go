package latchkey_test

import (
	"context"
	"testing"

	"github.com/latchkey/latchkey"
)

// BenchmarkVerifyCacheHit measures the in-process hot path: parse and
// checksum, hash, cache hit, tenant, permission check, usage counter.
func BenchmarkVerifyCacheHit(b *testing.B) {
	svc, _, _ := newService(b)
	mustUser(b, svc, "u", "t1")
	ctx := context.Background()
	_, secret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k", Permissions: []string{"messages:*"}, TenantIDs: []string{"t1"}})
	if err != nil {
		b.Fatal(err)
	}
	req := latchkey.VerifyRequest{Credential: secret, Permissions: []string{"messages:send"}}
	if _, err := svc.Verify(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Verify(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCacheHitParallel(b *testing.B) {
	svc, _, _ := newService(b)
	mustUser(b, svc, "u", "t1")
	ctx := context.Background()
	_, secret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k", Permissions: []string{"messages:*"}, TenantIDs: []string{"t1"}})
	if err != nil {
		b.Fatal(err)
	}
	req := latchkey.VerifyRequest{Credential: secret, Permissions: []string{"messages:send"}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.Verify(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
