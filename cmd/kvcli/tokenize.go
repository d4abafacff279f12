package main

import (
	"fmt"
	"strconv"
	"strings"
)

// splitArgs splits a shell line into words the way a POSIX shell would for
// the cases people type: blanks separate words; 'single quotes' keep
// everything literally; "double quotes" keep blanks and understand \" \\ \n
// \t \r \0 and \xHH (as redis-cli does, so binary values can be typed);
// outside quotes a backslash makes the next character literal. Quotes may
// join a word ("a"'b'c is abc), and "" is an empty word. An unterminated
// quote or a trailing backslash is an error naming the column.
func splitArgs(line string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool // cur holds a word, possibly empty ("")
	)
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			flush()
		case '\\':
			if i+1 == len(line) {
				return nil, fmt.Errorf("line ends with a backslash (column %d)", i+1)
			}
			i++
			cur.WriteByte(line[i])
			inWord = true
		case '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote (opened at column %d)", i+1)
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case '"':
			next, err := doubleQuoted(line, i, &cur)
			if err != nil {
				return nil, err
			}
			i = next
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words, nil
}

// doubleQuoted appends the double-quoted string opening at line[open] to
// cur and returns the index of its closing quote.
func doubleQuoted(line string, open int, cur *strings.Builder) (int, error) {
	for i := open + 1; i < len(line); i++ {
		c := line[i]
		if c == '"' {
			return i, nil
		}
		if c != '\\' {
			cur.WriteByte(c)
			continue
		}
		if i+1 == len(line) {
			break // the quote is unterminated anyway
		}
		i++
		switch e := line[i]; e {
		case '"', '\\', '\'':
			cur.WriteByte(e)
		case 'n':
			cur.WriteByte('\n')
		case 't':
			cur.WriteByte('\t')
		case 'r':
			cur.WriteByte('\r')
		case '0':
			cur.WriteByte(0)
		case 'x':
			if i+2 >= len(line) {
				return 0, fmt.Errorf(`\x at column %d wants two hex digits`, i)
			}
			b, err := strconv.ParseUint(line[i+1:i+3], 16, 8)
			if err != nil {
				return 0, fmt.Errorf(`\x at column %d wants two hex digits, got %q`, i, line[i+1:i+3])
			}
			cur.WriteByte(byte(b))
			i += 2
		default:
			// As in sh: an escape that means nothing stays as typed.
			cur.WriteByte('\\')
			cur.WriteByte(e)
		}
	}
	return 0, fmt.Errorf("unterminated double quote (opened at column %d)", open+1)
}
