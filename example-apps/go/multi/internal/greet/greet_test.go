package greet

import "testing"

func TestMessage(t *testing.T) {
	if got := Message("a"); got != "hello from a" {
		t.Fatalf("Message(\"a\") = %q", got)
	}
}
