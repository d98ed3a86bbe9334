// Command lifecycle-env-oracle applies env directories with the real lifecycle's env package
// (github.com/buildpacks/lifecycle/env, v0.21.11), for the local platform's differential fuzz
// test (src/builtin/env_files.rs), and decodes `<layer>.toml` files with the lifecycle's
// buildpack package (src/platform/layer_toml_fuzz.rs). It is one long-running process: it reads
// one JSON request per line on stdin, {"dir": "...", "env": {...}, "platform": "..."} or
// {"layer_toml": "<path>"}, and writes one JSON line per request: {"env": {...}},
// {"types": {"launch": ..., "build": ..., "cache": ...}} or {"error": "..."}.
package main

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"

	"github.com/buildpacks/lifecycle/buildpack"
	"github.com/buildpacks/lifecycle/env"
)

type request struct {
	Dir      string            `json:"dir"`
	Env      map[string]string `json:"env"`
	Platform string            `json:"platform"`
	// LayerToml is the path of a `<layer>.toml` to decode as the lifecycle's restorer and
	// builder do (buildpack.DecodeLayerMetadataFile).
	LayerToml string `json:"layer_toml"`
}

type types struct {
	Launch bool `json:"launch"`
	Build  bool `json:"build"`
	Cache  bool `json:"cache"`
}

type response struct {
	Env   map[string]string `json:"env,omitempty"`
	Types *types            `json:"types,omitempty"`
	Error string            `json:"error,omitempty"`
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			_ = out.Encode(response{Error: err.Error()})
			continue
		}
		if req.LayerToml != "" {
			lmf, err := buildpack.DecodeLayerMetadataFile(req.LayerToml, "0.12", nil)
			if err != nil {
				_ = out.Encode(response{Error: err.Error()})
			} else {
				_ = out.Encode(response{Types: &types{Launch: lmf.Launch, Build: lmf.Build, Cache: lmf.Cache}})
			}
			continue
		}
		e := env.Env{RootDirMap: env.POSIXBuildEnv, Vars: env.NewVars(req.Env, false)}
		var list []string
		var err error
		if req.Platform != "" {
			list, err = e.WithOverrides(req.Platform, "")
		} else if err = e.AddEnvDir(req.Dir, env.ActionTypeOverride); err == nil {
			list = e.List()
		}
		if err != nil {
			_ = out.Encode(response{Error: err.Error()})
			continue
		}
		vars := map[string]string{}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
		_ = out.Encode(response{Env: vars})
	}
}
