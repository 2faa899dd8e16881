package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

const keysPath = "/settings/api-keys"

// keysPageSize is how many keys a page of the list shows.
const keysPageSize = 20

// reveal is a secret shown once, in a dialog over the page.
type reveal struct {
	Heading string
	Intro   string
	Secrets []secret
	Done    string // where "I have saved it" goes
}

type secret struct {
	Label string
	Value string
	ID    string // element id, for the copy button and tests
}

// keyRow is a key as the list shows it.
type keyRow struct {
	*latchkey.Key
	Tenants []string // names, in link order
	Status  statusView
	Usable  bool // neither revoked nor expired: actions apply
}

type keysData struct {
	Keys       []keyRow
	Tenants    []*latchkey.Tenant // the user's memberships
	Tenant     string             // the tenant filter, "" for all
	Env        string             // the environment filter, "" for both
	Filtered   bool
	Next       string // URL of the next page, "" on the last
	First      string // URL of the first page, "" on the first
	ReturnTo   string // this page's URL, for actions to come back to
	Permission permissionInput
}

// flashes are the success messages an action sends back in ?done=.
var flashes = map[string]string{
	"enabled": "The key is enabled again.",
	"disabled": "The key is disabled. Requests with it are refused until " +
		"you enable it again.",
	"revoked": "The key is revoked. It will never work again.",
	"deleted": "The key is deleted.",
}

// memberships returns the user's tenants, in membership order; a tenant
// deleted meanwhile is skipped.
func (d *Dashboard) memberships(ctx context.Context, u *latchkey.User) ([]*latchkey.Tenant, error) {
	out := make([]*latchkey.Tenant, 0, len(u.TenantIDs))
	for _, id := range u.TenantIDs {
		t, err := d.svc.Tenant(ctx, id)
		if latchkey.ErrorCode(err) == latchkey.CodeNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func tenantNames(tenants []*latchkey.Tenant, ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		name := id
		for _, t := range tenants {
			if t.ID == id {
				name = t.Name
			}
		}
		out = append(out, name)
	}
	return out
}

func newKeyRow(k *latchkey.Key, tenants []*latchkey.Tenant) keyRow {
	st := keyStatus(k)
	return keyRow{Key: k, Tenants: tenantNames(tenants, k.TenantIDs), Status: st,
		Usable: st.Class != "bad"}
}

func (d *Dashboard) handleListKeys(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.showKeys(w, r, s, http.StatusOK, page{Flash: flashes[r.URL.Query().Get("done")]})
}

// showKeys renders the key list for the request's filters, with p's
// messages and reveal dialog.
func (d *Dashboard) showKeys(w http.ResponseWriter, r *http.Request, s *session, status int, p page) error {
	q := r.URL.Query()
	tenants, err := d.memberships(r.Context(), s.User)
	if err != nil {
		return err
	}
	data := keysData{Tenants: tenants, Tenant: q.Get("tenant"), Env: q.Get("env")}
	if data.Tenant != "" && !slices.ContainsFunc(tenants, func(t *latchkey.Tenant) bool { return t.ID == data.Tenant }) {
		data.Tenant = "" // not one of yours: show everything instead
	}
	if data.Env != "live" && data.Env != "test" {
		data.Env = ""
	}
	data.Filtered = data.Tenant != "" || data.Env != ""
	filters := url.Values{}
	if data.Tenant != "" {
		filters.Set("tenant", data.Tenant)
	}
	if data.Env != "" {
		filters.Set("env", data.Env)
	}
	cursor := q.Get("cursor")
	keys, next, err := d.svc.ListKeys(r.Context(), latchkey.KeyFilter{
		OwnerID: s.User.ID, TenantID: data.Tenant, Environment: data.Env, Limit: keysPageSize,
	}, cursor)
	if latchkey.ErrorCode(err) == latchkey.CodeValidationFailed && cursor != "" {
		// A mangled cursor: start from the first page.
		cursor = ""
		keys, next, err = d.svc.ListKeys(r.Context(), latchkey.KeyFilter{
			OwnerID: s.User.ID, TenantID: data.Tenant, Environment: data.Env, Limit: keysPageSize,
		}, "")
	}
	if err != nil {
		return err
	}
	for _, k := range keys {
		data.Keys = append(data.Keys, newKeyRow(k, tenants))
	}
	data.ReturnTo = withQuery(keysPath, filters)
	if next != "" {
		nq := cloneQuery(filters)
		nq.Set("cursor", next)
		data.Next = withQuery(keysPath, nq)
	}
	if cursor != "" {
		data.First = data.ReturnTo
		nq := cloneQuery(filters)
		nq.Set("cursor", cursor)
		data.ReturnTo = withQuery(keysPath, nq)
	}
	p.Title, p.Section, p.Session, p.Data = "API Keys", "keys", s, data
	d.render(w, r, status, "keys", p)
	return nil
}

func withQuery(p string, q url.Values) string {
	if len(q) == 0 {
		return p
	}
	return p + "?" + q.Encode()
}

func cloneQuery(q url.Values) url.Values {
	c := url.Values{}
	for k, v := range q {
		c[k] = slices.Clone(v)
	}
	return c
}

// returnTo is where an action goes back to: the list page it was started
// from (same filters and page), never anywhere else.
func returnTo(r *http.Request) string {
	v := r.PostFormValue("return_to")
	if v == keysPath || strings.HasPrefix(v, keysPath+"?") {
		return v
	}
	return keysPath
}

func withDone(target, done string) string {
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	return target + sep + "done=" + done
}

// ---- Create -----------------------------------------------------------

// keyForm is the create form's input, kept to show it again on error.
type keyForm struct {
	Name        string
	Environment string
	Permissions []string // checked catalog entries, or parsed free text
	PermText    string   // the free-text field as typed
	TenantIDs   []string
	Expires     string // "", "7d", "30d", "90d", "365d"
	RateLimit   string
	RateWindow  string
}

// permissionInput says how permissions are entered: checkboxes from a
// catalog, or free text when the deployment defines none.
type permissionInput struct {
	Catalog []*latchkey.Permission // empty: free text
}

type newKeyData struct {
	Form       keyForm
	Tenants    []*latchkey.Tenant
	Permission permissionInput
	Expiries   []option
	Windows    []option
}

type option struct{ Value, Label string }

var expiryOptions = []option{
	{"", "Never"}, {"7d", "In 7 days"}, {"30d", "In 30 days"}, {"90d", "In 90 days"}, {"365d", "In 1 year"},
}

var windowOptions = []option{
	{"1s", "per second"}, {"1m", "per minute"}, {"1h", "per hour"}, {"24h", "per day"},
}

func (d *Dashboard) handleNewKeyForm(w http.ResponseWriter, r *http.Request, s *session) error {
	tenants, err := d.memberships(r.Context(), s.User)
	if err != nil {
		return err
	}
	f := keyForm{Environment: "live", RateWindow: "1m"}
	if t := r.URL.Query().Get("tenant"); t != "" {
		f.TenantIDs = []string{t}
	} else if len(tenants) == 1 {
		f.TenantIDs = []string{tenants[0].ID}
	}
	return d.showNewKey(w, r, s, http.StatusOK, f, tenants, "")
}

func (d *Dashboard) showNewKey(w http.ResponseWriter, r *http.Request, s *session, status int, f keyForm, tenants []*latchkey.Tenant, errMsg string) error {
	perm, err := d.permissionInput(r.Context())
	if err != nil {
		return err
	}
	d.render(w, r, status, "newkey", page{
		Title: "Create an API key", Section: "keys", Session: s, Error: errMsg,
		Data: newKeyData{Form: f, Tenants: tenants, Permission: perm, Expiries: expiryOptions, Windows: windowOptions},
	})
	return nil
}

// permissionInput returns the permission catalog: checkboxes when the
// deployment defines one, free text (any well-formed permission) when not.
func (d *Dashboard) permissionInput(ctx context.Context) (permissionInput, error) {
	ps, err := d.svc.ListPermissions(ctx)
	return permissionInput{Catalog: ps}, err
}

func parseKeyForm(r *http.Request) keyForm {
	f := keyForm{
		Name:        r.PostFormValue("name"),
		Environment: r.PostFormValue("environment"),
		PermText:    r.PostFormValue("permissions"),
		TenantIDs:   r.PostForm["tenant"],
		Expires:     r.PostFormValue("expires"),
		RateLimit:   strings.TrimSpace(r.PostFormValue("rate_limit")),
		RateWindow:  r.PostFormValue("rate_window"),
	}
	f.Permissions = r.PostForm["permission"]
	for p := range strings.FieldsFuncSeq(f.PermText, func(c rune) bool { return c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t' }) {
		if !slices.Contains(f.Permissions, p) {
			f.Permissions = append(f.Permissions, p)
		}
	}
	return f
}

// newKey turns the form into the service's input.
func (f keyForm) newKey(now time.Time) (latchkey.NewKey, error) {
	in := latchkey.NewKey{
		Name:        f.Name,
		Environment: f.Environment,
		Permissions: f.Permissions,
		TenantIDs:   f.TenantIDs,
	}
	if in.Permissions == nil {
		in.Permissions = []string{}
	}
	if in.TenantIDs == nil {
		in.TenantIDs = []string{}
	}
	if f.Expires != "" {
		if !slices.ContainsFunc(expiryOptions, func(o option) bool { return o.Value == f.Expires }) {
			return in, latchkey.Invalid("choose when the key expires from the list")
		}
		d, _ := latchkey.ParseDuration(f.Expires)
		t := now.Add(d)
		in.ExpiresAt = &t
	}
	if f.RateLimit != "" {
		n, err := strconv.Atoi(f.RateLimit)
		if err != nil || n < 1 {
			return in, latchkey.Invalid("the rate limit must be a whole number of requests, 1 or more")
		}
		win, err := latchkey.ParseDuration(f.RateWindow)
		if err != nil {
			return in, latchkey.Invalid("choose the rate limit's time window from the list")
		}
		in.RateLimit = &latchkey.RateLimit{Limit: n, Window: win}
	}
	return in, nil
}

func (d *Dashboard) handleCreateKey(w http.ResponseWriter, r *http.Request, s *session) error {
	f := parseKeyForm(r)
	tenants, err := d.memberships(r.Context(), s.User)
	if err != nil {
		return err
	}
	in, err := f.newKey(d.svc.Now())
	if err == nil {
		var k *latchkey.Key
		var raw string
		k, raw, err = d.svc.CreateKey(r.Context(), s.User.ID, in)
		if err == nil {
			noStore(w)
			return d.showKeysWithSecret(w, r, s, "Your new API key", k, raw)
		}
	}
	if statusOf(err) >= 500 {
		return err
	}
	return d.showNewKey(w, r, s, statusOf(err), f, tenants, d.userMessage(r.Context(), err))
}

// showKeysWithSecret renders the key list (first page, no filters) with
// the dialog that shows a new key's secret once.
func (d *Dashboard) showKeysWithSecret(w http.ResponseWriter, r *http.Request, s *session, heading string, k *latchkey.Key, raw string) error {
	noStore(w)
	r2 := r.Clone(r.Context())
	r2.URL = &url.URL{Path: keysPath}
	return d.showKeys(w, r2, s, http.StatusCreated, page{
		Flash: "Key “" + k.Name + "” created.",
		Reveal: &reveal{
			Heading: heading,
			Intro:   "“" + k.Name + "” (" + k.Environment + ")",
			Secrets: []secret{{Label: "API key", Value: raw, ID: "new-secret"}},
			Done:    keysPath,
		},
	})
}

// ---- Actions on one key -----------------------------------------------

// ownKey returns the user's key, or NOT_FOUND for anyone else's.
func (d *Dashboard) ownKey(r *http.Request, s *session) (*latchkey.Key, error) {
	return d.svc.GetKey(r.Context(), s.User.ID, r.PathValue("id"))
}

func (d *Dashboard) handleToggleKey(w http.ResponseWriter, r *http.Request, s *session) error {
	k, err := d.svc.ToggleKey(r.Context(), s.User.ID, r.PathValue("id"))
	if err != nil {
		return keyError(err)
	}
	done := "disabled"
	if k.IsActive {
		done = "enabled"
	}
	http.Redirect(w, r, withDone(returnTo(r), done), http.StatusSeeOther)
	return nil
}

// keyError makes any missing key the same "not found", yours or not.
func keyError(err error) error {
	if latchkey.ErrorCode(err) == latchkey.CodeNotFound {
		return latchkey.Errorf(latchkey.CodeNotFound, "This API key does not exist, or it was deleted")
	}
	return err
}

// confirm is a confirmation page for a destructive action.
type confirm struct {
	Heading  string
	Message  string
	Subject  string // what is acted on, e.g. the masked key
	Action   string // where the form posts (the page's own address)
	Button   string
	Cancel   string
	ReturnTo string
	Grace    bool // ask for a rotation grace period
}

// graceOptions are the rotation grace periods offered.
var graceOptions = []option{
	{"0s", "Immediately"}, {"1h", "After 1 hour"}, {"24h", "After 24 hours"}, {"168h", "After 7 days"},
}

func (d *Dashboard) handleConfirmKeyAction(w http.ResponseWriter, r *http.Request, s *session) error {
	k, err := d.ownKey(r, s)
	if err != nil {
		return keyError(err)
	}
	c := confirm{
		Subject:  k.Name + " · " + k.Masked,
		Action:   r.URL.Path,
		Cancel:   keysPath,
		ReturnTo: keysPath,
	}
	if rt := r.URL.Query().Get("return_to"); rt == keysPath || strings.HasPrefix(rt, keysPath+"?") {
		c.Cancel, c.ReturnTo = rt, rt
	}
	switch r.PathValue("action") {
	case "revoke":
		c.Heading, c.Button = "Revoke this key?", "Revoke key"
		c.Message = "Requests with this key will be refused from now on. Revoking is permanent: the key cannot be enabled again."
	case "rotate":
		c.Heading, c.Button, c.Grace = "Rotate this key?", "Rotate key", true
		c.Message = "You get a new key with the same name, permissions and tenants. The old key keeps working for the grace period you choose, so you can deploy the new one first."
	case "delete":
		c.Heading, c.Button = "Delete this key?", "Delete key"
		c.Message = "The key and its usage history are removed for good, and requests with it are refused."
	default:
		return latchkey.NotFound("page")
	}
	d.render(w, r, http.StatusOK, "confirm", page{Title: c.Heading, Section: "keys", Session: s,
		Data: struct {
			confirm
			Graces []option
		}{c, graceOptions}})
	return nil
}

func (d *Dashboard) handleRevokeKey(w http.ResponseWriter, r *http.Request, s *session) error {
	if _, err := d.svc.RevokeKey(r.Context(), s.User.ID, r.PathValue("id")); err != nil {
		return keyError(err)
	}
	http.Redirect(w, r, withDone(returnTo(r), "revoked"), http.StatusSeeOther)
	return nil
}

func (d *Dashboard) handleDeleteKey(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.svc.DeleteKey(r.Context(), s.User.ID, r.PathValue("id")); err != nil {
		return keyError(err)
	}
	http.Redirect(w, r, withDone(returnTo(r), "deleted"), http.StatusSeeOther)
	return nil
}

func (d *Dashboard) handleRotateKey(w http.ResponseWriter, r *http.Request, s *session) error {
	grace := r.PostFormValue("grace")
	if grace == "" {
		grace = "0s"
	}
	if !slices.ContainsFunc(graceOptions, func(o option) bool { return o.Value == grace }) {
		return latchkey.Invalid("choose a grace period from the list")
	}
	g, _ := latchkey.ParseDuration(grace)
	k, raw, err := d.svc.RotateKey(r.Context(), s.User.ID, r.PathValue("id"), g)
	if err != nil {
		return keyError(err)
	}
	return d.showKeysWithSecret(w, r, s, "Your rotated API key", k, raw)
}
