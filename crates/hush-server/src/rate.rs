//! Rate limits over time: how often one network address may knock on the doors anyone can
//! open (register, start a device link, ask guardians, try a recovery, any request without
//! a device), and how often one device may call the API. GCRA from the `governor` crate:
//! each key has a burst and refills at a steady rate; a refused request is told, in
//! `Retry-After`, when the next one will pass.
//!
//! What is counted per account instead (the slots of link and guardian requests, failed
//! recovery attempts) lives in the store; those slots are kept by replacing the oldest, so
//! the per-address limits here are what holds a stranger's pace. Compared with
//! Signal-Server's limiters (per number and per address for registration and
//! verification, per account for PIN guesses): hush's recovery secret is a 256-bit phrase,
//! not a PIN, so the right key is never refused and only wrong guesses are counted.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::limits::{RateLimit, RATE_ANONYMOUS, RATE_DEVICE, RATE_GUARDIAN_REQUEST, RATE_LINK, RATE_RECOVERY, RATE_REGISTER};

/// What a limit guards; each has its own buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// Any request that names no device (or names `recovery`).
    Anonymous,
    /// `POST /v1/register`.
    Register,
    /// `POST /v1/link`.
    Link,
    /// `POST /v1/guardian-requests`.
    GuardianRequest,
    /// `GET /v1/recovery/…`.
    Recovery,
}

/// Every limiter of one server.
pub struct Limiters {
    anonymous: Keyed<IpAddr>,
    register: Keyed<IpAddr>,
    link: Keyed<IpAddr>,
    guardian_request: Keyed<IpAddr>,
    recovery: Keyed<IpAddr>,
    device: Keyed<String>,
}

struct Keyed<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

/// Most keys a limiter remembers before it forgets those whose buckets are full again.
const FORGET_ABOVE: usize = 50_000;

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(limit: RateLimit) -> Self {
        let per = NonZeroU32::new(limit.per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limit.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Keyed { limiter: RateLimiter::keyed(Quota::per_minute(per).allow_burst(burst)) }
    }

    fn check(&self, key: &K) -> Result<(), Duration> {
        if self.limiter.len() > FORGET_ABOVE {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(key).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

impl Default for Limiters {
    fn default() -> Self {
        Limiters {
            anonymous: Keyed::new(RATE_ANONYMOUS),
            register: Keyed::new(RATE_REGISTER),
            link: Keyed::new(RATE_LINK),
            guardian_request: Keyed::new(RATE_GUARDIAN_REQUEST),
            recovery: Keyed::new(RATE_RECOVERY),
            device: Keyed::new(RATE_DEVICE),
        }
    }
}

impl Limiters {
    /// Counts a knock of `ip` at `door`; `Err` says how long until one passes again.
    pub fn address(&self, door: Door, ip: IpAddr) -> Result<(), Duration> {
        let keyed = match door {
            Door::Anonymous => &self.anonymous,
            Door::Register => &self.register,
            Door::Link => &self.link,
            Door::GuardianRequest => &self.guardian_request,
            Door::Recovery => &self.recovery,
        };
        keyed.check(&ip)
    }

    /// Counts a request of a device whose signature verified.
    pub fn device(&self, device_id: &str) -> Result<(), Duration> {
        self.device.check(&device_id.to_owned())
    }
}

/// The address a connection comes from, as the router's handlers see it (`ConnectInfo`,
/// set for each request by `conn`).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

/// Whole seconds to wait, at least one (for `Retry-After`).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_next_waits_and_other_addresses_are_not_affected() {
        let l = Limiters::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "192.0.2.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        for _ in 0..RATE_REGISTER.burst {
            assert!(l.address(Door::Register, a).is_ok());
        }
        let wait = l.address(Door::Register, a).err();
        assert!(wait.is_some_and(|w| retry_after_secs(w) >= 1), "{wait:?}");
        assert!(l.address(Door::Register, b).is_ok());
        assert!(l.address(Door::Link, a).is_ok(), "each door has its own buckets");
    }
}
