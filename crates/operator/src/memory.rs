//! Gives freed heap back to the system. glibc's allocator keeps what a burst freed (the initial
//! lists, a wave of submissions) in its arenas, so the resident size stays at the burst's peak;
//! trimming now and then returns those pages. Musl, which the image is built with, returns freed
//! memory by itself and needs nothing here.

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
