//! Load generation (DESIGN 8): simulated MT5 terminals (120 by default, up to 10,000) sending
//! open-loop traffic over HTTP and RESP, HDR latency histograms measured from the intended send
//! time, and a final read-back proving that every acknowledged update is present.
//!
//! The simulator arrives with the loadgen issue, after the service exists. What is here now is
//! the open-loop schedule it will be built on, because it is the part that decides whether the
//! latency figures can be trusted.

use std::time::Duration;

/// Send times for one terminal at a fixed interval: due times are fixed in advance, so a slow
/// server delays sends but cannot stretch the schedule (no coordinated omission).
pub fn due_times(interval: Duration, count: usize, offset: Duration) -> Vec<Duration> {
    (0..count).map(|i| offset + interval * i as u32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_fixed_in_advance() {
        let due = due_times(Duration::from_secs(5), 3, Duration::from_millis(250));
        assert_eq!(
            due,
            vec![
                Duration::from_millis(250),
                Duration::from_millis(5250),
                Duration::from_millis(10250)
            ]
        );
    }
}
