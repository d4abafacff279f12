package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// docFor nests a value where a field sits, into a document to parse.
type docFor func(v any) any

// everyField calls fn for each field the schema knows, nested ones and
// those of list elements (at index 0) included.
func everyField(s *shape, path string, wrap docFor, fn func(path string, f field, doc docFor)) {
	for _, f := range s.decl {
		p := join(path, f.key)
		doc := func(v any) any { return wrap(map[string]any{f.key: v}) }
		fn(p, f, doc)
		child := f.shape
		if child.kind == kindArray {
			p, child, doc = p+"[0]", child.elem, func(v any) any { return wrap(map[string]any{f.key: []any{v}}) }
		}
		if child.kind == kindObject {
			everyField(child, p, doc, fn)
		}
	}
}

func topLevel(v any) any { return v }

// strayQuote is a single quote left after markdown, other than an
// apostrophe inside a word.
var strayQuote = regexp.MustCompile(`(^|[^\pL])'|'([^\pL]|$)`)

// Every field says what it means and what leaving it out does: it has a
// default, or is required, or its absence is described; never two.
func TestEveryFieldIsDeclared(t *testing.T) {
	n := 0
	everyField(configShape, "", topLevel, func(path string, f field, _ docFor) {
		n++
		if strings.TrimSpace(f.doc) == "" {
			t.Errorf("%s has no doc tag", path)
		}
		given := 0
		for _, set := range []bool{f.required, f.defJSON != "", f.absent != ""} {
			if set {
				given++
			}
		}
		if given != 1 {
			t.Errorf("%s: want exactly one of config:\"required\", default and absent; has %d", path, given)
		}
		for _, text := range []string{f.doc, f.absent} {
			if strayQuote.MatchString(markdown(text)) {
				t.Errorf("%s: a quote that opens no code span, or is not closed, in %q", path, text)
			}
		}
	})
	if n < 30 {
		t.Fatalf("only %d fields found; the walk is broken", n)
	}
}

// What a file without the optional fields gets is each default tag,
// nested ones included.
func TestDefaultsAreTheTags(t *testing.T) {
	c, err := Parse([]byte(`{"nodes": [{"id": 5, "raft_addr": "tcp://localhost:7000", "http_addr": "localhost:8000"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	var walk func(v reflect.Value, s *shape, path string)
	walk = func(v reflect.Value, s *shape, path string) {
		for _, f := range s.decl {
			fv := v.Field(f.index)
			if f.def.IsValid() {
				checked++
				if !reflect.DeepEqual(fv.Interface(), f.def.Interface()) {
					t.Errorf("%s = %#v, want its default %s", join(path, f.key), fv.Interface(), f.defJSON)
				}
			}
			if fv.Kind() == reflect.Struct {
				walk(fv, f.shape, join(path, f.key))
			}
		}
	}
	walk(reflect.ValueOf(c).Elem(), configShape, "")
	if checked < 10 {
		t.Fatalf("only %d defaults checked", checked)
	}
}

// A default inside an optional object applies when the object is given
// without that field, and a field given keeps its value.
func TestNestedDefaults(t *testing.T) {
	c, err := Parse([]byte(edit(t, `"heartbeat_ms": 50,`, `"heartbeat_ms": 50, "badger": {"block_cache_bytes": 2097152},`)))
	if err != nil {
		t.Fatal(err)
	}
	if want := (BadgerConfig{8 << 20, 2 << 20, 16 << 20}); c.Badger != want {
		t.Fatalf("Badger = %+v, want %+v", c.Badger, want)
	}
	c, err = Parse([]byte(edit(t, `"election_timeout_ms": {"min": 300, "max": 600}`, `"election_timeout_ms": {"min": 400, "max": 900}`)))
	if err != nil {
		t.Fatal(err)
	}
	if c.ElectionTimeoutMS != (Range{400, 900}) {
		t.Fatalf("ElectionTimeoutMS = %+v", c.ElectionTimeoutMS)
	}
}

// wrongFor is a value of another kind than k, and how the error names it.
func wrongFor(k kind) (any, string) {
	switch k {
	case kindString:
		return 1, "number 1"
	case kindInt:
		return "1", `string "1"`
	case kindUint:
		return -1, "number -1"
	case kindBool:
		return "yes", `string "yes"`
	case kindObject:
		return []any{}, "an array"
	}
	return map[string]any{}, "an object"
}

// Every field refuses a value of the wrong kind, and null, naming itself;
// every object refuses a key it does not declare.
func TestEveryFieldChecksItsInput(t *testing.T) {
	parse := func(doc any) error {
		data, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Parse(data)
		if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("error spans lines: %q", err)
		}
		return err
	}
	expect := func(err error, want string) {
		t.Helper()
		if err == nil || !strings.HasPrefix(err.Error(), "config:") || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse: %v; want an error with %q", err, want)
		}
	}
	expect(parse(map[string]any{"zz_unknown": 1}), `top level: unknown field "zz_unknown"`)
	everyField(configShape, "", topLevel, func(path string, f field, doc docFor) {
		v, shown := wrongFor(f.shape.kind)
		expect(parse(doc(v)), fmt.Sprintf("%s must be %s, not %s", path, f.shape.kind, shown))
		expect(parse(doc(nil)), fmt.Sprintf("%s must be %s, not null", path, f.shape.kind))
		switch obj := objectIn(f.shape); {
		case obj.kind != kindObject:
		case f.shape.kind == kindArray:
			expect(parse(doc([]any{map[string]any{"zz_unknown": 1}})), path+`[0]: unknown field "zz_unknown"`)
		default:
			expect(parse(doc(map[string]any{"zz_unknown": 1})), path+`: unknown field "zz_unknown"`)
		}
	})
}

// A tag the package cannot use stops it loading rather than being
// ignored.
func TestBadTagsPanic(t *testing.T) {
	tests := map[string]reflect.Type{
		"default of another type": reflect.TypeFor[struct {
			X int `json:"x" default:"\"five\""`
		}](),
		"default not JSON": reflect.TypeFor[struct {
			X string `json:"x" default:"five"`
		}](),
		"without names no field": reflect.TypeFor[struct {
			X []Node `json:"x" config:"without=nope"`
		}](),
		"unsupported type": reflect.TypeFor[struct {
			X float64 `json:"x"`
		}](),
	}
	for name, typ := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("shapeOf(%s) did not panic", typ)
				}
			}()
			shapeOf(typ)
		})
	}
}

func TestMarkdownCode(t *testing.T) {
	tests := map[string]string{
		"the node's own 'cert_file' and 'key_file'": "the node's own `cert_file` and `key_file`",
		"'false': only 'kvcli member promote' does": "`false`: only `kvcli member promote` does",
		"(at least 'host:port')":                    "(at least `host:port`)",
		"the system's roots":                        "the system's roots",
	}
	for in, want := range tests {
		if got := markdown(in); got != want {
			t.Errorf("markdown(%q) = %q, want %q", in, got, want)
		}
	}
}
