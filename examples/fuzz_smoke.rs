//! A stable-toolchain stand-in for the cargo-fuzz run when nightly instrumentation cannot be
//! built: mutates the seeds in `fuzz/regressions/<target>/` at random (no coverage feedback)
//! and feeds them to the same harnesses (`authgate::fuzzing`). A panic aborts with the input.
//!
//! `cargo run --example fuzz_smoke -- [seconds per target, default 60] [target…]`

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

const DICT: &[&[u8]] = &[
    b"%2e",
    b"%2E",
    b"%2f",
    b"%5c",
    b"%25",
    b"%00",
    b"%3b",
    b";",
    b"/",
    b"//",
    b"..",
    b".",
    b"\\",
    b"%c0%ae",
    b"${",
    b"WEB-INF",
    b",",
    b" ",
    b"::",
    b"[",
    b"]",
    b"%",
    b"=",
    b"\n",
    b"\"",
    b"Bearer ",
    b"Basic ",
    b"gw_",
    b"eyJ",
    b"**",
    b"*",
    b"[server]",
    b"[[providers]]",
    b"0177",
    b"::ffff:",
];

fn mutate(rng: &mut rand::rngs::StdRng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    input.clear();
    input.extend_from_slice(&seeds[rng.gen_range(0..seeds.len())]);
    for _ in 0..rng.gen_range(1..8) {
        let at = if input.is_empty() {
            0
        } else {
            rng.gen_range(0..=input.len())
        };
        match rng.gen_range(0..6) {
            0 if !input.is_empty() => {
                let i = rng.gen_range(0..input.len());
                input[i] ^= 1 << rng.gen_range(0..8);
            }
            1 => {
                let d = DICT[rng.gen_range(0..DICT.len())];
                input.splice(at..at, d.iter().copied());
            }
            2 if !input.is_empty() => {
                input.truncate(at);
            }
            3 => input.insert(at, rng.gen()),
            4 => {
                let other = &seeds[rng.gen_range(0..seeds.len())];
                let from = rng.gen_range(0..=other.len());
                input.splice(at..at, other[from..].iter().copied());
            }
            _ if !input.is_empty() => {
                let i = rng.gen_range(0..input.len());
                input.remove(i);
            }
            _ => {}
        }
    }
    input.truncate(16 * 1024);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let only: Vec<String> = args.collect();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    for (name, harness) in authgate::fuzzing::TARGETS {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(root.join(name))
            .expect("regressions folder")
            .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
            .collect();
        seeds.push(Vec::new());
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed ^ name.len() as u64);
        let started = Instant::now();
        let mut runs = 0u64;
        let mut input = Vec::new();
        while started.elapsed() < Duration::from_secs(secs) {
            mutate(&mut rng, &seeds, &mut input);
            let copy = input.clone();
            if std::panic::catch_unwind(|| harness(&copy)).is_err() {
                let out = format!("fuzz-smoke-crash-{name}");
                std::fs::write(&out, &copy).expect("write crash input");
                eprintln!("{name}: PANIC on the input saved to {out}");
                std::process::exit(1);
            }
            runs += 1;
        }
        println!("{name}: {runs} inputs in {secs} s, no panic");
    }
}
