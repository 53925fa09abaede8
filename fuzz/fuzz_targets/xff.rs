//! Fuzz target `xff`: see `authgate::fuzzing::fuzz_xff`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate::fuzzing::fuzz_xff(data));
