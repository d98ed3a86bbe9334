#!/usr/bin/env bash
# The physical floor of a test build plus a test run of a Ruby app: the commands the
# examples/ruby buildpack runs in the test environment, by hand, into a fresh bundle path.
# Usage: ruby.sh APP_DIR WORK_DIR (WORK_DIR empty). Step times (ns) go to $STEPS.
# TEST_COMMAND: the image's test process command (from the platform build's report).
# No `runtime` step: unlike the Node.js and Go buildpacks, the Ruby buildpack installs no
# runtime into a layer (it runs the `ruby` and `bundle` on PATH), so by hand there is none either.
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
export BUNDLE_PATH="$work/bundle" BUNDLE_WITHOUT=development RACK_ENV=test RAILS_ENV=test
local_flags=()
[ -d vendor/cache ] && local_flags=(--local --no-cache)
step install bundle install "${local_flags[@]}"
step test sh -c "${TEST_COMMAND:-bundle exec rake test}"
