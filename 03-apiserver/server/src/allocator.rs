//! What the programs that run the API server (`orc-apiserver`, `orc`)
//! ask of their allocator, mimalloc, beyond choosing it.
//!
//! mimalloc gives the pages it no longer uses back to the kernel only
//! `purge_delay` after they were freed: 1 s in mimalloc 3, which orc
//! builds (mimalloc 2 waited 10 ms). It checks that delay when the
//! program next allocates or frees, and a page freed while others are
//! still waiting pushes the wait back: under a steady stream of frees,
//! such as sixteen LISTs streaming from the watch cache, freed pages
//! pile up resident. In the `list_memory` bench's `-- on` run, 9 MB
//! of the peak was such pages: 88 MB with the delay at 1 s, 80 MB at
//! 10 ms, 79 MB at 0 (`MIMALLOC_PURGE_DELAY`, one run each, chapter 03,
//! "The watch cache"). So the programs set mimalloc 2's 10 ms: a page
//! still freed and taken again within 10 ms costs no system call.
//!
//! It costs no CPU that can be measured: under callgrind a debug
//! `orc-apiserver` took 2.085 million instructions per create either
//! way, 10 ms or 1 s (0.02 % apart, less than two runs at 10 ms differ),
//! and a native run made some 20 `madvise` calls per 2,000 creates
//! either way (chapter 03, "The watch cache"). `mi_option_set`
//! overrides what `MIMALLOC_PURGE_DELAY` said at start, so to try
//! another delay, change [`PURGE_DELAY_MS`].

use std::ffi::{c_int, c_long};

// Links mimalloc's static library, which holds `mi_option_set`, into
// every program of this crate, its tests too.
use mimalloc as _;

/// mimalloc's `mi_option_purge_delay` (`mimalloc.h`; the same in
/// mimalloc 2 and 3).
const PURGE_DELAY: c_int = 15;

/// How long mimalloc keeps a freed page before it gives it back.
pub const PURGE_DELAY_MS: c_long = 10;

unsafe extern "C" {
    /// mimalloc's `mi_option_set`, in the static library the `mimalloc`
    /// crate links.
    fn mi_option_set(option: c_int, value: c_long);
}

/// Sets mimalloc's options for a long-running server. Call it first in
/// `main`; a program whose global allocator is not mimalloc only changes
/// an allocator it does not use.
pub fn tune_mimalloc() {
    // SAFETY: `mi_option_set` takes any option number and value; it only
    // stores the value (mimalloc reads options at each use).
    unsafe { mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) }
}
