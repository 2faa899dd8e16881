package latchkey

import (
	"context"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
)

// AuditEvent records one successful change made through the Service: who
// (the actor), what (the action), to what (the target) and when. Detail
// holds a few facts about the change (IDs, masked keys, the names of the
// fields that changed) and never a secret: no key, root key, client
// secret, password or token, in any form but masked.
type AuditEvent struct {
	ID        string // "evt_…"
	Time      time.Time
	ActorKind string // ActorUser, ActorRootKey, ActorCLI or ActorSystem
	ActorID   string // user ID, root key ID, OS user of the CLI; "" for the system
	Action    string // one of the Audit* actions, e.g. "key.create"
	TargetID  string // ID (or name) of what was changed
	TenantID  string // the tenant concerned, when there is exactly one; else ""
	Detail    map[string]any
	TraceID   string // W3C traceparent of the request, "" outside requests
}

// Actor kinds.
const (
	ActorUser    = "user"     // a person: dashboard session or x-user-id
	ActorRootKey = "root_key" // an admin API call with a root key
	ActorCLI     = "cli"      // a latchkey subcommand run on the database
	ActorSystem  = "system"   // Latchkey itself: bootstrap, LATCHKEY_ROOT_KEY
)

// Audit actions: "<object>.<verb>". Filters match by prefix ("key.").
const (
	AuditKeyCreate         = "key.create"
	AuditKeyUpdate         = "key.update"
	AuditKeyToggle         = "key.toggle"
	AuditKeyRevoke         = "key.revoke"
	AuditKeyRotate         = "key.rotate"
	AuditKeyDelete         = "key.delete"
	AuditTenantCreate      = "tenant.create"
	AuditTenantUpdate      = "tenant.update"
	AuditTenantDelete      = "tenant.delete"
	AuditUserCreate        = "user.create"
	AuditUserUpdate        = "user.update"
	AuditUserDelete        = "user.delete"
	AuditMembershipAdd     = "membership.add"
	AuditMembershipRemove  = "membership.remove"
	AuditRootKeyCreate     = "root_key.create"
	AuditRootKeyDelete     = "root_key.delete"
	AuditPermissionCreate  = "permission.create"
	AuditPermissionDelete  = "permission.delete"
	AuditOAuthClientCreate = "oauth_client.create"
	AuditOAuthClientUpdate = "oauth_client.update"
	AuditOAuthClientRotate = "oauth_client.rotate_secret"
	AuditOAuthClientDelete = "oauth_client.delete"
	AuditSigningKeyRotate  = "signing_key.rotate"
)

// maxAuditDetailStringLen bounds each string of an event's detail.
const maxAuditDetailStringLen = 256

// AuditFilter selects audit events, newest first.
type AuditFilter struct {
	ActionPrefix string // "" for every action; "key." for every key action
	ActorKind    string // "" for any kind
	ActorID      string // "" for any actor
	TargetID     string // "" for any target
	Limit        int    // > 0
	// Before, when set, returns only events strictly older than it in
	// (Time, ID) descending order: the keyset pagination cursor.
	Before *AuditCursor
}

// AuditCursor is a position in the newest-first audit order.
type AuditCursor struct {
	Time time.Time
	ID   string
}

// AuditStore persists the audit log. It is deliberately not part of Store:
// a store opts in by implementing it, and the Service records events only
// when its store does (as with ChangeWatcher). Stores without it simply
// keep no audit log; Service.AuditLogEnabled reports which is the case.
// The sqlite and postgres stores implement it.
type AuditStore interface {
	// AppendAuditEvent stores e; CONFLICT if its ID is taken.
	AppendAuditEvent(ctx context.Context, e *AuditEvent) error
	// AuditEvent returns one event; NOT_FOUND if none.
	AuditEvent(ctx context.Context, id string) (*AuditEvent, error)
	// ListAuditEvents returns the events f selects, newest first (Time,
	// then ID, descending).
	ListAuditEvents(ctx context.Context, f AuditFilter) ([]*AuditEvent, error)
	// DeleteAuditEvents removes the events older than before and returns
	// how many it removed.
	DeleteAuditEvents(ctx context.Context, before time.Time) (int, error)
}

// Actor is who makes a change: it travels in the context from the adapter
// that authenticated the caller (server, dashboard, CLI) to the Service.
type Actor struct {
	Kind string // ActorUser, ActorRootKey, ActorCLI or ActorSystem
	ID   string
	// Via says how a user actor was vouched for when another credential
	// acts for it: the ID of a root key sent with x-user-id, or
	// "trusted_proxy". "" when the user authenticated itself.
	Via string
}

type actorKey struct{}

type traceKey struct{}

// WithActor returns ctx carrying a as the actor of the changes made with it.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries; the system when none.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok && a.Kind != "" {
		return a
	}
	return Actor{Kind: ActorSystem}
}

// WithTraceID returns ctx carrying the trace ID of the request it serves,
// which audit events record so that they can be found in the request log.
func WithTraceID(ctx context.Context, traceID string) context.Context {
	return context.WithValue(ctx, traceKey{}, traceID)
}

// TraceIDFrom returns the trace ID ctx carries, or "".
func TraceIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(traceKey{}).(string)
	return id
}

// auditState is the Service's side of the audit log.
type auditState struct {
	errors    atomic.Uint64 // events that could not be written
	last      atomic.Int64  // unix microseconds of the latest event's time
	retention time.Duration // ServiceConfig.AuditRetention; 0 keeps events forever
}

// nextTime returns now, or just after the latest event this process
// recorded when the clock has not moved on (or went back): one process's
// events are listed in the order they happened.
func (a *auditState) nextTime(now time.Time) time.Time {
	want := now.UnixMicro()
	for {
		last := a.last.Load()
		us := max(want, last+1)
		if a.last.CompareAndSwap(last, us) {
			return time.UnixMicro(us).UTC()
		}
	}
}

// auditTimeout bounds an audit write, which runs after the change has
// committed and so must not be cut short by the caller going away.
const auditTimeout = 5 * time.Second

// audit records e (Action, TargetID, TenantID, Detail) as done now by the
// context's actor. It runs after the change has committed and cannot undo
// it: a failed write is counted (AuditErrors) rather than returned, so a
// caller is never told that a change it made did not happen.
func (s *Service) audit(ctx context.Context, e AuditEvent) {
	as, ok := s.store.(AuditStore)
	if !ok {
		return
	}
	a := ActorFrom(ctx)
	e.ID = NewID("evt")
	e.Time = s.auditLog.nextTime(s.now())
	e.ActorKind, e.ActorID = a.Kind, a.ID
	e.TraceID = TraceIDFrom(ctx)
	if e.Detail == nil {
		e.Detail = map[string]any{}
	}
	if a.Via != "" {
		e.Detail["via"] = a.Via
	}
	scrubDetail(e.Detail)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if err := as.AppendAuditEvent(actx, &e); err != nil {
		s.auditLog.errors.Add(1)
	}
}

// RecordAudit records a change made outside the Service, such as a signing
// key rotation by the oauth package, as the context's actor. Like every
// audit write it is best effort; see AuditErrors.
func (s *Service) RecordAudit(ctx context.Context, action, targetID string, detail map[string]any) {
	s.audit(ctx, AuditEvent{Action: action, TargetID: targetID, Detail: detail})
}

// PruneAuditLog deletes the audit events older than the retention
// (ServiceConfig.AuditRetention) and returns how many it deleted; with no
// retention, or a store that keeps no audit log, it deletes nothing.
func (s *Service) PruneAuditLog(ctx context.Context) (int, error) {
	as, ok := s.store.(AuditStore)
	if !ok || s.auditLog.retention <= 0 {
		return 0, nil
	}
	return as.DeleteAuditEvents(ctx, s.now().Add(-s.auditLog.retention))
}

// RunAuditRetention prunes the audit log (PruneAuditLog) at once and then
// every interval until ctx ends, telling onError of failures; the next
// round tries again. With no retention it returns at once.
func (s *Service) RunAuditRetention(ctx context.Context, interval time.Duration, onError func(error)) {
	if s.auditLog.retention <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.PruneAuditLog(ctx); err != nil && ctx.Err() == nil && onError != nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// AuditErrors returns how many audit events could not be written since the
// Service started. The changes they describe were made all the same.
func (s *Service) AuditErrors() uint64 { return s.auditLog.errors.Load() }

// AuditLogEnabled reports whether the store keeps an audit log.
func (s *Service) AuditLogEnabled() bool {
	_, ok := s.store.(AuditStore)
	return ok
}

// ErrNoAuditLog answers audit log reads on a store that keeps none.
var ErrNoAuditLog = &Error{Code: CodeUnavailable, Message: "This database does not keep an audit log."}

func (s *Service) auditStore() (AuditStore, error) {
	as, ok := s.store.(AuditStore)
	if !ok {
		return nil, ErrNoAuditLog
	}
	return as, nil
}

// ListAuditEvents returns one page of audit events, newest first, and the
// cursor of the next page ("" on the last page). cursor is what a previous
// call returned.
func (s *Service) ListAuditEvents(ctx context.Context, f AuditFilter, cursor string) ([]*AuditEvent, string, error) {
	as, err := s.auditStore()
	if err != nil {
		return nil, "", err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if f.Limit > 100 {
		return nil, "", Invalid("limit must be between 1 and 100")
	}
	switch f.ActorKind {
	case "", ActorUser, ActorRootKey, ActorCLI, ActorSystem:
	default:
		return nil, "", Invalid("actorKind must be one of user, root_key, cli, system")
	}
	if len(f.ActionPrefix) > 64 || len(f.ActorID) > MaxIDLen || len(f.TargetID) > 256 {
		return nil, "", Invalid("filters are at most 64 (action), %d (actor) and 256 (target) characters", MaxIDLen)
	}
	if cursor != "" {
		c, err := decodeCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		f.Before = &AuditCursor{Time: c.CreatedAt, ID: c.ID}
	}
	// Fetch one extra row to learn whether another page exists.
	want := f.Limit
	f.Limit++
	events, err := as.ListAuditEvents(ctx, f)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(events) > want {
		events = events[:want]
		last := events[want-1]
		next = encodeCursor(KeyCursor{CreatedAt: last.Time, ID: last.ID})
	}
	return events, next, nil
}

// AuditEvent returns one audit event.
func (s *Service) AuditEvent(ctx context.Context, id string) (*AuditEvent, error) {
	as, err := s.auditStore()
	if err != nil {
		return nil, err
	}
	return as.AuditEvent(ctx, id)
}

// secretShaped matches every secret Latchkey issues: API keys, root keys
// (SPEC §4) and OAuth client secrets. The audit log never stores one, even
// when someone pastes a key into a name.
var secretShaped = regexp.MustCompile(`[a-z0-9]{1,12}_(live|test|root|secret)_[0-9A-Za-z]{32}`)

// scrubDetail redacts secret-shaped text and bounds the length of every
// string in an event's detail, recursively.
func scrubDetail(m map[string]any) {
	for k, v := range m {
		m[k] = scrubValue(v)
	}
}

func scrubValue(v any) any {
	switch v := v.(type) {
	case string:
		return scrubString(v)
	case []string:
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = scrubString(s)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = scrubValue(e)
		}
		return out
	case map[string]any:
		scrubDetail(v)
		return v
	}
	return v
}

func scrubString(s string) string {
	if strings.Contains(s, "_live_") || strings.Contains(s, "_test_") ||
		strings.Contains(s, "_root_") || strings.Contains(s, "_secret_") {
		s = secretShaped.ReplaceAllString(s, "[redacted]")
	}
	return Truncate(s, maxAuditDetailStringLen)
}
