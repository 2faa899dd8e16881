package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/latchkey/latchkey"
)

// encode writes v as a JSON response with status.
func encode[T any](w http.ResponseWriter, status int, v T) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decode reads a request body that must be exactly one JSON object whose
// fields all belong to T. Every failure is a VALIDATION_FAILED error naming
// the field and the problem, or PAYLOAD_TOO_LARGE past the body limit.
func decode[T any](r *http.Request) (T, error) {
	var v T
	body, err := readBody(r)
	if err != nil {
		return v, err
	}
	if len(body) == 0 {
		return v, latchkey.Invalid("request body is required")
	}
	return v, unmarshalObject(body, &v)
}

// decodeOptional is decode for endpoints whose body may be omitted: an
// empty body decodes to the zero T.
func decodeOptional[T any](r *http.Request) (T, error) {
	var v T
	body, err := readBody(r)
	if err != nil || len(body) == 0 {
		return v, err
	}
	return v, unmarshalObject(body, &v)
}

// readBody reads the whole body (bounded by the observer) and trims the
// surrounding whitespace.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		if isTooLarge(err) {
			return nil, errTooLarge
		}
		return nil, latchkey.Invalid("request body could not be read")
	}
	return bytes.Trim(b, " \t\r\n"), nil // JSON whitespace only
}

// unmarshalObject strictly decodes one JSON object into v.
func unmarshalObject(body []byte, v any) error {
	if body[0] != '{' {
		return latchkey.Invalid("request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, reflect.TypeOf(v))
	}
	if rest := bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return latchkey.Invalid("request body must contain a single JSON object; found data after it at offset %d", len(body)-len(rest))
	}
	return nil
}

// jsonError explains a decoding error without echoing more than a short
// fragment of the input. target is the type being decoded, used to name
// the expected type of a field.
func jsonError(err error, target reflect.Type) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var le *latchkey.Error
	switch {
	case errors.As(err, &le):
		return le
	case errors.As(err, &syn):
		// Offset counts the bytes read, including the offending one.
		return latchkey.Invalid("malformed JSON at offset %d: %s", max(syn.Offset-1, 0), syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return latchkey.Invalid("malformed JSON: unexpected end of input")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return latchkey.Invalid("request body must be a JSON object")
		}
		want := describe(typ.Type)
		if ft := fieldType(target, strings.Split(typ.Field, ".")); ft != nil && ft != typ.Type {
			want = describe(ft)
		}
		return latchkey.Invalid("%s must be %s", typ.Field, want)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return latchkey.Invalid("unknown field %s", strconv.Quote(shorten(name, 40)))
	}
	return latchkey.Invalid("malformed JSON")
}

// describe names a JSON type for a message: "a string", "an array of strings".
func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if o, ok := reflect.New(t).Interface().(optionalValue); ok {
		return describe(o.valueType())
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		elem := describe(t.Elem())
		if elem == "a JSON value" {
			return "an array"
		}
		_, noun, _ := strings.Cut(elem, " ")
		return "an array of " + noun + "s"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a JSON value"
}

// fieldType follows a dotted JSON field path through t and returns the Go
// type declared there, or nil when the path cannot be followed.
func fieldType(t reflect.Type, path []string) reflect.Type {
	for _, name := range path {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if o, ok := reflect.New(t).Interface().(optionalValue); ok {
			t = o.valueType()
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := jsonField(t, name)
			if !ok {
				return nil
			}
			t = f
		case reflect.Map:
			t = t.Elem()
		default:
			return nil
		}
	}
	if o, ok := reflect.New(t).Interface().(optionalValue); ok {
		t = o.valueType()
	}
	return t
}

func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if strings.EqualFold(tag, name) {
			return f.Type, true
		}
	}
	return nil, false
}

// shorten truncates hostile input to at most n bytes on a rune boundary.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// optional is a PATCH field: it tells "absent" (Set false) from "null"
// (Null true) from a value.
type optional[T any] struct {
	Set   bool
	Null  bool
	Value T
}

type optionalValue interface{ valueType() reflect.Type }

func (o *optional[T]) valueType() reflect.Type { return reflect.TypeFor[T]() }

func (o *optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(&o.Value)
}

// get returns the value of a field that may be absent but not null.
func (o optional[T]) get(field string) (*T, error) {
	if !o.Set {
		return nil, nil
	}
	if o.Null {
		return nil, latchkey.Invalid("%s must be %s, not null", field, describe(reflect.TypeFor[T]()))
	}
	return &o.Value, nil
}
