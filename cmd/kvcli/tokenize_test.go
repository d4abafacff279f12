package main

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"", nil},
		{"   \t ", nil},
		{"get a", []string{"get", "a"}},
		{"  put   k   v  ", []string{"put", "k", "v"}},
		{`put greeting "hello world"`, []string{"put", "greeting", "hello world"}},
		{`put greeting 'hello world'`, []string{"put", "greeting", "hello world"}},
		{`put k ""`, []string{"put", "k", ""}},
		{`put k ''`, []string{"put", "k", ""}},
		{`put "" x`, []string{"put", "", "x"}},
		{`a"b c"d`, []string{"ab cd"}},
		{`"a"'b'c`, []string{"abc"}},
		{`'it''s'`, []string{"its"}},
		{`"it's"`, []string{"it's"}},
		{`'say "hi"'`, []string{`say "hi"`}},
		{`"say \"hi\""`, []string{`say "hi"`}},
		{`'no \n escapes'`, []string{`no \n escapes`}},
		{`"line1\nline2\ttab\r\\"`, []string{"line1\nline2\ttab\r\\"}},
		{`"\x00\xff\x41"`, []string{"\x00\xffA"}},
		{`"\0"`, []string{"\x00"}},
		{`"\d stays"`, []string{`\d stays`}},
		{`hello\ world`, []string{"hello world"}},
		{`a\"b`, []string{`a"b`}},
		{`back\\slash`, []string{`back\slash`}},
		{`key#1 v#2`, []string{"key#1", "v#2"}},
		{"é ü", []string{"é", "ü"}},
		{`"é ü"`, []string{"é ü"}},
		{"tab\tseparated", []string{"tab", "separated"}},
	}
	for _, tt := range tests {
		got, err := splitArgs(tt.line)
		if err != nil {
			t.Errorf("splitArgs(%q): %v", tt.line, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("splitArgs(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestSplitArgsErrors(t *testing.T) {
	tests := []struct {
		line, want string
	}{
		{`put k "hello`, "unterminated double quote (opened at column 7)"},
		{`put k 'hello`, "unterminated single quote (opened at column 7)"},
		{`"`, "unterminated double quote (opened at column 1)"},
		{`"abc\"`, "unterminated double quote"},
		{`"abc\`, "unterminated double quote"},
		{`put k v\`, "line ends with a backslash (column 8)"},
		{`"\x4"`, `wants two hex digits`},
		{`"\xzz"`, `wants two hex digits, got "zz"`},
		{`"\x`, `wants two hex digits`},
	}
	for _, tt := range tests {
		got, err := splitArgs(tt.line)
		if err == nil {
			t.Errorf("splitArgs(%q) = %q, want an error", tt.line, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("splitArgs(%q) error %q, want %q", tt.line, err, tt.want)
		}
	}
}

func FuzzSplitArgs(f *testing.F) {
	for _, s := range []string{`put "a b" 'c'`, `a\ b`, `"\x41"`, `'`, `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := splitArgs(line)
		if err != nil {
			return
		}
		// A line without quotes or backslashes splits at ASCII blanks.
		if !strings.ContainsAny(line, `"'\`) {
			want := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' })
			if !slices.Equal(words, want) {
				t.Errorf("splitArgs(%q) = %q, want %q", line, words, want)
			}
		}
	})
}
