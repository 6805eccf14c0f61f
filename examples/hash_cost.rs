//! What one argon2id hash costs at the parameters entente uses (OWASP's minimum:
//! 19 MiB, t=2, p=1), one at a time and two at once, with the implementation the server
//! uses (`argon2-rust`, SIMD chosen at run time) beside RustCrypto's `argon2` (the one it
//! used before, AVX2 at most), interleaved so that the machine's drift hits both alike;
//! and argon2-rust again with its arena kept between hashes (its pooled `Hasher`), as each
//! of the server's hashing slots does. Run with `cargo run --release --example hash_cost`;
//! BENCHMARKS.md quotes it.
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HASHES: u32 = 40;
const PASSWORD: &[u8] = b"correct horse battery";
const SALT: &[u8] = b"a sixteen b salt";

fn ms_per_hash(mut hash: impl FnMut(&mut [u8; 32])) -> f64 {
    let mut out = [0u8; 32];
    let start = Instant::now();
    for _ in 0..HASHES {
        hash(&mut out);
    }
    start.elapsed().as_secs_f64() * 1000.0 / f64::from(HASHES)
}

fn ours() -> f64 {
    let argon2 = entente::auth::password::argon2id(19_456, 2, 1).expect("valid parameters");
    ms_per_hash(|out| argon2.hash_into(PASSWORD, SALT, out).expect("hash"))
}

fn ours_kept_arena() -> f64 {
    let mut hasher = entente::auth::password::argon2id(19_456, 2, 1).expect("valid parameters").hasher();
    hasher.hash_into(PASSWORD, SALT, &mut [0u8; 32]).expect("hash"); // maps the arena
    ms_per_hash(|out| hasher.hash_into(PASSWORD, SALT, out).expect("hash"))
}

fn rustcrypto() -> f64 {
    let params = argon2::Params::new(19_456, 2, 1, Some(32)).expect("valid parameters");
    let argon2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    ms_per_hash(|out| argon2.hash_password_into(PASSWORD, SALT, out).expect("hash"))
}

fn two_at_once(f: fn() -> f64) -> String {
    let times: Vec<f64> =
        [0, 1].map(|_| std::thread::spawn(f)).into_iter().map(|t| t.join().unwrap_or(f64::NAN)).collect();
    format!("{:.1} and {:.1}", times[0], times[1])
}

fn main() {
    println!("argon2-rust picked its {:?} code on this CPU", argon2_rust::detected_backend());
    ours(); // warm-up
    rustcrypto();
    for _ in 0..3 {
        println!(
            "one at a time: argon2-rust {:.1} ms per hash ({:.1} with its arena kept), RustCrypto argon2 {:.1} ms",
            ours(),
            ours_kept_arena(),
            rustcrypto()
        );
    }
    for _ in 0..2 {
        println!(
            "two at once:   argon2-rust {} ms per hash ({} with their arenas kept), RustCrypto argon2 {} ms",
            two_at_once(ours),
            two_at_once(ours_kept_arena),
            two_at_once(rustcrypto)
        );
    }
}
