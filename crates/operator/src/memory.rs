//! Keeps the heap's resident size close to what is live. glibc's allocator keeps what a burst freed
//! (the initial lists, a wave of submissions) in its arenas, so the resident size stays at the
//! burst's peak; trimming now and then returns those pages. It also gives threads arenas of their
//! own, each fragmenting on its own: with one arena, a fresh operator holding 10,000 applications
//! measured 58.6 MiB resident against 63.0 (two arenas 62.0), at no cost that shows on a process
//! that spends most of its time waiting for the API server (docs/benchmarks.md). Musl, which the
//! image is built with, returns freed memory by itself and needs nothing here.

use std::time::Duration;

/// Trims the heap every `every`, forever.
pub async fn release_periodically(every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        release();
    }
}

/// One arena for all threads, before any starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn configure() {
    // SAFETY: mallopt only sets a parameter of the allocator; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn configure() {}

/// Returns the free pages of every arena to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release() {
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes the arena locks
    // itself and touches no memory the program owns.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release() {}
