package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// The file is checked in two passes. First a streaming walk over the JSON
// tokens against the schema below, which knows where each token sits, so
// syntax errors, unknown or repeated fields, wrong types and missing
// fields are reported with their path (nodes[1].raft_addr) and line and
// column. Then encoding/json fills the structs, which can no longer fail
// in ways a person needs explained, and the fields the file left out get
// their defaults.

type kind uint8

const (
	kindObject kind = iota
	kindArray
	kindString
	kindInt
	kindUint
	kindBool
)

func (k kind) String() string {
	return [...]string{"an object", "an array", "a string", "an integer", "a non-negative integer", "true or false"}[k]
}

type shape struct {
	kind     kind
	fields   map[string]*shape // kindObject
	decl     []field           // kindObject: its fields, in declaration order
	required []string          // kindObject
	elem     *shape            // kindArray
}

// field is one field of an object as its struct tags declare it:
//
//	json:"key"         its name in the file
//	doc:"..."          what it means, for the reference table in README.md
//	default:"JSON"     the value it takes when the file leaves it out
//	absent:"..."       or, in words, what leaving it out means
//	config:"required"  or that the file must have it
//	config:"without=k" (on an object or a list of them) that field k of its
//	                   type is not accepted here
//
// Text in single quotes in doc and absent is code ('tcp://host:port').
type field struct {
	key, goName   string
	index         int // in the struct
	doc, absent   string
	defJSON       string
	def           reflect.Value // defJSON decoded; invalid without one
	required      bool
	shape         *shape
	structType    reflect.Type // the struct the field holds (through a pointer or list), if any
	behindPointer bool         // the field is reached through a pointer or a list
}

var (
	stringShape = &shape{kind: kindString}
	intShape    = &shape{kind: kindInt}
	uintShape   = &shape{kind: kindUint}
	boolShape   = &shape{kind: kindBool}
)

// configShape is derived from Config's struct tags: the json tags name
// the fields, the Go types give their kinds, and the other tags (see
// field) their defaults and docs. Each field is declared once, so the
// schema, the defaults and the reference table cannot drift apart.
var configShape = shapeOf(reflect.TypeFor[Config]())

func shapeOf(t reflect.Type) *shape {
	switch t.Kind() {
	case reflect.Pointer:
		return shapeOf(t.Elem())
	case reflect.String:
		return stringShape
	case reflect.Bool:
		return boolShape
	case reflect.Int, reflect.Int64:
		return intShape
	case reflect.Uint64:
		return uintShape
	case reflect.Slice:
		return &shape{kind: kindArray, elem: shapeOf(t.Elem())}
	case reflect.Struct:
		s := &shape{kind: kindObject, fields: map[string]*shape{}}
		for i := range t.NumField() {
			if f, ok := fieldOf(t.Field(i)); ok {
				s.add(f)
			}
		}
		return s
	}
	panic(fmt.Sprintf("config: no schema for a field of type %s", t))
}

func (s *shape) add(f field) {
	s.fields[f.key] = f.shape
	s.decl = append(s.decl, f)
	if f.required {
		s.required = append(s.required, f.key)
	}
}

// fieldOf reads one struct field's tags; ok is false for a field the file
// does not hold. A bad tag is a programming error, found when the package
// loads.
func fieldOf(sf reflect.StructField) (f field, ok bool) {
	key, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
	if !sf.IsExported() || key == "" || key == "-" {
		return field{}, false
	}
	f = field{key: key, goName: sf.Name, index: sf.Index[0], doc: sf.Tag.Get("doc"), absent: sf.Tag.Get("absent"),
		defJSON: sf.Tag.Get("default"), shape: shapeOf(sf.Type)}
	f.structType, f.behindPointer = structIn(sf.Type)
	opt := sf.Tag.Get("config")
	if without, ok := strings.CutPrefix(opt, "without="); ok {
		f.shape = f.shape.without(without)
	} else {
		f.required = opt == "required"
	}
	if f.defJSON != "" {
		f.def = reflect.New(sf.Type)
		if err := json.Unmarshal([]byte(f.defJSON), f.def.Interface()); err != nil {
			panic(fmt.Sprintf("config: field %s: default %s: %v", key, f.defJSON, err))
		}
		f.def = f.def.Elem()
	}
	return f, true
}

// structIn is the struct type t holds, directly or through pointers and
// lists (nil if none), and whether it is through one.
func structIn(t reflect.Type) (reflect.Type, bool) {
	indirect := false
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t, indirect = t.Elem(), true
	}
	if t.Kind() != reflect.Struct {
		return nil, false
	}
	return t, indirect
}

// without is s (an object, or a list of them) less the field key.
func (s *shape) without(key string) *shape {
	if s.kind == kindArray {
		return &shape{kind: kindArray, elem: s.elem.without(key)}
	}
	if s.fields[key] == nil {
		panic(fmt.Sprintf("config: without=%s names no field", key))
	}
	out := &shape{kind: kindObject, fields: map[string]*shape{}}
	for _, f := range s.decl {
		if f.key != key {
			out.add(f)
		}
	}
	return out
}

func (s *shape) keys() []string {
	keys := make([]string, len(s.decl))
	for i, f := range s.decl {
		keys[i] = f.key
	}
	return keys
}

// fillDefaults gives every field the file left out (present lists the
// paths it has) its default, in v, which has shape s and is addressable.
func fillDefaults(v reflect.Value, s *shape, path string, present map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			fillDefaults(v.Elem(), s, path, present)
		}
	case reflect.Slice:
		for i := range v.Len() {
			fillDefaults(v.Index(i), s.elem, fmt.Sprintf("%s[%d]", path, i), present)
		}
	case reflect.Struct:
		for _, f := range s.decl {
			p, fv := join(path, f.key), v.Field(f.index)
			if f.def.IsValid() && !present[p] {
				fv.Set(f.def)
			}
			fillDefaults(fv, f.shape, p, present)
		}
	}
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// decode checks data against the schema, decodes it and fills in the
// defaults.
func decode(name string, data []byte) (*Config, error) {
	// Some editors on Windows start files with a byte order mark.
	data = bytes.TrimPrefix(data, utf8BOM)
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: file is empty; expected a JSON object", name)
	}
	if err := checkSyntax(name, data); err != nil {
		return nil, err
	}
	w := &walker{name: name, data: data, dec: json.NewDecoder(bytes.NewReader(data)), present: map[string]bool{}}
	w.dec.UseNumber()
	if err := w.value(configShape, ""); err != nil {
		return nil, err
	}
	at := w.next()
	if _, err := w.dec.Token(); err != io.EOF {
		return nil, w.errAt(at, "unexpected data after the top-level value")
	}

	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		// The walk accepted the file, so this is a gap in the schema.
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	fillDefaults(reflect.ValueOf(&c).Elem(), configShape, "", w.present)
	c.peerKeySet = w.present["peer_key_file"]
	return &c, nil
}

// checkSyntax reports the first syntax error at its exact position. The
// token stream reports some errors inside values a few bytes off, so the
// syntax is checked whole first by the plain scanner, whose offsets count
// the bytes up to and including the offending one.
func checkSyntax(name string, data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	var syn *json.SyntaxError
	if !errors.As(err, &syn) {
		return nil // a valid document; types are the walker's business
	}
	w := &walker{name: name, data: data}
	msg := strings.TrimPrefix(syn.Error(), "json: ")
	switch {
	case strings.Contains(msg, "unexpected end of JSON input"):
		return w.errAt(int64(len(data)), "invalid JSON: unexpected end of file")
	case strings.Contains(msg, "after top-level value"):
		return w.errAt(syn.Offset-1, "unexpected data after the top-level value")
	}
	return w.errAt(syn.Offset-1, "invalid JSON: %s", msg)
}

// walker walks the token stream of one document.
type walker struct {
	name string
	data []byte
	dec  *json.Decoder
	// present holds the path of every field the document has, for the
	// defaults of the others.
	present map[string]bool
}

// next is the offset of the next token: the decoder's offset is just past
// the previous one, before any separator.
func (w *walker) next() int64 {
	off := w.dec.InputOffset()
	for off < int64(len(w.data)) {
		switch w.data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
		default:
			return off
		}
	}
	return off
}

func (w *walker) token() (json.Token, error) {
	tok, err := w.dec.Token()
	if err == nil {
		return tok, nil
	}
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		// checkSyntax has passed the document, so this is not expected;
		// the stream's offset is approximate.
		return nil, w.errAt(syn.Offset, "invalid JSON: %s", strings.TrimPrefix(syn.Error(), "json: "))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, w.errAt(int64(len(w.data)), "invalid JSON: unexpected end of file")
	}
	return nil, fmt.Errorf("%s: invalid JSON: %w", w.name, err)
}

func (w *walker) value(sh *shape, path string) error {
	at := w.next()
	tok, err := w.token()
	if err != nil {
		return err
	}
	got := describeToken(tok)
	switch t := tok.(type) {
	case json.Delim:
		switch {
		case t == '{' && sh.kind == kindObject:
			return w.object(sh, path, at)
		case t == '[' && sh.kind == kindArray:
			return w.array(sh, path)
		}
	case string:
		if sh.kind == kindString {
			return nil
		}
	case bool:
		if sh.kind == kindBool {
			return nil
		}
	case json.Number:
		switch sh.kind {
		case kindInt:
			if _, err := strconv.ParseInt(t.String(), 10, 64); err == nil {
				return nil
			}
		case kindUint:
			if _, err := strconv.ParseUint(t.String(), 10, 64); err == nil {
				return nil
			}
		}
	}
	return w.errAt(at, "%s must be %s, not %s", displayPath(path), sh.kind, got)
}

func (w *walker) object(sh *shape, path string, start int64) error {
	seen := map[string]bool{}
	for w.dec.More() {
		at := w.next()
		tok, err := w.token()
		if err != nil {
			return err
		}
		key := tok.(string) // the decoder only yields strings as keys
		sub, ok := sh.fields[key]
		if !ok {
			return w.errAt(at, "%s: unknown field %q%s", displayPath(path), key, hint(key, sh.keys()))
		}
		if seen[key] {
			return w.errAt(at, "%s appears twice", join(path, key))
		}
		seen[key] = true
		w.present[join(path, key)] = true
		if err := w.value(sub, join(path, key)); err != nil {
			return err
		}
	}
	if _, err := w.token(); err != nil { // the closing brace
		return err
	}
	for _, f := range sh.required {
		if !seen[f] {
			return w.errAt(start, "%s is missing", join(path, f))
		}
	}
	return nil
}

func (w *walker) array(sh *shape, path string) error {
	for i := 0; w.dec.More(); i++ {
		if err := w.value(sh.elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	_, err := w.token() // the closing bracket
	return err
}

// errAt formats an error at a byte offset as name:line:column.
func (w *walker) errAt(off int64, format string, args ...any) error {
	off = min(off, int64(len(w.data)))
	before := w.data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Errorf("%s:%d:%d: %s", w.name, line, col, fmt.Sprintf(format, args...))
}

func describeToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "string " + strconv.Quote(t)
	case json.Number:
		return "number " + t.String()
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return "null"
	}
	return fmt.Sprint(tok)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func displayPath(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

// hint suggests the known field closest to a misspelt one, or lists them.
func hint(key string, known []string) string {
	lower := strings.ToLower(key)
	best, bestDist := "", len(key)/2+1
	for _, k := range known {
		if strings.HasPrefix(k, lower) || strings.HasPrefix(lower, k) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
		if d := editDistance(lower, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (known fields: " + strings.Join(slices.Sorted(slices.Values(known)), ", ") + ")"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
