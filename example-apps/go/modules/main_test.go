package main

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestItem(t *testing.T) {
	recorder := httptest.NewRecorder()
	router().ServeHTTP(recorder, httptest.NewRequest("GET", "/items/42", nil))
	var got Item
	if err := json.Unmarshal(recorder.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Item{ID: "42", Name: "item 42"}, got); diff != "" {
		t.Fatalf("GET /items/42 (-want +got):\n%s", diff)
	}
}
