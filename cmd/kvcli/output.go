package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// field is one member of a jsonObject.
type field struct {
	name  string
	value any
}

// jsonObject is a JSON object whose members keep the order written, so
// -o json reads like the text output (key first, then value).
type jsonObject []field

func (o jsonObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		name, err := json.Marshal(f.name)
		if err != nil {
			return nil, err
		}
		value, err := json.Marshal(f.value)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", f.name, err)
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(value)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	out, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = w.Write(append(out, '\n'))
	return err
}

// textOrBase64 builds {"key":..., valueName: ...} the way the server's API
// does: text when the bytes are valid UTF-8, else "<name>_base64". A
// non-[]byte value is written as is.
func textOrBase64(keyName string, key []byte, valueName string, value any) jsonObject {
	o := jsonObject{bytesField(keyName, key)}
	if v, ok := value.([]byte); ok {
		return append(o, bytesField(valueName, v))
	}
	return append(o, field{valueName, value})
}

func bytesField(name string, b []byte) field {
	if utf8.Valid(b) {
		return field{name, string(b)}
	}
	return field{name + "_base64", base64.StdEncoding.EncodeToString(b)}
}

// isGraphic reports whether r prints as itself on one line.
func isGraphic(r rune) bool { return unicode.IsGraphic(r) && !unicode.IsSpace(r) }

// hostPort shortens a normalized endpoint for people: "http://h:1" is
// "h:1"; https keeps its scheme, since it is not the default.
func hostPort(endpoint string) string { return strings.TrimPrefix(endpoint, "http://") }

// humanBytes shows a size for people in binary units with one decimal,
// "12.3MiB"; below 1KiB, exact bytes.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, exp := float64(n)/unit, 0
	for v >= unit && exp < 5 {
		v /= unit
		exp++
	}
	// 1023.96KiB would print as 1024.0KiB: say 1.0MiB instead.
	if s := fmt.Sprintf("%.1f", v); s == "1024.0" && exp < 5 {
		v /= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", v, "KMGTPE"[exp])
}
