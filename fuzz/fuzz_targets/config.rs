//! Fuzz target `config`: see `authgate::fuzzing::fuzz_config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authgate::fuzzing::fuzz_config(data));
