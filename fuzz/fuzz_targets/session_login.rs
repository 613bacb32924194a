//! Fuzzes the login session: `Session::feed` + `finish` over any bytes, with
//! arbitrary chunking and output budget, must not panic and must answer
//! exactly as feeding the same bytes whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockloop::protocol::Service;
use sockloop_fuzz::check_session;

fuzz_target!(|data: &[u8]| check_session(Service::Login, data));
