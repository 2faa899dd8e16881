// Package routes reads the routes file (SPEC §8): which requests forward
// auth and the reverse proxy let through, and what each one requires.
//
// Patterns are net/http.ServeMux patterns and are matched by a ServeMux, so
// their syntax, precedence ("most specific wins"), trailing-slash subtrees,
// {$} anchors and host patterns are exactly Go's.
package routes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/latchkey/latchkey"
	"go.yaml.in/yaml/v3"
)

// Access is what a rule does with a request.
type Access string

const (
	Authenticated Access = "authenticated" // a valid credential is required
	Public        Access = "public"        // no credential is needed or checked
	Deny          Access = "deny"          // always 403 FORBIDDEN
)

// Rule is what one route (or the default) requires of a request.
type Rule struct {
	Pattern       string // "" for the default rule
	Line          int    // line of the route in the file; 0 for the default
	Access        Access
	Permissions   []string // all are required; only for Authenticated
	Environment   string   // "live", "test", or "" for either
	RequireTenant bool     // the credential must resolve to a tenant
}

// Table matches requests to rules.
type Table struct {
	def   *Rule
	mux   *http.ServeMux
	rules map[string]*Rule // by pattern, as ServeMux reports it
	list  []*Rule          // in file order
}

// Default is the table used without a routes file: every request needs a
// valid credential, no permission in particular.
func Default() *Table {
	t, _ := build(&Rule{Access: Authenticated}, nil)
	return t
}

// MaxFileBytes bounds a routes file.
const MaxFileBytes = 1 << 20

// Load reads and parses the routes file at path.
func Load(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(src) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxFileBytes)
	}
	return Parse(path, src)
}

// Error is a problem in a routes file, at a line (0 when the problem is not
// at one place).
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Rules returns the routes in file order.
func (t *Table) Rules() []*Rule { return t.list }

// DefaultRule returns the rule for requests no route matches.
func (t *Table) DefaultRule() *Rule { return t.def }

// Permissions returns every permission the routes require, sorted, once
// each: these join the permission catalog.
func (t *Table) Permissions() []string {
	var out []string
	for _, r := range t.list {
		out = append(out, r.Permissions...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Match returns the rule for a request: the route whose pattern the
// ServeMux would pick, following its redirects (a path that is not clean,
// or /tree for a registered /tree/, gets the rule of where it redirects to),
// else the default. Host may carry a port; u is the request URI.
func (t *Table) Match(method, host string, u *url.URL) *Rule {
	if len(t.list) == 0 {
		return t.def
	}
	req := &http.Request{Method: method, Host: host, URL: u}
	if method == http.MethodConnect {
		// The mux does not clean CONNECT paths; nothing behind a proxy
		// should see one, and the default must not be skipped by one.
		req.Method = "CONNECT-AS-OTHER"
	}
	if _, pattern := t.mux.Handler(req); pattern != "" {
		if r, ok := t.rules[pattern]; ok {
			return r
		}
	}
	return t.def
}

// fileRoot is the top level of the file.
var topFields = []string{"default", "routes"}
var routeFields = []string{"pattern", "permission", "permissions", "public", "deny", "environment", "tenant"}

// Parse parses a routes file; name is used in error messages.
func Parse(name string, src []byte) (*Table, error) {
	p := &parser{file: name}
	t, err := p.parse(src)
	if err != nil {
		return nil, err
	}
	return t, nil
}

type parser struct {
	file string
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parse(src []byte) (*Table, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: p.file, Msg: "the file is empty; write at least \"default: authenticated\""}
		}
		return nil, p.yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, p.yamlError(err)
		}
		return nil, p.errorf(&extra, "only one YAML document is allowed")
	}
	root := resolve(&doc)
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, &Error{File: p.file, Msg: "the file is empty"}
		}
		root = resolve(root.Content[0])
	}
	if root.Kind != yaml.MappingNode {
		return nil, p.errorf(root, "the file must be a mapping with \"default\" and \"routes\"")
	}
	def := &Rule{Access: Authenticated}
	var routes *yaml.Node
	err := p.fields(root, topFields, func(key string, k, v *yaml.Node) error {
		switch key {
		case "default":
			s, err := p.str(k, v)
			if err != nil {
				return err
			}
			switch a := Access(s); a {
			case Authenticated, Public, Deny:
				def.Access = a
			default:
				return p.errorf(v, "default must be authenticated, public or deny, not %q", clip(s))
			}
		case "routes":
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				return nil
			}
			if v.Kind != yaml.SequenceNode {
				return p.errorf(v, "routes must be a list")
			}
			routes = v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var rules []*Rule
	if routes != nil {
		for _, n := range routes.Content {
			r, err := p.route(resolve(n))
			if err != nil {
				return nil, err
			}
			rules = append(rules, r)
		}
	}
	return p.build(def, rules)
}

// yamlError keeps the YAML library's message, which names the line, and
// prefixes the file name.
func (p *parser) yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		_, rest, _ := strings.Cut(msg, ":")
		return &Error{File: p.file, Line: line, Msg: strings.TrimSpace(rest)}
	}
	return &Error{File: p.file, Msg: msg}
}

// fields walks a mapping, refusing unknown and repeated keys.
func (p *parser) fields(m *yaml.Node, known []string, fn func(key string, k, v *yaml.Node) error) error {
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := resolve(m.Content[i]), resolve(m.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return p.errorf(k, "keys must be plain names")
		}
		key := k.Value
		if !slices.Contains(known, key) {
			return p.errorf(k, "unknown field %q (known: %s)", clip(key), strings.Join(known, ", "))
		}
		if seen[key] {
			return p.errorf(k, "field %q is repeated", key)
		}
		seen[key] = true
		if err := fn(key, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) str(k, v *yaml.Node) (string, error) {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		return "", p.errorf(v, "%s must be a string", k.Value)
	}
	return v.Value, nil
}

func (p *parser) bool(k, v *yaml.Node) (bool, error) {
	var b bool
	if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" || v.Decode(&b) != nil {
		return false, p.errorf(v, "%s must be true or false", k.Value)
	}
	return b, nil
}

func (p *parser) permission(k, v *yaml.Node) (string, error) {
	s, err := p.str(k, v)
	if err != nil {
		return "", err
	}
	if !latchkey.ValidPermission(s) || strings.HasSuffix(s, "*") {
		return "", p.errorf(v, "%q is not a permission a route can require (use e.g. \"messages:send\"; wildcards belong on keys, not routes)", clip(s))
	}
	return s, nil
}

func (p *parser) route(n *yaml.Node) (*Rule, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errorf(n, "each route must be a mapping with a pattern")
	}
	r := &Rule{Line: n.Line, Access: Authenticated}
	var public, deny bool
	var tenantNode, envNode, permNode *yaml.Node
	err := p.fields(n, routeFields, func(key string, k, v *yaml.Node) error {
		var err error
		switch key {
		case "pattern":
			r.Pattern, err = p.str(k, v)
			if err == nil && strings.TrimSpace(r.Pattern) == "" {
				err = p.errorf(v, "pattern must not be empty")
			}
		case "permission":
			permNode = v
			var perm string
			if perm, err = p.permission(k, v); err == nil {
				r.Permissions = append(r.Permissions, perm)
			}
		case "permissions":
			permNode = v
			if v.Kind != yaml.SequenceNode {
				return p.errorf(v, "permissions must be a list, e.g. [messages:send]")
			}
			for _, e := range v.Content {
				perm, err := p.permission(k, resolve(e))
				if err != nil {
					return err
				}
				r.Permissions = append(r.Permissions, perm)
			}
		case "public":
			public, err = p.bool(k, v)
		case "deny":
			deny, err = p.bool(k, v)
		case "environment":
			envNode = v
			if r.Environment, err = p.str(k, v); err == nil && r.Environment != "live" && r.Environment != "test" {
				err = p.errorf(v, "environment must be live or test, not %q", clip(r.Environment))
			}
		case "tenant":
			tenantNode = v
			var s string
			if s, err = p.str(k, v); err == nil {
				switch s {
				case "required":
					r.RequireTenant = true
				case "optional":
				default:
					err = p.errorf(v, "tenant must be required or optional, not %q", clip(s))
				}
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if r.Pattern == "" {
		return nil, p.errorf(n, "route has no pattern")
	}
	if len(strings.Fields(r.Pattern)) > 2 {
		// ServeMux would read "GET  POST /x" as a host pattern "POST "
		// that never matches.
		return nil, p.errorf(n, "invalid pattern %q: write [METHOD ][HOST]/PATH with one space after the method", clip(r.Pattern))
	}
	slices.Sort(r.Permissions)
	r.Permissions = slices.Compact(r.Permissions)
	switch {
	case public && deny:
		return nil, p.errorf(n, "route %q cannot be both public and deny", clip(r.Pattern))
	case public || deny:
		// Requirements on a route that checks no credential would be
		// silently ignored; refuse them instead.
		what := "public"
		if deny {
			what = "deny"
		}
		for _, extra := range []*yaml.Node{permNode, envNode, tenantNode} {
			if extra != nil {
				return nil, p.errorf(extra, "a %s route checks no credential, so it cannot require a permission, environment or tenant", what)
			}
		}
		r.Access = Public
		if deny {
			r.Access = Deny
		}
	}
	return r, nil
}

// build registers the rules in a ServeMux, which validates the patterns and
// finds conflicts; its panics become errors naming the lines.
func (p *parser) build(def *Rule, rules []*Rule) (*Table, error) {
	t, err := build(def, rules)
	if err == nil {
		return t, nil
	}
	var be *buildError
	if !errors.As(err, &be) {
		return nil, err
	}
	r := rules[be.index]
	if msg, invalid := strings.CutPrefix(be.msg, "parsing "); invalid {
		_, reason, _ := strings.Cut(msg, ": ")
		return nil, &Error{File: p.file, Line: r.Line, Msg: fmt.Sprintf("invalid pattern %q: %s", clip(r.Pattern), reason)}
	}
	// Find the earlier route it conflicts with.
	for _, other := range rules[:be.index] {
		if _, err := build(def, []*Rule{other, r}); err != nil {
			_, why, _ := strings.Cut(be.msg, ":\n")
			if other.Pattern == r.Pattern {
				why = "the same pattern appears twice"
			}
			return nil, &Error{File: p.file, Line: r.Line, Msg: fmt.Sprintf("pattern %q conflicts with pattern %q on line %d: %s",
				clip(r.Pattern), clip(other.Pattern), other.Line, strings.TrimSpace(why))}
		}
	}
	return nil, &Error{File: p.file, Line: r.Line, Msg: fmt.Sprintf("pattern %q: %s", clip(r.Pattern), be.msg)}
}

type buildError struct {
	index int
	msg   string
}

func (e *buildError) Error() string { return e.msg }

func build(def *Rule, rules []*Rule) (t *Table, err error) {
	t = &Table{def: def, mux: http.NewServeMux(), rules: make(map[string]*Rule, len(rules)), list: rules}
	for i, r := range rules {
		if err := register(t.mux, r.Pattern); err != nil {
			return nil, &buildError{index: i, msg: err.Error()}
		}
		t.rules[r.Pattern] = r
	}
	return t, nil
}

// register adds pattern to mux, turning the mux's panic on an invalid or
// conflicting pattern into an error.
func register(mux *http.ServeMux, pattern string) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%v", v)
		}
	}()
	mux.Handle(pattern, http.NotFoundHandler())
	return nil
}

// resolve follows YAML aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func clip(s string) string { return latchkey.Truncate(s, 80) }
