// Command modules is a web server routed by github.com/go-chi/chi, a module from the Go module
// proxy; its tests use github.com/google/go-cmp, a test-only dependency.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"

	"github.com/go-chi/chi/v5"
)

// Item is what GET /items/{id} answers.
type Item struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func router() http.Handler {
	r := chi.NewRouter()
	r.Get("/items/{id}", func(w http.ResponseWriter, req *http.Request) {
		id := chi.URLParam(req, "id")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Item{ID: id, Name: "item " + id})
	})
	return r
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--version" {
		log.SetFlags(0)
		log.Print("modules (chi router)")
		return
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	log.Fatal(http.ListenAndServe(":"+port, router()))
}
