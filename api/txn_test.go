package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func txnRequestOf(body string, header ...string) request {
	r := request{method: http.MethodPost, target: "/v1/txn", body: strings.NewReader(body), header: map[string]string{}}
	for i := 0; i+1 < len(header); i += 2 {
		r.header[header[i]] = header[i+1]
	}
	return r
}

type txnAnswerJSON struct {
	Succeeded *bool            `json:"succeeded"`
	Revision  uint64           `json:"revision"`
	Results   []map[string]any `json:"results"`
	Retried   bool             `json:"retried"`
}

func decodeTxn(t *testing.T, code int, body []byte) txnAnswerJSON {
	t.Helper()
	if code != http.StatusOK {
		t.Fatalf("txn: %d %s", code, body)
	}
	var a txnAnswerJSON
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil || a.Succeeded == nil || a.Results == nil {
		t.Fatalf("txn answer %s (%v)", body, err)
	}
	return a
}

func TestTxn(t *testing.T) {
	n := newStoreNode(t)
	h := n.handler(t)
	wantOK(t, serve(t, h, put("1")), 1, `"1"`)
	// Compare-and-create: k2 does not exist, so put it and read k back.
	rec := serve(t, h, txnRequestOf(`{
		"compare":[{"key":"k2","target":"version","op":"=","value":0},{"key":"k","target":"value","op":"=","value":"1"}],
		"success":[{"op":"put","key":"k2","value":"two"},{"op":"get","key":"k"},{"op":"delete","key":"k"},{"op":"get","key":"nope"}],
		"failure":[{"op":"get","key":"k2"}]}`))
	a := decodeTxn(t, rec.Code, rec.Body.Bytes())
	if !*a.Succeeded || a.Revision != 2 || len(a.Results) != 4 {
		t.Fatalf("txn answer %+v", a)
	}
	got, _ := json.Marshal(a.Results)
	want := `[{"create_revision":2,"key":"k2","mod_revision":2,"op":"put","version":1},` +
		`{"create_revision":1,"found":true,"key":"k","mod_revision":1,"op":"get","value":"1","version":1},` +
		`{"deleted":true,"key":"k","op":"delete"},{"found":false,"key":"nope","op":"get"}]`
	if string(got) != want {
		t.Fatalf("results\n %s\nwant\n %s", got, want)
	}
	if v, _ := n.st.Get([]byte("k2")); string(v) != "two" {
		t.Fatalf("k2 = %q", v)
	}
	// The same again: k2 exists now, so the failure branch runs.
	rec = serve(t, h, txnRequestOf(`{"compare":[{"key":"k2","target":"version","op":"=","value":0}],
		"success":[{"op":"put","key":"k2","value":"again"}],"failure":[{"op":"get","key":"k2"}]}`))
	a = decodeTxn(t, rec.Code, rec.Body.Bytes())
	if *a.Succeeded || a.Revision != 3 || len(a.Results) != 1 || a.Results[0]["value"] != "two" {
		t.Fatalf("second txn %+v", a)
	}
	// Binary keys and values travel base64 both ways.
	rec = serve(t, h, txnRequestOf(`{"success":[{"op":"put","key_base64":"/wA=","value_base64":"/wE="},{"op":"get","key_base64":"/wA="}]}`))
	a = decodeTxn(t, rec.Code, rec.Body.Bytes())
	if a.Results[1]["key_base64"] != "/wA=" || a.Results[1]["value_base64"] != "/wE=" {
		t.Fatalf("binary txn results %+v", a.Results)
	}
}

func TestTxnBadRequests(t *testing.T) {
	many := make([]string, 129)
	for i := range many {
		many[i] = fmt.Sprintf(`{"op":"get","key":"k%d"}`, i)
	}
	for _, tt := range []struct{ body, want string }{
		{`{}`, "empty transaction"},
		{`not json`, "transaction body"},
		{`{"success":[{"op":"put","key":"k","value":"v"}],"extra":1}`, "unknown field"},
		{`{"success":[` + strings.Join(many, ",") + `]}`, "limit is 128"},
		{`{"success":[{"op":"put","key":"k","value":"a"},{"op":"delete","key":"k"}]}`, "second write to key"},
		{`{"success":[{"op":"rename","key":"k"}]}`, "want put, delete or get"},
		{`{"success":[{"op":"put","key":""}]}`, "empty key"},
		{`{"success":[{"op":"put","key":"k"}]}`, "no value"},
		{`{"success":[{"op":"get","key":"k","value":"x"}]}`, "takes no value"},
		{`{"success":[{"op":"put","key":"k","value":"a","value_base64":"YQ=="}]}`, "together"},
		{`{"success":[{"op":"put","key":"k","value_base64":"!!"}]}`, "value_base64"},
		{`{"compare":[{"key":"k","target":"size","op":"=","value":1}]}`, "target \"size\""},
		{`{"compare":[{"key":"k","target":"version","op":"~","value":1}]}`, "op \"~\""},
		{`{"compare":[{"key":"k","target":"version","op":"=","value":"1"}]}`, "whole number"},
		{`{"compare":[{"key":"k","target":"version","op":"=","value":-1}]}`, "whole number"},
		{`{"compare":[{"key":"k","target":"version","op":"="}]}`, "takes a number"},
		{`{"compare":[{"key":"k","target":"value","op":"=","value":3}]}`, "takes a string"},
		{`{"success":[{"op":"put","key":"a","value":"` + strings.Repeat("v", 70<<10) + `"},{"op":"put","key":"b","value":"` +
			strings.Repeat("v", 70<<10) + `"}]}`, "the limit is 131072"},
		{`{"compare":[{"key":"` + strings.Repeat("k", MaxKeyBytes+1) + `","target":"version","op":"=","value":0}]}`, "limit is"},
	} {
		n := newStoreNode(t)
		rec := serve(t, n.handler(t), txnRequestOf(tt.body))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%.60s: %d %s, want 400", tt.body, rec.Code, rec.Body)
			continue
		}
		if msg := errorMessage(t, rec); !strings.Contains(msg, tt.want) {
			t.Errorf("%.60s: error %q does not mention %q", tt.body, msg, tt.want)
		}
		if n.st.AppliedIndex() != 0 {
			t.Errorf("%.60s reached the log", tt.body)
		}
	}
}

// A retried transaction (same Request-Id) answers whether its first
// application succeeded, and is not applied again.
func TestTxnRetry(t *testing.T) {
	n := newStoreNode(t)
	h := n.handler(t)
	body := `{"compare":[{"key":"k","target":"version","op":"=","value":0}],"success":[{"op":"put","key":"k","value":"mine"}]}`
	do := func(id string) txnAnswerJSON {
		rec := serve(t, h, txnRequestOf(body, RequestIDHeader, id))
		return decodeTxn(t, rec.Code, rec.Body.Bytes())
	}
	for i, tt := range []struct {
		id        string
		succeeded bool
		revision  uint64
		retried   bool
	}{
		{"c:1", true, 1, false},
		{"c:1", true, 1, true}, // the condition no longer holds, yet a success stays one
		{"c:2", false, 3, false},
		{"c:2", false, 3, true},
	} {
		a := do(tt.id)
		if *a.Succeeded != tt.succeeded || a.Revision != tt.revision || a.Retried != tt.retried {
			t.Fatalf("call %d (%s): %+v; want succeeded=%v revision=%d retried=%v", i, tt.id, a, tt.succeeded, tt.revision, tt.retried)
		}
	}
	if it, err := n.st.GetItem([]byte("k")); err != nil || it.Version != 1 || string(it.Value) != "mine" {
		t.Fatalf("k = %+v, %v: a retry was applied again", it, err)
	}
}

// Of many racing create-if-absent transactions exactly one succeeds.
func TestTxnRace(t *testing.T) {
	n := newStoreNode(t)
	h := n.handler(t)
	var wg sync.WaitGroup
	var mu sync.Mutex // guards won
	won := 0
	for i := range 16 {
		wg.Go(func() {
			rec := serve(t, h, txnRequestOf(fmt.Sprintf(`{"compare":[{"key":"lock","target":"create_revision","op":"=","value":0}],
				"success":[{"op":"put","key":"lock","value":"owner-%d"}]}`, i)))
			var a txnAnswerJSON
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || rec.Code != http.StatusOK || a.Succeeded == nil {
				t.Errorf("txn: %d %s", rec.Code, rec.Body)
				return
			}
			if *a.Succeeded {
				mu.Lock()
				won++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d transactions took the lock, want 1", won)
	}
}

func TestFollowerForwardsTxn(t *testing.T) {
	n := newStoreNode(t)
	c := newCluster(t, n.handler(t), Options{})
	rec := serve(t, c.followerH, txnRequestOf(`{"success":[{"op":"put","key":"k","value":"v"},{"op":"get","key":"k"}]}`))
	a := decodeTxn(t, rec.Code, rec.Body.Bytes())
	if !*a.Succeeded || a.Revision != 1 || a.Results[1]["value"] != "v" {
		t.Fatalf("forwarded txn %+v", a)
	}
}
