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
// in ways a person needs explained.

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
	order    []string          // kindObject: field names, for "known fields" hints
	required []string          // kindObject
	elem     *shape            // kindArray
}

var (
	stringShape = &shape{kind: kindString}
	intShape    = &shape{kind: kindInt}
	uintShape   = &shape{kind: kindUint}
	boolShape   = &shape{kind: kindBool}
)

// configShape is derived from rawConfig, the struct encoding/json fills:
// the json tags name the fields, the Go types give their kinds, and
// `config:"required"` marks what an object must have. Each field is
// declared once, so the schema cannot drift from the struct.
var configShape = shapeOf(reflect.TypeFor[rawConfig]())

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
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			s.fields[name] = shapeOf(f.Type)
			s.order = append(s.order, name)
			if f.Tag.Get("config") == "required" {
				s.required = append(s.required, name)
			}
		}
		return s
	}
	panic(fmt.Sprintf("config: no schema for a field of type %s", t))
}

// rawConfig mirrors the file; pointers tell a missing optional field
// (which gets its default) from an explicit zero (which is an error).
type rawConfig struct {
	Nodes               []Node     `json:"nodes" config:"required"`
	ElectionTimeoutMS   *Range     `json:"election_timeout_ms"`
	HeartbeatMS         *int       `json:"heartbeat_ms"`
	DataDir             *string    `json:"data_dir"`
	RequestTimeoutMS    *int       `json:"request_timeout_ms"`
	MaxValueBytes       *int64     `json:"max_value_bytes"`
	LeaseClockDriftMS   *int       `json:"lease_clock_drift_ms"`
	SnapshotEntries     *int64     `json:"snapshot_entries"`
	SnapshotBytes       *int64     `json:"snapshot_bytes"`
	SnapshotKeepEntries *int64     `json:"snapshot_keep_entries"`
	ReadyMaxLagEntries  *int64     `json:"ready_max_lag_entries"`
	AutoPromote         *bool      `json:"auto_promote"`
	Routes              []rawRoute `json:"routes"`
	Badger              *rawBadger `json:"badger"`
	PeerKeyFile         *string    `json:"peer_key_file"`
	TLS                 *TLS       `json:"tls"`
	Auth                *rawAuth   `json:"auth"`
}

// rawRoute is a route: a Node without its tls, which a route has no use for.
type rawRoute struct {
	ID       uint64 `json:"id" config:"required"`
	RaftAddr string `json:"raft_addr" config:"required"`
	HTTPAddr string `json:"http_addr" config:"required"`
}

type rawBadger struct {
	MemTableBytes   *int64 `json:"memtable_bytes"`
	BlockCacheBytes *int64 `json:"block_cache_bytes"`
	IndexCacheBytes *int64 `json:"index_cache_bytes"`
}

func (r *rawConfig) withDefaults() *Config {
	c := &Config{
		Nodes:               r.Nodes,
		ElectionTimeoutMS:   Range{Min: DefaultElectionMinMS, Max: DefaultElectionMaxMS},
		HeartbeatMS:         orDefault(r.HeartbeatMS, DefaultHeartbeatMS),
		DataDir:             orDefault(r.DataDir, DefaultDataDir),
		RequestTimeoutMS:    orDefault(r.RequestTimeoutMS, DefaultRequestTimeoutMS),
		MaxValueBytes:       orDefault(r.MaxValueBytes, DefaultMaxValueBytes),
		LeaseClockDriftMS:   orDefault(r.LeaseClockDriftMS, DefaultLeaseClockDriftMS),
		SnapshotEntries:     orDefault(r.SnapshotEntries, DefaultSnapshotEntries),
		SnapshotBytes:       orDefault(r.SnapshotBytes, DefaultSnapshotBytes),
		SnapshotKeepEntries: orDefault(r.SnapshotKeepEntries, DefaultSnapshotKeepEntries),
		ReadyMaxLagEntries:  orDefault(r.ReadyMaxLagEntries, DefaultReadyMaxLagEntries),
		AutoPromote:         orDefault(r.AutoPromote, true),
		Routes:              routes(r.Routes),
		PeerKeyFile:         orDefault(r.PeerKeyFile, ""),
		peerKeySet:          r.PeerKeyFile != nil,
		TLS:                 r.TLS,
		Auth:                r.Auth.withDefaults(),
		Badger: BadgerConfig{
			MemTableBytes:   DefaultMemTableBytes,
			BlockCacheBytes: DefaultBlockCacheBytes,
			IndexCacheBytes: DefaultIndexCacheBytes,
		},
	}
	if r.ElectionTimeoutMS != nil {
		c.ElectionTimeoutMS = *r.ElectionTimeoutMS
	}
	if b := r.Badger; b != nil {
		c.Badger.MemTableBytes = orDefault(b.MemTableBytes, DefaultMemTableBytes)
		c.Badger.BlockCacheBytes = orDefault(b.BlockCacheBytes, DefaultBlockCacheBytes)
		c.Badger.IndexCacheBytes = orDefault(b.IndexCacheBytes, DefaultIndexCacheBytes)
	}
	return c
}

func routes(rs []rawRoute) []Node {
	var out []Node
	for _, r := range rs {
		out = append(out, Node{ID: r.ID, RaftAddr: r.RaftAddr, HTTPAddr: r.HTTPAddr})
	}
	return out
}

func orDefault[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// decode checks data against the schema and decodes it.
func decode(name string, data []byte) (*rawConfig, error) {
	// Some editors on Windows start files with a byte order mark.
	data = bytes.TrimPrefix(data, utf8BOM)
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: file is empty; expected a JSON object", name)
	}
	if err := checkSyntax(name, data); err != nil {
		return nil, err
	}
	w := &walker{name: name, data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	w.dec.UseNumber()
	if err := w.value(configShape, ""); err != nil {
		return nil, err
	}
	at := w.next()
	if _, err := w.dec.Token(); err != io.EOF {
		return nil, w.errAt(at, "unexpected data after the top-level value")
	}

	var raw rawConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		// The walk accepted the file, so this is a gap in the schema.
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return &raw, nil
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
			return w.errAt(at, "%s: unknown field %q%s", displayPath(path), key, hint(key, sh.order))
		}
		if seen[key] {
			return w.errAt(at, "%s appears twice", join(path, key))
		}
		seen[key] = true
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
