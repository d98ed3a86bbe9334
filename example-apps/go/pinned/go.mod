module example.com/pinned

go 1.25.0

toolchain go1.25.4
