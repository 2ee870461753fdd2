//! Link settings for the `strata` and `strata-ingest` binaries, and the id of the sources
//! they are built from.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

/// What the binaries are built from: every workspace crate's manifest and sources, the
/// built-in project and the lock file. Tests, docs and examples are not compiled in.
const INPUTS: [&str; 14] = [
    "Cargo.toml",
    "Cargo.lock",
    "schemas",
    "schemas/registry",
    "quality",
    "pipelines",
    "project",
    "bronze",
    "silver",
    "gold",
    "orchestration",
    "ingest",
    "serve",
    "cli",
];

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
    source_id();
}

/// `CLI_SOURCE_ID`: `strata ingest` hands over to `strata-ingest` only when both were
/// built from the same sources (`cargo build --bin strata` leaves an older one beside it).
fn source_id() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let root = Path::new(&manifest).join("..");
    let mut files = Vec::new();
    for input in INPUTS {
        let path = root.join(input);
        if path.is_file() {
            println!("cargo:rerun-if-changed={}", path.display());
            files.push(path);
            continue;
        }
        for part in ["Cargo.toml", "src", "builtin"] {
            let p = path.join(part);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
                walk(&p, &mut files);
            }
        }
    }
    files.sort();
    let mut hasher = DefaultHasher::new();
    for f in &files {
        f.strip_prefix(&root).unwrap_or(f).hash(&mut hasher);
        std::fs::read(f).unwrap_or_default().hash(&mut hasher);
    }
    println!("cargo:rustc-env=CLI_SOURCE_ID={:016x}", hasher.finish());
}

fn walk(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_file() {
        files.push(path.to_path_buf());
        return;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        walk(&entry.path(), files);
    }
}
