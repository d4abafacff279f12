package transport

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"testing"
)

// zframe encodes one ZMTP 3 frame: flags (0x01 MORE, 0x02 LONG, 0x04
// COMMAND) and a 1- or 8-byte size.
func zframe(command, more, long bool, body []byte) []byte {
	var f byte
	if more {
		f |= 0x01
	}
	if command {
		f |= 0x04
	}
	var out []byte
	if long || len(body) > 255 {
		out = binary.BigEndian.AppendUint64([]byte{f | 0x02}, uint64(len(body)))
	} else {
		out = []byte{f, byte(len(body))}
	}
	return append(out, body...)
}

func greeting() []byte {
	g := make([]byte, zmtpGreetingLen)
	g[0], g[9], g[10] = 0xff, 0x7f, 3
	return g
}

// scanChunks feeds stream in chunks of random sizes (0 meaning one byte at
// a time) and returns the offset just past the byte on which each event
// fired.
func scanChunks(stream []byte, maxMsg uint64, seed int64) map[scanEvent]int {
	var s frameScanner
	s.reset(maxMsg)
	rng := rand.New(rand.NewSource(seed))
	events := make(map[scanEvent]int)
	for off := 0; off < len(stream); {
		n := 1
		if seed != 0 {
			n = 1 + rng.Intn(40)
		}
		n = min(n, len(stream)-off)
		ev := s.feed(stream[off : off+n])
		off += n
		if ev != scanNone {
			if _, seen := events[ev]; !seen {
				events[ev] = off
			}
			if ev == scanTooLarge {
				break
			}
		}
	}
	return events
}

func TestFrameScanner(t *testing.T) {
	ready := zframe(true, false, false, []byte("\x05READY\x0bSocket-Type\x00\x00\x00\x04PUSH"))
	hs := append(greeting(), ready...)
	tests := []struct {
		name    string
		stream  []byte
		maxMsg  uint64
		hsAt    int // offset where the handshake ends; 0: never
		largeAt int // offset where scanTooLarge fires; 0: never
	}{
		{"handshake only", hs, 1000, len(hs), 0},
		{"READY with a long size field", cat(greeting(), zframe(true, false, true, []byte("\x05READY"))), 1000, 64 + 9 + 6, 0},
		{"empty READY body", cat(greeting(), zframe(true, false, false, nil)), 1000, 64 + 2, 0},
		{"data within the cap", cat(hs, zframe(false, false, false, make([]byte, 100)), zframe(false, false, true, make([]byte, 1000))), 1000, len(hs), 0},
		{"data frame past the cap", cat(hs, zframe(false, false, false, make([]byte, 10)), zframe(false, false, true, make([]byte, 1001))), 1000, len(hs), len(hs) + 12 + 9},
		{"multipart within the cap", cat(hs, zframe(false, true, false, make([]byte, 500)), zframe(false, false, false, make([]byte, 200)), zframe(false, false, true, make([]byte, 1000))), 1000, len(hs), 0},
		{"multipart past the cap", cat(hs, zframe(false, true, true, make([]byte, 600)), zframe(false, false, true, make([]byte, 401))), 1000, len(hs), len(hs) + 609 + 9},
		{"huge handshake frame", cat(greeting(), []byte{0x06}, binary.BigEndian.AppendUint64(nil, 1<<40)), 1 << 50, 0, 64 + 9},
		{"anything goes after the handshake when not watching", cat(hs, []byte{0x02}, binary.BigEndian.AppendUint64(nil, 1<<60)), 0, len(hs), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, seed := range []int64{0, 1, 2, 3} {
				ev := scanChunks(tt.stream, tt.maxMsg, seed)
				if seed == 0 { // byte by byte: exact offsets
					if ev[scanHandshakeDone] != tt.hsAt || ev[scanTooLarge] != tt.largeAt {
						t.Fatalf("handshake at %d, too large at %d; want %d and %d",
							ev[scanHandshakeDone], ev[scanTooLarge], tt.hsAt, tt.largeAt)
					}
					continue
				}
				if _, ok := ev[scanTooLarge]; ok != (tt.largeAt != 0) {
					t.Fatalf("seed %d: too large=%v, want %v", seed, ok, tt.largeAt != 0)
				}
			}
		})
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
