package workload

import (
	"strings"
	"testing"
	"time"
)

func TestCheckLeases(t *testing.T) {
	const s = int64(time.Second)
	ttl := 3 * time.Second
	ok := LeaseRecord{ID: 1, Key: "a", TTL: ttl, Restarts: []int64{0, 2 * s}, Attached: s / 2,
		Gone: [][2]int64{{5 * s, 5*s + s/10}}, LetGo: 3 * s, Expired: 5*s + s/10, LastTry: 2 * s}
	for _, tt := range []struct {
		name string
		rec  LeaseRecord
		want string // a violation containing this; "" for none
	}{
		{"expired after its last restart plus the TTL", ok, ""},
		{"gone before the TTL after its last keepalive", func() LeaseRecord {
			r := ok
			r.Gone = [][2]int64{{4 * s, 4*s + s/2}} // bound is 5s
			return r
		}(), "found gone at 4.5s, before 5s"},
		{"a keepalive acknowledged after the key was seen gone", func() LeaseRecord {
			r := ok
			r.Restarts = []int64{0, 2 * s, 6 * s}
			return r
		}(), "before 9s"},
		{"let go and never expired", func() LeaseRecord {
			r := ok
			r.Gone, r.Expired = nil, 0
			return r
		}(), "never expired"},
		{"never attached: not checked", LeaseRecord{ID: 2, TTL: ttl, Restarts: []int64{0}, LetGo: s}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := CheckLeases([]LeaseRecord{tt.rec})
			got := strings.Join(res.Violations, "; ")
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("violations %q; want one containing %q", got, tt.want)
			}
		})
	}
	res := CheckLeases([]LeaseRecord{ok, {ID: 2, TTL: ttl, Restarts: []int64{0}}})
	if res.Leases != 2 || res.Checked != 1 || res.KeepAlives != 1 || res.Expired != 1 {
		t.Fatalf("counts %+v", res)
	}
}
