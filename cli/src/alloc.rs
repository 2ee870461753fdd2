//! The allocator of `strata`: jemalloc for refinement and serving, glibc's for `ingest`.
//!
//! A 10M-event replay ran in 78-86 s with jemalloc (two arenas) against 102-127 s with glibc's
//! allocator in the same session, at the same peak RSS: glibc spent a fifth of the CPU in
//! arena locks and page faults. Ingest is the opposite: with jemalloc its peak RSS with a
//! 1M-record backlog was 269-280 MiB against 202-226 MiB with glibc's, tuned below. The choice
//! is made before `main`, from the arguments, so every block is freed by the allocator that
//! made it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

use tikv_jemallocator::Jemalloc;

/// Set once, before the first allocation, when the command is `ingest`.
static SYSTEM: AtomicBool = AtomicBool::new(false);

pub struct Allocator;

#[global_allocator]
static ALLOCATOR: Allocator = Allocator;

/// jemalloc's options, read when it starts. Two arenas: by default there are four per core,
/// and pages freed in each stay with it, which raised a replay's peak RSS without making it
/// faster.
#[allow(unsafe_code, non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8] = b"narenas:2\0";

/// The allocator of this process.
fn chosen() -> &'static dyn GlobalAlloc {
    match SYSTEM.load(Ordering::Relaxed) {
        true => &System,
        false => &Jemalloc,
    }
}

// SAFETY: every call goes to `chosen()`, the same allocator for the whole process (SYSTEM is
// set before any allocation), so each block is freed and resized by the allocator that made
// it; the callers' guarantees are forwarded unchanged.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { chosen().alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { chosen().alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { chosen().dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { chosen().realloc(ptr, layout, new_size) }
    }
}

/// glibc runs the functions of `.init_array` before `main` with the process's arguments.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[allow(unsafe_code)]
#[unsafe(link_section = ".init_array")]
static CHOOSE: extern "C" fn(libc::c_int, *const *const libc::c_char) = choose;

/// `ingest` among the arguments selects glibc's allocator, tuned as `strata-ingest` runs it
/// (this is the path when `strata ingest` cannot hand over to that binary). An argument
/// that only looks like the command (`--lake ingest`) picks the other allocator: slower or
/// larger, never wrong.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
extern "C" fn choose(argc: libc::c_int, argv: *const *const libc::c_char) {
    let count = usize::try_from(argc).unwrap_or(0);
    if argv.is_null() {
        return;
    }
    // SAFETY: glibc passes `argc` valid NUL-terminated strings in `argv`.
    let ingest = (1..count).any(|i| unsafe {
        let arg = *argv.add(i);
        !arg.is_null() && std::ffi::CStr::from_ptr(arg).to_bytes() == b"ingest"
    });
    if ingest {
        SYSTEM.store(true, Ordering::Relaxed);
        strata_cli::start::tune_glibc_malloc();
    }
}
