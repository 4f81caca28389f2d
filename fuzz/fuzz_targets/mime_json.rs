//! Server responses and message bytes into JSON: a FETCH response (BODYSTRUCTURE,
//! envelope header, flags, dates) and a raw message are turned into the API's JSON
//! without panicking, whatever the server or the sender put in them.
#![no_main]

use imap_gateway::imap::session::fetched_from_wire;
use imap_gateway::model::message::{
    decode_text_part, envelope_from_header, header_fields, Attachment, MessageSummary,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Before the first NUL: a FETCH response; after it: a raw message.
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (response, message) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    // libfuzzer-sys aborts from its panic hook, before `fetched_from_wire` can catch
    // imap-proto's own panics (a known dependency bug: `INTERNALDATE NIL`); silence
    // the hook for that call only. A panic in the gateway's code still aborts: the
    // harness checks for unwinding out of this closure.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let fetched = fetched_from_wire(response);
    std::panic::set_hook(hook);
    if let Some(fetched) = fetched {
        let summary = MessageSummary::from_fetch(&fetched, 1);
        serde_json::to_string(&summary).expect("summaries serialise");
        for part in fetched.parts.iter().flatten() {
            let attachment = Attachment::from_part(part, Some(message));
            serde_json::to_string(&attachment).expect("attachments serialise");
        }
    }
    let body_at = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |p| p + 4);
    let (header, body) = message.split_at(body_at);
    serde_json::to_string(&envelope_from_header(header)).expect("envelopes serialise");
    serde_json::to_string(&header_fields(header)).expect("headers serialise");
    for html in [false, true] {
        let _ = decode_text_part(header, body, html);
    }
});
