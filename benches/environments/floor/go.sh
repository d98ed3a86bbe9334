#!/usr/bin/env bash
# The physical floor of a test build plus a test run of a Go app: the commands the examples/go
# buildpack runs in the test environment, by hand, with fresh GOCACHE and GOMODCACHE.
# (The buildpack also copies the toolchain into a launch layer; a shell script needs no copy.)
# Usage: go.sh APP_DIR WORK_DIR (WORK_DIR empty). Step times (ns) go to $STEPS.
set -euo pipefail
app="$1" work="$2"
step() {
  local name="$1" start
  shift
  start=$(date +%s%N)
  "$@"
  echo "$name $(($(date +%s%N) - start))" >>"$STEPS"
}
step copy cp -a "$app/." "$work/app"
cd "$work/app"
export GOCACHE="$work/go-build" GOMODCACHE="$work/go-mod" GOFLAGS="-modcacherw -buildvcs=false -trimpath" \
  CGO_ENABLED=0 GOTOOLCHAIN=local
step download go mod download -json >/dev/null
step list go list -e -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./... >/dev/null
step precompile go test -run '^$' ./...
step test go test ./...
