package main

import (
	"io"
	"net/http/httptest"
	"testing"
)

func TestGreeting(t *testing.T) {
	if got := Greeting(""); got != "Hello, world!" {
		t.Fatalf("Greeting(\"\") = %q", got)
	}
	if got := Greeting("Gopher"); got != "Hello, Gopher!" {
		t.Fatalf("Greeting(\"Gopher\") = %q", got)
	}
}

func TestHandler(t *testing.T) {
	server := httptest.NewServer(handler())
	defer server.Close()
	response, err := server.Client().Get(server.URL + "/?name=test")
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(response.Body)
	if string(body) != "Hello, test!\n" {
		t.Fatalf("GET / = %q", body)
	}
}
