// Command lifecycle-env-oracle applies env directories with the real lifecycle's env package
// (github.com/buildpacks/lifecycle/env, v0.21.11), for the local platform's differential fuzz
// test (src/builtin/env_files.rs). It reads one JSON request per line on stdin,
// {"dir": "...", "env": {...}, "platform": "..."}, and writes one JSON line per request:
// {"env": {...}} or {"error": "..."}.
package main

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"

	"github.com/buildpacks/lifecycle/env"
)

type request struct {
	Dir      string            `json:"dir"`
	Env      map[string]string `json:"env"`
	Platform string            `json:"platform"`
}

type response struct {
	Env   map[string]string `json:"env,omitempty"`
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
