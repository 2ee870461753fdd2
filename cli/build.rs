//! Link settings for the `strata` and `strata-ingest` binaries.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        // Pack the ~385k relative relocations of a position-independent binary (DT_RELR,
        // glibc >= 2.36): as plain RELA entries they are a 9 MB table that the loader reads
        // whole at every start, and that stays resident in every process.
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
