#!/usr/bin/env bash
# The physical floor of a test build plus a test run of a Go app: the commands the examples/go
# buildpack runs in the test environment, by hand, with fresh GOCACHE and GOMODCACHE.
# The buildpack copies the GOROOT of the `go` on PATH into its `go-toolchain` layer (the test
# image needs Go at launch) and runs every go command with that toolchain. Issue 17's goal
# compares the platform with the same commands run by hand, so this floor does that copy too,
# as the timed step `runtime` (`cp -a "$(go env GOROOT)"` into WORK_DIR/go), and runs the go
# commands with GOROOT and PATH set to the copy. The harness also reports the ratio without the
# `runtime` step.
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
copy_goroot() {
  cp -a "$(GOTOOLCHAIN=local go env GOROOT)" "$work/go"
}
step copy cp -a "$app/." "$work/app"
step runtime copy_goroot
export GOROOT="$work/go" PATH="$work/go/bin:$PATH"
cd "$work/app"
export GOCACHE="$work/go-build" GOMODCACHE="$work/go-mod" GOFLAGS="-modcacherw -buildvcs=false -trimpath" \
  CGO_ENABLED=0 GOTOOLCHAIN=local
step download go mod download -json >/dev/null
step list go list -e -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./... >/dev/null
step precompile go test -run '^$' ./...
step test go test ./...
