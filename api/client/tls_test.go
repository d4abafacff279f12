package client

import (
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/tlsconf"
)

func TestNormalizeScheme(t *testing.T) {
	cfg, err := tlsconf.ClientConfig(tlsconf.Files{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New([]string{"a:1", "http://b:2"}, time.Second, WithTLS(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// An explicit http:// stays: the server's 400 then says what is wrong.
	if got := c.Endpoints(); got[0] != "https://a:1" || got[1] != "http://b:2" {
		t.Fatalf("Endpoints = %v", got)
	}
	if got, _ := c.Normalize("c:3"); got != "https://c:3" {
		t.Fatalf("Normalize = %q", got)
	}
	if got, _ := Normalize("c:3"); got != "http://c:3" {
		t.Fatalf("package Normalize = %q", got)
	}
}
