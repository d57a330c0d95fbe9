//! Waiting before trying again after losing a race: doubling, capped, with a little randomness
//! so that racing writers do not retry in step.

use std::time::Duration;

/// The wait before try `attempt` (1 is the first retry): `base << attempt` (capped at 2^6)
/// plus up to 31 ms.
pub fn jittered(base_ms: u64, attempt: u32) -> Duration {
    let mut byte = [0u8; 1];
    let jitter = getrandom::fill(&mut byte).map_or(0, |()| u64::from(byte[0] % 32));
    Duration::from_millis((base_ms << attempt.min(6)) + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps() {
        let at = |attempt| jittered(10, attempt).as_millis();
        assert!((20..52).contains(&at(1)));
        assert!((640..672).contains(&at(6)));
        assert!((640..672).contains(&at(20)));
    }
}
