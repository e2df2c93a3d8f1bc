//! [`CallArena`]: a fast allocator for connectors that keep nothing from one
//! call to the next (format connectors, typically).
//!
//! Allocation bumps a pointer through an arena; the arena is reset when its
//! last live allocation is freed, which happens after every call once the
//! host has copied the results out. A connector that does keep an allocation
//! alive across calls still works: the arena then fills up and further
//! allocations go to the standard allocator. Large allocations go there too.
//! What a connector means to keep (a cache of its last answer) it allocates
//! inside [`CallArena::outside`], from the standard allocator, so that the
//! arena still empties after each call.
//!
//! ```ignore
//! #[cfg(target_arch = "wasm32")]
//! #[global_allocator]
//! static ALLOC: surveyor_sdk::CallArena = surveyor_sdk::CallArena::new();
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Arena size: 8 MiB, taken from the instance's memory on first use.
#[cfg(target_arch = "wasm32")]
const ARENA: usize = 8 << 20;
/// Allocations larger than this bypass the arena.
const LARGE: usize = 1 << 20;
#[cfg(target_arch = "wasm32")]
const PAGE: usize = 65536;

pub struct CallArena {
    start: Cell<usize>,
    next: Cell<usize>,
    end: Cell<usize>,
    live: Cell<usize>,
    /// Inside [`CallArena::outside`]: every allocation bypasses the arena.
    bypass: Cell<bool>,
}

// SAFETY: a wasm32 component instance is single-threaded (no `atomics`
// target feature), so the cells are never accessed concurrently.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl Sync for CallArena {}

impl CallArena {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        CallArena {
            start: Cell::new(0),
            next: Cell::new(0),
            end: Cell::new(0),
            live: Cell::new(0),
            bypass: Cell::new(false),
        }
    }

    /// Runs `f` with its allocations taken from the standard allocator, for
    /// what the connector keeps from one call to the next; freeing them
    /// later needs nothing special.
    pub fn outside<R>(&self, f: impl FnOnce() -> R) -> R {
        let was = self.bypass.replace(true);
        let out = f();
        self.bypass.set(was);
        out
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        let p = ptr as usize;
        p >= self.start.get() && p < self.end.get()
    }

    #[cfg(target_arch = "wasm32")]
    fn reserve(&self) -> bool {
        let old = core::arch::wasm32::memory_grow(0, ARENA / PAGE);
        if old == usize::MAX {
            return false;
        }
        self.start.set(old * PAGE);
        self.next.set(old * PAGE);
        self.end.set(old * PAGE + ARENA);
        true
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn reserve(&self) -> bool {
        false
    }

    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        if layout.size() > LARGE || self.bypass.get() || (self.start.get() == 0 && !self.reserve()) {
            return None;
        }
        let p = self.next.get().checked_add(layout.align() - 1)? & !(layout.align() - 1);
        let end = p.checked_add(layout.size())?;
        if end > self.end.get() {
            return None;
        }
        self.next.set(end);
        self.live.set(self.live.get() + 1);
        Some(p as *mut u8)
    }
}

unsafe impl GlobalAlloc for CallArena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(p) => p,
            // SAFETY: forwarding the caller's valid layout.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.owns(ptr) {
            let live = self.live.get() - 1;
            self.live.set(live);
            if live == 0 {
                self.next.set(self.start.get());
            } else if ptr as usize + layout.size() == self.next.get() {
                // The most recent allocation: give its space back at once.
                self.next.set(ptr as usize);
            }
        } else {
            // SAFETY: `ptr` came from `System` (it is not in the arena).
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if self.owns(ptr) && ptr as usize + layout.size() == self.next.get() {
            // The most recent allocation grows (or shrinks) in place when it fits.
            if let Some(end) = (ptr as usize).checked_add(new_size)
                && end <= self.end.get()
                && new_size <= LARGE
            {
                self.next.set(end);
                return ptr;
            }
        }
        // SAFETY: same contract as `GlobalAlloc::realloc`'s default.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Natively the arena never reserves memory: everything goes to `System`.
    #[test]
    fn without_wasm_memory_it_is_the_system_allocator() {
        let a = CallArena::new();
        let layout = Layout::from_size_align(64, 8).unwrap();
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            assert!(!a.owns(p));
            let p = a.realloc(p, layout, 128);
            a.dealloc(p, Layout::from_size_align(128, 8).unwrap());
        }
    }
}
