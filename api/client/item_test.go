package client

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The server and the fake node encode items with WireItem and EncodeBytes,
// so the JSON here is the server's exact bytes, and decoding it must give
// back what was encoded.
func TestWireItemRoundTrip(t *testing.T) {
	ttl := int64(1500)
	for _, tc := range []struct {
		name       string
		key, value []byte
		edit       func(*WireItem)
		json       string
		want       Item
	}{
		{"text", []byte("a/1"), []byte("hello"), nil,
			`{"key":"a/1","value":"hello","create_revision":2,"mod_revision":3,"version":4}`,
			Item{Key: "a/1", Value: []byte("hello"), CreateRevision: 2, ModRevision: 3, Version: 4, TTLRemaining: -1}},
		{"binary", []byte("k\xff"), []byte{0, 0xfe, 0xff}, nil,
			`{"key_base64":"a/8=","value_base64":"AP7/","create_revision":2,"mod_revision":3,"version":4}`,
			Item{Key: "k\xff", Value: []byte{0, 0xfe, 0xff}, CreateRevision: 2, ModRevision: 3, Version: 4, TTLRemaining: -1}},
		{"empty value", []byte("k"), nil, nil,
			`{"key":"k","value":"","create_revision":2,"mod_revision":3,"version":4}`,
			Item{Key: "k", Value: []byte{}, CreateRevision: 2, ModRevision: 3, Version: 4, TTLRemaining: -1}},
		{"lease", []byte("k"), []byte("v"), func(w *WireItem) { w.Lease, w.TTLRemainingMS = 9, &ttl },
			`{"key":"k","value":"v","create_revision":2,"mod_revision":3,"version":4,"lease":9,"ttl_remaining_ms":1500}`,
			Item{Key: "k", Value: []byte("v"), CreateRevision: 2, ModRevision: 3, Version: 4, Lease: 9, TTLRemaining: 1500 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := WireItem{CreateRevision: 2, ModRevision: 3, Version: 4}
			w.Key, w.KeyBase64 = EncodeBytes(tc.key)
			w.Value, w.ValueBase64 = EncodeBytes(tc.value)
			if tc.edit != nil {
				tc.edit(&w)
			}
			b, err := json.Marshal(w)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.json {
				t.Fatalf("encoded %s, want %s", b, tc.json)
			}
			var back WireItem
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			got, err := back.Item()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decoded %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestWireItemMissingField(t *testing.T) {
	for _, tc := range []struct{ json, err string }{
		{`{"value":"v","create_revision":1,"mod_revision":1,"version":1}`, "key: neither text nor base64 present"},
		{`{"key":"k","create_revision":1,"mod_revision":1,"version":1}`, "value: neither text nor base64 present"},
		{`{"key":"k","value_base64":"!!"}`, "value: illegal base64"},
	} {
		var w WireItem
		if err := json.Unmarshal([]byte(tc.json), &w); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Item(); err == nil || !strings.HasPrefix(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want %q", tc.json, err, tc.err)
		}
	}
}
