package server

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

// The verify API (SPEC §7): a backend service asks whether a key is valid
// for a permission and tenant. A well-formed call always gets 200; the
// answer is in valid and code.

type verifyKeyRequest struct {
	Key        string `json:"key"`
	Permission string `json:"permission"`
	TenantID   string `json:"tenantId"`
}

type verifyKeyResponse struct {
	Valid       bool                 `json:"valid"`
	Code        string               `json:"code"`
	KeyID       *string              `json:"keyId"`
	OwnerID     *string              `json:"ownerId"`
	TenantID    *string              `json:"tenantId"`
	Environment *string              `json:"environment"`
	Permissions []string             `json:"permissions"`
	ExpiresAt   *string              `json:"expiresAt"`
	RateLimit   *verifyRateLimitJSON `json:"ratelimit"`
}

// verifyRateLimitJSON is the limiter's state after this request, as the
// RateLimit-* headers report it; null when the key is not rate limited.
type verifyRateLimitJSON struct {
	Limit     int   `json:"limit"`
	Remaining int   `json:"remaining"`
	Reset     int64 `json:"reset"` // seconds until the window frees a request
}

// codeValid is the code of a successful verification.
const codeValid = "VALID"

func handleVerifyKey(svc *latchkey.Service, rs *responder, requireTenant bool) http.Handler {
	return rs.handle(func(w http.ResponseWriter, r *http.Request) error {
		if _, err := rootKey(svc, infoOf(w), r, latchkey.ScopeVerify,
			"API keys cannot call the verify API; use a root key with the 'keys:verify' scope"); err != nil {
			return err
		}
		req, err := decode[verifyKeyRequest](r)
		if err != nil {
			return err
		}
		if strings.TrimSpace(req.Key) == "" {
			return latchkey.Invalid("key is required")
		}
		var perms []string
		if req.Permission != "" {
			if !latchkey.ValidPermission(req.Permission) || strings.HasSuffix(req.Permission, "*") {
				return latchkey.Invalid("permission must be a permission such as \"messages:send\"")
			}
			perms = []string{req.Permission}
		}
		id, err := svc.Verify(r.Context(), latchkey.VerifyRequest{
			Credential:    strings.TrimSpace(req.Key),
			TenantID:      strings.TrimSpace(req.TenantID),
			Permissions:   perms,
			RequireTenant: requireTenant,
		})
		if err != nil {
			code := latchkey.ErrorCode(err)
			switch classify(code).Status {
			case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
			default:
				// The database could not answer: that is not a verdict
				// on the key.
				return err
			}
			out := verifyKeyResponse{Code: code}
			// A rate-limited key is told when it may retry.
			if e := (*latchkey.Error)(nil); errors.As(err, &e) && e.Limit != nil {
				out.RateLimit = newVerifyRateLimit(e.Limit)
			}
			encode(w, http.StatusOK, out)
			return nil
		}
		out := verifyKeyResponse{
			Valid:       true,
			Code:        codeValid,
			KeyID:       &id.KeyID,
			OwnerID:     &id.OwnerID,
			Environment: &id.Environment,
			Permissions: nonNil(id.Permissions),
			ExpiresAt:   timePtr(id.ExpiresAt),
		}
		if id.Tenant != nil {
			out.TenantID = &id.Tenant.ID
		}
		if id.Limit != nil {
			out.RateLimit = newVerifyRateLimit(id.Limit)
		}
		encode(w, http.StatusOK, out)
		return nil
	})
}

func newVerifyRateLimit(st *latchkey.LimitStatus) *verifyRateLimitJSON {
	return &verifyRateLimitJSON{Limit: st.Limit, Remaining: st.Remaining, Reset: ceilSeconds(st.Reset)}
}

// ceilSeconds rounds a duration up to whole seconds, as RateLimit-Reset and
// Retry-After count.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
