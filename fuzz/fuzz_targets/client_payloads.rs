//! Every client payload's decoding and input checks (`realtime::events::decode_payload`) on
//! arbitrary bytes: the first byte picks the event, the rest is parsed as JSON the way
//! socketioxide hands it to a handler. Any outcome but a panic is fine; a refusal must be
//! `invalid`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use missive::realtime::events::{CLIENT_EVENTS, decode_payload};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(rest) else {
        return;
    };
    let events: Vec<&str> = CLIENT_EVENTS.iter().copied().chain(["register"]).collect();
    let event = events[pick as usize % events.len()];
    if let Err(e) = decode_payload(event, value) {
        assert_eq!(e.code(), "invalid", "{event}: {e:?}");
    }
});
