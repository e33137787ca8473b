//! `orc-container`: the runc-compatible command line. All of it is in
//! [`orc_container::cli`], so other binaries can embed the same runtime.

fn main() {
    orc_container::cli::main(std::env::args())
}
