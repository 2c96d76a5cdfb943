//! The guest's memory allocator: dlmalloc, started on a zeroed arena that
//! is part of the plugin's initial memory.
//!
//! Every decision runs in a fresh instance. With the standard library's
//! allocator the first allocation of every instance grows linear memory by
//! a page (it never uses the room the linker leaves above the heap base),
//! and each growth costs the host two `mprotect` calls, a TLB flush on
//! every core and, under load, contention on the process's memory map.
//! Starting dlmalloc on a static arena (in `.bss`: no bytes in the
//! component, zero pages until touched) means a typical decision never
//! grows memory at all; a decision that needs more grows it as usual, up to
//! the tenant's memory limit.
//!
//! Plugins are single-threaded, so the allocator needs no lock.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;

/// Bytes of the arena: room for a large profile's input, the plugin's
/// working data and its output.
const ARENA_BYTES: usize = 1 << 20;

const WASM_PAGE: usize = 64 << 10;

#[repr(C, align(65536))]
struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);

// SAFETY: the guest is single-threaded.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_BYTES]));

/// Where dlmalloc gets its memory: the arena once, then `memory.grow`.
struct System {
    arena_given: UnsafeCell<bool>,
}

// SAFETY: the guest is single-threaded.
unsafe impl Send for System {}

// SAFETY: every region handed out is memory this instance owns, zeroed,
// and never handed out twice.
unsafe impl dlmalloc::Allocator for System {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        // SAFETY: single-threaded; dlmalloc calls this with its lock held.
        let given = unsafe { &mut *self.arena_given.get() };
        if !*given && size <= ARENA_BYTES {
            *given = true;
            return (ARENA.0.get().cast(), ARENA_BYTES, 0);
        }
        let pages = size.div_ceil(WASM_PAGE);
        let previous = core::arch::wasm32::memory_grow(0, pages);
        if previous == usize::MAX {
            return (ptr::null_mut(), 0, 0);
        }
        ((previous * WASM_PAGE) as *mut u8, pages * WASM_PAGE, 0)
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        WASM_PAGE
    }
}

struct Global(UnsafeCell<dlmalloc::Dlmalloc<System>>);

// SAFETY: the guest is single-threaded.
unsafe impl Sync for Global {}

#[global_allocator]
static GLOBAL: Global = Global(UnsafeCell::new(dlmalloc::Dlmalloc::new_with_allocator(System {
    arena_given: UnsafeCell::new(false),
})));

// SAFETY: forwards to dlmalloc, which upholds `GlobalAlloc`'s contract; no
// two calls overlap on a single-threaded guest.
unsafe impl GlobalAlloc for Global {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { (*self.0.get()).malloc(layout.size(), layout.align()) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { (*self.0.get()).calloc(layout.size(), layout.align()) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { (*self.0.get()).free(ptr, layout.size(), layout.align()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { (*self.0.get()).realloc(ptr, layout.size(), layout.align(), new_size) }
    }
}
