//! Every client payload's decoding and input checks (`realtime::events::decode_payload`) on
//! arbitrary bytes: the first byte picks the event (an index into `CLIENT_EVENTS`, wrapping),
//! the rest is parsed as JSON the way socketioxide hands it to a handler. Any outcome but a
//! panic is fine; a refusal must be `invalid`. The seeds in `corpus/client_payloads` are named
//! after their event and start with its index.
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
    // Every entry of CLIENT_EVENTS, then "register" (the REST bodies' checks): a new event is
    // fuzzed as soon as it is listed there.
    let event = CLIENT_EVENTS
        .get(pick as usize % (CLIENT_EVENTS.len() + 1))
        .copied()
        .unwrap_or("register");
    if let Err(e) = decode_payload(event, value) {
        assert_eq!(e.code(), "invalid", "{event}: {e:?}");
    }
});
