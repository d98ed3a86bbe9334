//! `cnb-local`: build and launch apps with buildpacks, without Docker.

fn main() {
    eprintln!("cnb-local: not implemented yet");
    std::process::exit(2);
}
