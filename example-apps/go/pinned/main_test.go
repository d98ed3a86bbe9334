package main

import "testing"

// The test runs with the toolchain the go.mod pins, also at launch of a test image.
func TestPinnedToolchain(t *testing.T) {
	if got := BuiltWith(); got != "go1.25.4" {
		t.Fatalf("built with %s, want go1.25.4 (the toolchain line of go.mod)", got)
	}
}
