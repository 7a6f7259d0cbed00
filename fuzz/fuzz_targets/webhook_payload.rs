//! Any body a client can send: the parser returns a payload or an error, never panics,
//! and what it returns obeys the contract the receiver relies on.
#![no_main]

use alertmanager_webhook::{ParseError, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match parse(body) {
        Ok(payload) => {
            assert_eq!(payload.version, "4", "only version 4 is accepted");
            for alert in &payload.alerts {
                assert!(!alert.starts_at.is_empty(), "an accepted alert has its start time");
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
