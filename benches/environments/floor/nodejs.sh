#!/usr/bin/env bash
# The physical floor of a test build plus a test run of a Node.js app: the commands the
# examples/nodejs buildpack runs in the test environment, by hand, with a fresh npm cache.
# Usage: nodejs.sh APP_DIR WORK_DIR (WORK_DIR empty). Step times (ns) go to $STEPS.
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
export NODE_ENV=test npm_config_cache="$work/npm-cache" npm_config_prefer_offline=true \
  npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
step install npm ci --include=dev
step test npm test
