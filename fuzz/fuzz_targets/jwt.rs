//! Fuzz target `jwt`: see `authgate::fuzzing::fuzz_jwt`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate::fuzzing::fuzz_jwt(data));
