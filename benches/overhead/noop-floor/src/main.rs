//! Exits 0 at once. Its wall time is the floor that process creation, the dynamic-free musl
//! start-up and the harness itself cost; the overhead benchmark reports it beside the two
//! buildpacks so the ratio can also be read above that floor.

fn main() {}
