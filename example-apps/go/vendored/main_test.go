package main

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestRequestID(t *testing.T) {
	id := RequestID()
	if !strings.HasPrefix(id, "req-") {
		t.Fatalf("RequestID() = %q", id)
	}
	if _, err := uuid.Parse(strings.TrimPrefix(id, "req-")); err != nil {
		t.Fatalf("RequestID() = %q: %v", id, err)
	}
}
