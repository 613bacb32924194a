//! Fuzzes `sockloop::framing::next_line`: for any bytes and any `max_line`,
//! the answer is consistent with the documented format (no panic, no line
//! longer than the cap, `consumed` ends at the first `\n`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockloop_fuzz::check_next_line;

fuzz_target!(|data: &[u8]| check_next_line(data));
