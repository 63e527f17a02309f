//! Heap measurement for tests and benches: [`PeakHeap`], a global allocator that
//! tracks, per thread and only while asked, the net bytes allocated and their peak,
//! and [`peak_heap`], which measures one closure with it. A test binary installs it
//! with `#[global_allocator] static GLOBAL: PeakHeap = PeakHeap;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, with per-thread net and peak byte counts while tracking.
pub struct PeakHeap;

thread_local! {
    /// Net bytes allocated on this thread and their peak, while tracking is on.
    static LIVE: Cell<Option<(i64, i64)>> = const { Cell::new(None) };
}

fn track(delta: i64) {
    // `try_with`: the slot may be gone during thread teardown.
    let _ = LIVE.try_with(|c| {
        if let Some((live, peak)) = c.get() {
            c.set(Some((live + delta, peak.max(live + delta))));
        }
    });
}

// SAFETY: every call forwards to the system allocator unchanged; the counting
// touches only a thread-local cell and never allocates.
unsafe impl GlobalAlloc for PeakHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as i64);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as i64));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as i64 - layout.size() as i64);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and returns its result with the peak net heap, in bytes, it allocated on
/// this thread. Meaningful only where [`PeakHeap`] is the global allocator (0
/// otherwise).
pub fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, i64) {
    LIVE.with(|c| c.set(Some((0, 0))));
    let out = f();
    let (_, peak) = LIVE.with(|c| c.replace(None)).unwrap_or((0, 0));
    (out, peak)
}
