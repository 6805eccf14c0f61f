//! What one argon2id hash costs at the parameters entente uses (OWASP's minimum:
//! 19 MiB, t=2, p=1), alone, two at once, and with its memory given back after each hash
//! as the server does. Run with `cargo run --release --example hash_cost`, and for the
//! build for this machine's CPU (README, "Building for the server's CPU") with
//! `RUSTFLAGS="-C target-cpu=native" cargo run --release --example hash_cost
//! --target-dir target/cpu-native`; BENCHMARKS.md quotes both.
use std::time::Instant;

use argon2::{Algorithm, Argon2, Params, Version};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HASHES: u32 = 60;

fn per_hash_ms(give_back: bool) -> f64 {
    let params = Params::new(19_456, 2, 1, Some(32)).expect("valid parameters");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut out = [0u8; 32];
    let start = Instant::now();
    for _ in 0..HASHES {
        argon2.hash_password_into(b"correct horse battery", b"a sixteen b salt", &mut out).expect("hash");
        if give_back {
            // SAFETY: as in src/auth/password.rs: no pointer, callable from any thread.
            unsafe { libmimalloc_sys::mi_collect(true) }
        }
    }
    start.elapsed().as_secs_f64() * 1000.0 / f64::from(HASHES)
}

fn main() {
    per_hash_ms(false); // warm-up
    println!("one at a time, memory kept:       {:.1} ms per hash", per_hash_ms(false));
    println!("one at a time, memory given back: {:.1} ms per hash", per_hash_ms(true));
    let two: Vec<f64> = [0, 1]
        .map(|_| std::thread::spawn(|| per_hash_ms(true)))
        .into_iter()
        .map(|t| t.join().unwrap_or(f64::NAN))
        .collect();
    println!("two at once, memory given back:   {:.1} and {:.1} ms per hash", two[0], two[1]);
}
