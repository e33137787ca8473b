//! orc's runtime command line, built inside the lab so the walkthrough can
//! run it (a dependency's binaries are not built for a crate's tests).

fn main() {
    orc_container::cli::main(std::env::args())
}
