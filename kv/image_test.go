package kv

import (
	"bytes"
	"errors"
	"testing"
)

func encodeImage(t testing.TB, index, term uint64, pairs [][2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	iw, err := newImageWriter(&buf, index, term)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pairs {
		if err := iw.add([]byte(p[0]), []byte(p[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := iw.finish(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decodeImage(b []byte) (index, term uint64, pairs [][2]string, err error) {
	ir, err := newImageReader(bytes.NewReader(b))
	if err != nil {
		return 0, 0, nil, err
	}
	err = ir.each(func(k, v []byte) error {
		pairs = append(pairs, [2]string{string(k), string(v)})
		return nil
	})
	return ir.index, ir.term, pairs, err
}

func TestImageRejectsBadPairs(t *testing.T) {
	tests := []struct {
		name  string
		pairs [][2]string
		want  string
	}{
		{"out of order", [][2]string{{"ub", "1"}, {"ua", "2"}}, "out of order"},
		{"duplicate", [][2]string{{"ua", "1"}, {"ua", "2"}}, "out of order"},
		{"foreign namespace", [][2]string{{"!badger!head", "x"}}, "namespaces"},
		{"empty key", [][2]string{{"", "x"}}, "namespaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := decodeImage(encodeImage(t, 1, 1, tt.pairs))
			if !errors.Is(err, ErrBadImage) || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Fatalf("decode = %v, want ErrBadImage mentioning %q", err, tt.want)
			}
		})
	}
	// Frames are cut at frameTarget; a pair larger than that gets its own.
	big := string(bytes.Repeat([]byte("x"), frameTarget+10))
	pairs := [][2]string{{"md", big}, {"ua", "1"}, {"ub", big}, {"uc", ""}}
	idx, term, got, err := decodeImage(encodeImage(t, 9, 8, pairs))
	if err != nil || idx != 9 || term != 8 || len(got) != len(pairs) {
		t.Fatalf("decode = (%d, %d, %d pairs, %v)", idx, term, len(got), err)
	}
	for i := range pairs {
		if got[i] != pairs[i] {
			t.Fatalf("pair %d differs", i)
		}
	}
}

func FuzzImageReader(f *testing.F) {
	f.Add(encodeImage(f, 3, 2, [][2]string{{"mx", "1"}, {"ua", "b"}}))
	f.Add(encodeImage(f, 0, 0, nil))
	f.Add([]byte(imageMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		index, term, pairs, err := decodeImage(b)
		if err != nil {
			return
		}
		// Whatever decodes cleanly survives a round trip (frame cuts may
		// differ, the content may not).
		i2, t2, p2, err := decodeImage(encodeImage(t, index, term, pairs))
		if err != nil || i2 != index || t2 != term || len(p2) != len(pairs) {
			t.Fatalf("round trip: (%d, %d, %d pairs, %v), want (%d, %d, %d pairs)", i2, t2, len(p2), err, index, term, len(pairs))
		}
		for i := range pairs {
			if p2[i] != pairs[i] {
				t.Fatalf("round trip changed pair %d", i)
			}
		}
	})
}
