module libcnb-exec-env-test/lifecycle-env-oracle

go 1.26.3

require github.com/buildpacks/lifecycle v0.21.11

require github.com/pkg/errors v0.9.1 // indirect
