//! Operating-system services the runtime needs outside the recording path: the heavy half of
//! the asymmetric fence, the calling thread's OS id and name, reserving the pool file's disk
//! space. One file per platform, chosen by
//! `cfg` (parking_lot's `thread_parker` layout).

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
pub(crate) use other::*;
