//! Any body a client can send: the parser returns a payload or an error, never panics,
//! and what it returns obeys the contract the receiver relies on.
#![no_main]

use alertmanager_webhook::{MAX_ALERTS, MAX_LABEL_VALUE, ParseError, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match parse(body) {
        Ok(payload) => {
            assert_eq!(payload.version, "4", "only version 4 is accepted");
            assert!(payload.alerts.len() <= MAX_ALERTS, "never more alerts than a receiver takes");
            for alert in &payload.alerts {
                assert!(!alert.starts_at.is_empty(), "an accepted alert has its start time");
                assert!(alert.labels.values().all(|v| v.len() <= MAX_LABEL_VALUE), "no label value beyond the limit");
            }
            // The same bytes parse to the same payload.
            assert_eq!(parse(body).as_ref(), Ok(&payload));
        }
        Err(error) => {
            // Every error becomes a 400 body that says what was wrong.
            let message = error.to_string();
            assert!(!message.is_empty());
            if let ParseError::Field { path, expected } = &error {
                assert!(!path.is_empty() && !expected.is_empty(), "{message}");
            }
        }
    }
});
